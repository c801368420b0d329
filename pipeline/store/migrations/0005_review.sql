-- Review state: derived tables kept in step with the append-only `decisions` table by triggers,
-- so the review queue can filter 50,000 suggestions by status without replaying every decision.
-- They hold nothing that is not in `decisions` (and `suggestions`); pipeline.decisions.
-- current_decisions() remains the reference and the tests check that both agree.

-- An undo withdraws the reviewer's latest standing decision on the suggestion: which one it was.
CREATE TABLE decision_withdrawals (
    decision_id INTEGER PRIMARY KEY REFERENCES decisions(id),
    undo_id INTEGER NOT NULL UNIQUE REFERENCES decisions(id)
);

-- Each reviewer's latest standing decision per suggestion (= current_decisions(reviewer=...)).
-- outcome: 'accepted' (accept, or edit keeping the code), 'changed' (edit to another code),
-- 'rejected'.
CREATE TABLE review_state (
    reviewer TEXT NOT NULL,
    suggestion_id TEXT NOT NULL REFERENCES suggestions(id),
    decision_id INTEGER NOT NULL REFERENCES decisions(id),
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'changed', 'rejected')),
    PRIMARY KEY (reviewer, suggestion_id)
) WITHOUT ROWID;
CREATE INDEX review_state_suggestion ON review_state(suggestion_id, decision_id);
CREATE INDEX review_state_decision ON review_state(reviewer, decision_id);

-- The latest standing decision of any reviewer per suggestion (= current_decisions()).
CREATE TABLE review_current (
    suggestion_id TEXT PRIMARY KEY REFERENCES suggestions(id),
    decision_id INTEGER NOT NULL REFERENCES decisions(id),
    reviewer TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'changed', 'rejected'))
) WITHOUT ROWID;

-- The review queue's order, per run: position in the transcripts (name, version, segment, quote
-- start, code) and rank by uncertainty (lowest score first). Built by pipeline.review.queue from
-- the run's suggestions (a finished run never changes) and rebuilt when their number changes.
-- Clustered by (run, position): a review session loads a run's queue with one range read.
CREATE TABLE review_queue (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    suggestion_id TEXT NOT NULL UNIQUE REFERENCES suggestions(id) ON DELETE CASCADE,
    uncertainty_rank INTEGER NOT NULL,
    transcript_id TEXT NOT NULL,
    code_id TEXT NOT NULL,
    score REAL NOT NULL,
    grounding TEXT NOT NULL,
    PRIMARY KEY (run_id, position)
) WITHOUT ROWID;

-- Codebook versions written by adopting new-code proposals: each names the version it extends, so
-- the next adoption builds on the newest version descended from a run's codebook.
CREATE TABLE codebook_lineage (
    hash TEXT PRIMARY KEY REFERENCES codebooks(hash),
    parent_hash TEXT NOT NULL REFERENCES codebooks(hash),
    proposal_id TEXT NOT NULL REFERENCES code_proposals(id),
    path TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX codebook_lineage_parent ON codebook_lineage(parent_hash);
CREATE INDEX proposal_decisions_proposal ON proposal_decisions(proposal_id, id);

-- Manual runs (codes a reviewer added) are found by coder, reviewer and codebook.
CREATE INDEX runs_coder_model ON runs(coder, model, codebook_hash);

-- How a (non-undo) decision counts for the suggested code: 'accepted' (accept, or edit keeping the
-- code), 'changed' (edit to another code: a rejection of the suggested one), or 'rejected'.
CREATE VIEW decision_outcomes AS
SELECT d.id, d.suggestion_id, d.reviewer,
       CASE WHEN d.action = 'reject' THEN 'rejected'
            WHEN d.action = 'edit' AND d.code_id IS NOT NULL AND d.code_id <> s.code_id THEN 'changed'
            ELSE 'accepted' END AS outcome
FROM decisions d JOIN suggestions s ON s.id = d.suggestion_id
WHERE d.action <> 'undo';

-- Bring decisions recorded before this migration into the derived tables. Undos are replayed per
-- (suggestion, reviewer) in id order with the stack of standing decisions kept as a string of
-- fixed-width ids, so a pop is a substring.
INSERT INTO decision_withdrawals (decision_id, undo_id)
WITH RECURSIVE seq AS (
    SELECT id, suggestion_id, reviewer, action,
           ROW_NUMBER() OVER (PARTITION BY suggestion_id, reviewer ORDER BY id) AS n
    FROM decisions
),
walk (suggestion_id, reviewer, n, stack, popped, undo_id) AS (
    SELECT DISTINCT suggestion_id, reviewer, 0, '', NULL, NULL FROM seq
    UNION ALL
    SELECT w.suggestion_id, w.reviewer, s.n,
           CASE WHEN s.action <> 'undo' THEN w.stack || printf('%015d', s.id)
                ELSE substr(w.stack, 1, max(length(w.stack) - 15, 0)) END,
           CASE WHEN s.action = 'undo' AND length(w.stack) > 0 THEN CAST(substr(w.stack, -15) AS INTEGER) END,
           s.id
    FROM walk w JOIN seq s ON s.suggestion_id = w.suggestion_id AND s.reviewer = w.reviewer AND s.n = w.n + 1
)
SELECT popped, undo_id FROM walk WHERE popped IS NOT NULL;

INSERT INTO review_state (reviewer, suggestion_id, decision_id, outcome)
SELECT o.reviewer, o.suggestion_id, o.id, o.outcome FROM decision_outcomes o
WHERE o.id = (
    SELECT MAX(x.id) FROM decision_outcomes x
    WHERE x.suggestion_id = o.suggestion_id AND x.reviewer = o.reviewer
      AND NOT EXISTS (SELECT 1 FROM decision_withdrawals w WHERE w.decision_id = x.id)
);

INSERT INTO review_current (suggestion_id, decision_id, reviewer, outcome)
SELECT r.suggestion_id, r.decision_id, r.reviewer, r.outcome FROM review_state r
WHERE r.decision_id = (SELECT MAX(x.decision_id) FROM review_state x WHERE x.suggestion_id = r.suggestion_id);

-- From now on every decision keeps the derived tables current, whoever records it.
-- (DELETE + INSERT rather than INSERT OR REPLACE: an outer INSERT OR IGNORE would turn the
-- REPLACE into IGNORE inside the trigger.)
CREATE TRIGGER review_state_on_decision AFTER INSERT ON decisions
WHEN NEW.action <> 'undo'
BEGIN
    DELETE FROM review_state WHERE reviewer = NEW.reviewer AND suggestion_id = NEW.suggestion_id;
    INSERT INTO review_state (reviewer, suggestion_id, decision_id, outcome)
    SELECT reviewer, suggestion_id, id, outcome FROM decision_outcomes WHERE id = NEW.id;
    DELETE FROM review_current WHERE suggestion_id = NEW.suggestion_id;
    INSERT INTO review_current (suggestion_id, decision_id, reviewer, outcome)
    SELECT suggestion_id, decision_id, reviewer, outcome FROM review_state
    WHERE reviewer = NEW.reviewer AND suggestion_id = NEW.suggestion_id;
END;

CREATE TRIGGER review_state_on_undo AFTER INSERT ON decisions
WHEN NEW.action = 'undo'
BEGIN
    INSERT INTO decision_withdrawals (decision_id, undo_id)
    SELECT decision_id, NEW.id FROM review_state WHERE reviewer = NEW.reviewer AND suggestion_id = NEW.suggestion_id;
    DELETE FROM review_state WHERE reviewer = NEW.reviewer AND suggestion_id = NEW.suggestion_id;
    INSERT INTO review_state (reviewer, suggestion_id, decision_id, outcome)
    SELECT o.reviewer, o.suggestion_id, o.id, o.outcome FROM decision_outcomes o
    WHERE o.suggestion_id = NEW.suggestion_id AND o.reviewer = NEW.reviewer
      AND NOT EXISTS (SELECT 1 FROM decision_withdrawals w WHERE w.decision_id = o.id)
    ORDER BY o.id DESC LIMIT 1;
    DELETE FROM review_current WHERE suggestion_id = NEW.suggestion_id;
    INSERT INTO review_current (suggestion_id, decision_id, reviewer, outcome)
    SELECT suggestion_id, decision_id, reviewer, outcome FROM review_state
    WHERE suggestion_id = NEW.suggestion_id ORDER BY decision_id DESC LIMIT 1;
END;
