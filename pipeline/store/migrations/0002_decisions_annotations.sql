-- Review decisions: append-only. The current state of a suggestion is its latest decision
-- (per reviewer); an 'undo' decision withdraws that reviewer's previous one.
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    suggestion_id TEXT NOT NULL REFERENCES suggestions(id),
    reviewer TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('accept', 'reject', 'edit', 'undo')),
    code_id TEXT,            -- edit: the corrected code
    quote_start INTEGER,     -- edit: the corrected quote span (transcript offsets)
    quote_end INTEGER,
    reason TEXT,             -- reject: a reason from the short list
    note TEXT,               -- free text
    at TEXT NOT NULL
);
CREATE INDEX decisions_suggestion ON decisions(suggestion_id, id);
CREATE INDEX decisions_reviewer ON decisions(reviewer, id);

CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
BEGIN
    SELECT RAISE(ABORT, 'decisions are append-only');
END;

CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
BEGIN
    SELECT RAISE(ABORT, 'decisions are append-only');
END;

-- Codings by people (or imported from QDA software / gold files), span-level on a transcript.
-- One `coder` name per person (a REFI-QDA user, a gold-file coder column, a reviewer).
CREATE TABLE annotations (
    id TEXT PRIMARY KEY,
    coder TEXT NOT NULL,
    source TEXT NOT NULL,    -- where it came from, e.g. 'qdpx:study.qdpx', 'csv:gold.csv'
    transcript_id TEXT NOT NULL REFERENCES transcripts(id),
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    code_id TEXT NOT NULL,
    code_label TEXT,
    note TEXT,
    created_at TEXT NOT NULL,
    CHECK (0 <= start AND start <= "end")
);
CREATE INDEX annotations_transcript ON annotations(transcript_id);
CREATE INDEX annotations_coder ON annotations(coder);
