-- Transcripts: one row per ingested version of a file. A changed file is a new row (new id,
-- version + 1); older versions stay with everything coded on them.
CREATE TABLE transcripts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    source_path TEXT NOT NULL,
    source_sha256 TEXT NOT NULL,
    format TEXT NOT NULL,
    encoding TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata_json TEXT NOT NULL DEFAULT '{}',
    warnings_json TEXT NOT NULL DEFAULT '[]',
    ingested_at TEXT NOT NULL,
    UNIQUE (name, version),
    UNIQUE (name, source_sha256)
);

CREATE TABLE turns (
    transcript_id TEXT NOT NULL REFERENCES transcripts(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    speaker TEXT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    timestamp TEXT,
    PRIMARY KEY (transcript_id, idx)
);

CREATE TABLE segments (
    id TEXT PRIMARY KEY,
    transcript_id TEXT NOT NULL REFERENCES transcripts(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    speaker TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('interviewer', 'participant')),
    text TEXT NOT NULL,
    context_start INTEGER,
    context_end INTEGER,
    UNIQUE (transcript_id, idx)
);
CREATE INDEX segments_transcript ON segments(transcript_id);

-- Codebook snapshots by content hash: a run always points at the exact codebook it used.
CREATE TABLE codebooks (
    hash TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    content_json TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    coder TEXT NOT NULL,
    model TEXT,
    params_json TEXT NOT NULL DEFAULT '{}',
    prompt_hash TEXT,
    codebook_hash TEXT NOT NULL REFERENCES codebooks(hash),
    level TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL,
    counts_json TEXT NOT NULL DEFAULT '{}'
);

-- A finished run is an immutable record.
CREATE TRIGGER runs_immutable BEFORE UPDATE ON runs
WHEN OLD.status IN ('completed', 'failed')
BEGIN
    SELECT RAISE(ABORT, 'runs are immutable once finished');
END;

CREATE TABLE suggestions (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    segment_id TEXT NOT NULL REFERENCES segments(id),
    transcript_id TEXT NOT NULL REFERENCES transcripts(id),
    code_id TEXT NOT NULL,
    quote TEXT NOT NULL,
    quote_start INTEGER,
    quote_end INTEGER,
    grounding TEXT NOT NULL CHECK (grounding IN ('exact', 'normalized', 'fuzzy', 'ungrounded')),
    score REAL NOT NULL,
    rationale TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (run_id, segment_id, code_id)
);
CREATE INDEX suggestions_run ON suggestions(run_id);
CREATE INDEX suggestions_segment ON suggestions(segment_id);
