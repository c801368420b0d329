-- Review learns (precode review --learn): codes the learned model proposed while a run was being
-- reviewed, on segments (or for codes) the run's coder had not suggested. Each proposal is stored
-- as a suggestion of the run under review, so it is reviewed, decided and exported like any other;
-- this table keeps its provenance: which model proposed it, trained on how much, for whom, when.
CREATE TABLE learned_proposals (
    suggestion_id TEXT PRIMARY KEY REFERENCES suggestions(id) ON DELETE CASCADE,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    reviewer TEXT NOT NULL,           -- whose review session retrained the model
    model TEXT NOT NULL,              -- e.g. 'learned: logistic regression on all-MiniLM-L6-v2 vectors'
    training_segments INTEGER NOT NULL,
    training_units INTEGER NOT NULL,
    probability REAL NOT NULL,        -- the calibrated probability of the code when it was proposed
    params_json TEXT NOT NULL,        -- learning options and example counts (annotations, decisions)
    created_at TEXT NOT NULL
);
CREATE INDEX learned_proposals_run ON learned_proposals(run_id);
