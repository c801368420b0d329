-- REFI-QDA fidelity (issue 14): what an import keeps so that `precode export --format qdpx` gives a
-- QDA team's project back as it came in: the GUIDs of sources, selections and codings, variables
-- with their types, cases with their own values and sources, and notes. Codes (with colour,
-- isCodable and description) and users are in refi_codes / refi_users (migration 0006).

-- Each imported text source and the transcript it was stored as (or matched to).
CREATE TABLE refi_sources (
    import_id TEXT NOT NULL REFERENCES refi_imports(id) ON DELETE CASCADE,
    guid TEXT NOT NULL,
    transcript_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (import_id, guid)
);
CREATE INDEX refi_sources_transcript ON refi_sources(transcript_id);

-- <Variable>s with their typeOfVariable (Text, Boolean, Integer, Float, Date, DateTime).
CREATE TABLE refi_variables (
    import_id TEXT NOT NULL REFERENCES refi_imports(id) ON DELETE CASCADE,
    guid TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL DEFAULT 'Text',
    description TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (import_id, guid)
);

-- Variable values as given, on the element that holds them (a source or a case).
CREATE TABLE refi_values (
    import_id TEXT NOT NULL REFERENCES refi_imports(id) ON DELETE CASCADE,
    owner_guid TEXT NOT NULL,
    variable_guid TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (import_id, owner_guid, variable_guid)
);

CREATE TABLE refi_cases (
    import_id TEXT NOT NULL REFERENCES refi_imports(id) ON DELETE CASCADE,
    guid TEXT NOT NULL,
    name TEXT,
    description TEXT NOT NULL DEFAULT '',
    source_guids TEXT NOT NULL DEFAULT '[]',   -- JSON list of the sources the case refers to
    PRIMARY KEY (import_id, guid)
);

-- The selection and coding each imported annotation came from.
CREATE TABLE refi_codings (
    import_id TEXT NOT NULL REFERENCES refi_imports(id) ON DELETE CASCADE,
    annotation_id TEXT NOT NULL,
    coding_guid TEXT NOT NULL,
    selection_guid TEXT NOT NULL,
    selection_name TEXT,
    user_guid TEXT,
    PRIMARY KEY (import_id, coding_guid)
);
CREATE INDEX refi_codings_annotation ON refi_codings(annotation_id);

-- <Note> elements, kept whole (as XML) and written back as they came.
CREATE TABLE refi_notes (
    import_id TEXT NOT NULL REFERENCES refi_imports(id) ON DELETE CASCADE,
    guid TEXT NOT NULL,
    xml TEXT NOT NULL,
    PRIMARY KEY (import_id, guid)
);
