-- What a run set out to code, recorded when it starts: the transcript versions and segments in
-- its selection and the codebook version and level. Evaluation reads a run's coverage from here;
-- runs from before this migration have no row (their coverage is reconstructed, see eval/sources.py).
CREATE TABLE run_scope (
    run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    transcript_ids_json TEXT NOT NULL,   -- sorted ids of the transcript versions selected
    segment_count INTEGER NOT NULL,
    segments_sha256 TEXT NOT NULL,       -- of the sorted segment ids, one per line
    codebook_hash TEXT NOT NULL,
    codebook_version TEXT NOT NULL,
    level TEXT NOT NULL
);

-- The project's identity: vector collections are named '<project id>__<kind>__<embedder>' so that
-- two projects sharing one Chroma server never see each other's vectors.
CREATE TABLE project_info (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO project_info (key, value) VALUES ('project_id', 'p' || lower(hex(randomblob(8))));
