-- Review flags and saved places (issue 13's doubt): until now kept as JSON files beside precode.db
-- (review-flags.json, review-places.json), so they were missing from a backup of the database, not
-- written in step with the decisions, and two reviewers saving at once could overwrite each other's.
-- One row per flag and per place, so concurrent writers touch different rows.
--
-- No foreign keys to runs or suggestions: a flag imported from an old JSON file must not be dropped
-- because its run is not in this database (runs and suggestions are never deleted); the reads join
-- the suggestions, so such a flag is kept but not listed.

-- A reviewer's "come back to this" mark on a suggestion of a run, with a comment. Not a decision:
-- no export carries it. Removing a flag deletes its row.
CREATE TABLE review_flags (
    run_id TEXT NOT NULL,
    suggestion_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    comment TEXT NOT NULL,
    flagged_at TEXT NOT NULL,         -- UTC ISO-8601; the latest flagging or edit of the comment
    PRIMARY KEY (run_id, suggestion_id, reviewer)
);
CREATE INDEX review_flags_run ON review_flags(run_id, flagged_at);

-- Where a reviewer left a run: the page's URL fragment (filters, view, item), printed with the
-- next `precode review` URL.
CREATE TABLE review_places (
    run_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    place TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    PRIMARY KEY (run_id, reviewer)
);
