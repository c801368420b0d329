-- Why a run ended incomplete ("2 segments failed: HTTP 500 …") or failed (the error that stopped it).
-- The 'incomplete' status needs no schema change: runs_immutable only guards completed and failed runs,
-- so a re-run of the same command can reopen an incomplete run and complete it.
ALTER TABLE runs ADD COLUMN status_reason TEXT;
