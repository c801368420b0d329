-- Issue 11: what an LLM endpoint refused during a run and how the run's requests were changed
-- (e.g. `seed` no longer sent after a 422 extra_forbidden), and the hidden reasoning tokens of
-- reasoning models (part of completion_tokens, which they are billed as).
CREATE TABLE llm_adaptations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    parameter TEXT NOT NULL,
    change TEXT NOT NULL,
    reason TEXT NOT NULL,   -- the server's own message
    created_at TEXT NOT NULL
);
CREATE INDEX llm_adaptations_run ON llm_adaptations(run_id);

ALTER TABLE llm_calls ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
