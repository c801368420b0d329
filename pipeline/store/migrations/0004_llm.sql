-- Per-segment progress of a resumable run (the LLM coder): a run is completed only when every
-- segment is 'done'; 'failed' segments (a request that failed after its retries) are retried by
-- re-running the same command, which finds the unfinished run through run_resume.
CREATE TABLE run_segments (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    segment_id TEXT NOT NULL REFERENCES segments(id),
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (run_id, segment_id)
);

-- What makes a re-run "the same command" (coder, model, parameters, prompt hash, codebook hash,
-- level, segment selection), and which process is working on the run now.
CREATE TABLE run_resume (
    run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    resume_key TEXT NOT NULL,
    pid INTEGER,
    pid_started REAL
);
CREATE INDEX run_resume_key ON run_resume(resume_key);

-- LLM responses keyed by (model, parameters, prompt hash, codebook hash, rendered messages, which
-- hold the segment texts). Only answers that passed validation are cached. No API key is stored.
CREATE TABLE llm_cache (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    content TEXT NOT NULL,
    finish_reason TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

-- One row per request of a run: a model call ('ok' or 'failed', with its usage and cost at the
-- prices of the time) or an answer served from the cache ('cache_hit', no usage).
CREATE TABLE llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    cache_key TEXT NOT NULL,
    segment_ids_json TEXT NOT NULL,
    sample INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'failed', 'cache_hit')),
    http_attempts INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    reasks INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL,
    seconds REAL,             -- from sending to the final answer, backoff included
    waited_seconds REAL NOT NULL DEFAULT 0,  -- of which backoff before retries (Retry-After or jitter)
    error TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX llm_calls_run ON llm_calls(run_id);

-- Model output that was rejected rather than stored as a suggestion (never dropped silently).
CREATE TABLE llm_rejections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    segment_id TEXT NOT NULL REFERENCES segments(id),
    sample INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL CHECK (kind IN ('unknown_code', 'duplicate_code', 'wrong_segment',
                                       'unrequested_proposal', 'proposal_existing_code')),
    code_id TEXT,
    quote TEXT,
    detail TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX llm_rejections_run ON llm_rejections(run_id);

-- Provenance of each LLM suggestion: prompt version and hash, the request it came from, the
-- quote as the model wrote it (pseudonyms restored), the grounding score and the votes.
CREATE TABLE llm_suggestions (
    suggestion_id TEXT PRIMARY KEY REFERENCES suggestions(id) ON DELETE CASCADE,
    prompt_version TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,
    cache_key TEXT NOT NULL,
    model_quote TEXT NOT NULL,
    match_score REAL NOT NULL,
    model_confidence REAL,
    votes INTEGER NOT NULL DEFAULT 1,
    samples INTEGER NOT NULL DEFAULT 1
);

-- Self-consistency: every sample's checked answer for a segment (--samples N > 1).
CREATE TABLE llm_samples (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    segment_id TEXT NOT NULL REFERENCES segments(id),
    sample INTEGER NOT NULL,
    answer_json TEXT NOT NULL,
    PRIMARY KEY (run_id, segment_id, sample)
);
