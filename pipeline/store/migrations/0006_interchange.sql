-- REFI-QDA imports (.qdpx): what came in from which file, and how its users and codes were mapped.
-- The codings themselves are rows of `annotations` (one coder per REFI user); imported sources are
-- ordinary transcripts. Kept so an evaluation can say where its human codes came from, and so an
-- export can give codes back the colours the QDA team chose.
CREATE TABLE refi_imports (
    id TEXT PRIMARY KEY,
    file TEXT NOT NULL,           -- the .qdpx file name as given
    sha256 TEXT NOT NULL,         -- of the .qdpx file
    project_name TEXT,            -- <Project name>
    origin TEXT,                  -- <Project origin>, the software that wrote it
    codebook_id TEXT,             -- the --codebook codes were matched against, if any
    imported_at TEXT NOT NULL,
    report_json TEXT NOT NULL DEFAULT '{}'
);

-- One row per REFI user; `coder` is the name its codings carry in `annotations`.
CREATE TABLE refi_users (
    import_id TEXT NOT NULL REFERENCES refi_imports(id) ON DELETE CASCADE,
    guid TEXT NOT NULL,
    name TEXT,
    coder TEXT NOT NULL,
    PRIMARY KEY (import_id, guid)
);

-- The imported code tree: each REFI code, its place in the tree, and the precode id it maps to.
CREATE TABLE refi_codes (
    import_id TEXT NOT NULL REFERENCES refi_imports(id) ON DELETE CASCADE,
    guid TEXT NOT NULL,
    parent_guid TEXT,
    name TEXT NOT NULL,
    code_id TEXT NOT NULL,
    matched TEXT NOT NULL CHECK (matched IN ('precode-id', 'id', 'label', 'new')),
    is_codable INTEGER NOT NULL,
    color TEXT,
    description TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (import_id, guid)
);
CREATE INDEX refi_codes_code ON refi_codes(code_id);
