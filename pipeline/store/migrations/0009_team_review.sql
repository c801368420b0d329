-- Team review. A reviewer claims a transcript of a run so that no one else decides its suggestions
-- while they work through it (released when done). Not append-only: a claim is a lock, not a record
-- of what was decided; the decisions themselves stay in `decisions`.
CREATE TABLE review_claims (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    transcript_id TEXT NOT NULL REFERENCES transcripts(id),
    reviewer TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    PRIMARY KEY (run_id, transcript_id)
);
CREATE INDEX review_claims_reviewer ON review_claims(reviewer);

-- Adjudication: where two reviewers' standing decisions on a suggestion disagree, a third reviewer
-- decides. The adjudicator's decision is an ordinary row of `decisions` (so it is the latest and
-- the exports take it); this records that it settles the two named reviewers' decisions.
CREATE TABLE adjudications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    suggestion_id TEXT NOT NULL REFERENCES suggestions(id),
    adjudicator TEXT NOT NULL,
    decision_id INTEGER NOT NULL REFERENCES decisions(id),
    first_reviewer TEXT NOT NULL,
    first_decision_id INTEGER NOT NULL REFERENCES decisions(id),
    second_reviewer TEXT NOT NULL,
    second_decision_id INTEGER NOT NULL REFERENCES decisions(id),
    at TEXT NOT NULL
);
CREATE INDEX adjudications_suggestion ON adjudications(suggestion_id, id);

CREATE TRIGGER adjudications_no_update BEFORE UPDATE ON adjudications
BEGIN
    SELECT RAISE(ABORT, 'adjudications are append-only');
END;
