-- Speaker roles per transcript version: who interviews and who is interviewed, where that came from
-- (a configured label or name, inference from the turns, the first speaker, or the user) and the
-- evidence. Segments' roles derive from these rows; `precode speakers set` changes them.
CREATE TABLE speakers (
    transcript_id TEXT NOT NULL REFERENCES transcripts(id) ON DELETE CASCADE,
    speaker TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('interviewer', 'participant')),
    source TEXT NOT NULL,
    evidence TEXT NOT NULL DEFAULT '',
    turns INTEGER NOT NULL DEFAULT 0,
    questions INTEGER NOT NULL DEFAULT 0,
    words INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (transcript_id, speaker)
);

-- Projects created before roles were recorded: each speaker's role as its segments have it.
INSERT INTO speakers (transcript_id, speaker, role, source, evidence, updated_at)
SELECT transcript_id, speaker, MIN(role), 'stored', 'as the segments were stored', datetime('now')
FROM segments GROUP BY transcript_id, speaker;

-- A run is stale for a transcript whose segments (roles, context) changed after it coded them.
CREATE TABLE stale_runs (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    transcript_id TEXT NOT NULL REFERENCES transcripts(id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    marked_at TEXT NOT NULL,
    PRIMARY KEY (run_id, transcript_id)
);
