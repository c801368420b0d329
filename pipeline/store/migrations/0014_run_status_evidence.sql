-- Why a run ended incomplete ("2 segments failed: HTTP 500 …") or failed (the error that stopped it).
-- The 'incomplete' status needs no schema change: runs_immutable only guards completed and failed runs,
-- so a re-run of the same command can reopen an incomplete run and complete it.
ALTER TABLE runs ADD COLUMN status_reason TEXT;

-- Why an LLM quote whose words may be in the text is no evidence ('elided', 'too_short'; see
-- pipeline.grounding) and, for an elided quote, where each part was found in order ([[start, end], …]
-- as JSON, transcript offsets). The suggestion itself stays ungrounded, with no span.
ALTER TABLE llm_suggestions ADD COLUMN evidence_note TEXT;
ALTER TABLE llm_suggestions ADD COLUMN evidence_parts_json TEXT;
