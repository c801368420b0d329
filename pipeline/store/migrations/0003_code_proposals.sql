-- New-code proposals (abductive coding): a coder may propose a code the codebook lacks.
-- Kept apart from codebook codes; a reviewer adopts (into a new codebook version) or dismisses.
CREATE TABLE code_proposals (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    segment_id TEXT NOT NULL REFERENCES segments(id),
    transcript_id TEXT NOT NULL REFERENCES transcripts(id),
    label TEXT NOT NULL,
    definition TEXT NOT NULL,
    parent_code_id TEXT,     -- where the coder would put it in the tree, if it said
    quote TEXT NOT NULL,
    quote_start INTEGER,
    quote_end INTEGER,
    grounding TEXT NOT NULL CHECK (grounding IN ('exact', 'normalized', 'fuzzy', 'ungrounded')),
    rationale TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX code_proposals_run ON code_proposals(run_id);

-- What a reviewer did with a proposal (append-only like decisions).
CREATE TABLE proposal_decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    proposal_id TEXT NOT NULL REFERENCES code_proposals(id),
    reviewer TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('adopt', 'dismiss')),
    new_code_id TEXT,             -- adopt: the id given to the new code
    codebook_hash TEXT,           -- adopt: the new codebook version it went into
    note TEXT,
    at TEXT NOT NULL
);

CREATE TRIGGER proposal_decisions_no_update BEFORE UPDATE ON proposal_decisions
BEGIN
    SELECT RAISE(ABORT, 'proposal decisions are append-only');
END;
