"""Keep what a .qdpx import read beyond codings, users and codes, so that an export can give it back.

The rows go to the tables of migration 0010 through `pipeline.store.refi`: each source's GUID and
the transcript it became, variables with their types, each source's and case's own values, cases
with their sources, the selection and coding GUIDs behind each imported annotation, and notes.
"""

from __future__ import annotations

import hashlib
import sqlite3

from pipeline.interchange.qdpx_read import RefiProject
from pipeline.store import refi as store


def annotation_id(transcript_id: str, coding_guid: str) -> str:
    """The id of the annotation an imported coding becomes (stable: importing again updates it)."""
    return hashlib.sha256(f"qdpx:{transcript_id}:{coding_guid}".encode()).hexdigest()[:16]


def store_details(conn: sqlite3.Connection, import_id: str, refi: RefiProject, transcripts: dict[str, str]) -> None:
    """`transcripts`: source guid → the transcript id it was stored as or matched to."""
    values = [(s.guid, var, value) for s in refi.sources for var, value in s.values.items()]
    values += [(c.guid, var, value) for c in refi.cases for var, value in c.values.items()]
    codings = [
        store.CodingRow(annotation_id(transcripts[s.guid], coding.guid), coding.guid, selection.guid, selection.name,
                        coding.user_guid)
        for s in refi.sources for selection in s.selections for coding in selection.codings
    ]
    store.record_details(
        conn, import_id,
        sources=[store.SourceRow(s.guid, transcripts[s.guid], s.name, s.description) for s in refi.sources],
        variables=[store.VariableRow(v.guid, v.name, v.type, v.description) for v in refi.variables],
        values=values,
        cases=[store.CaseRow(c.guid, c.name, c.description, tuple(c.source_guids)) for c in refi.cases],
        codings=codings, notes=refi.notes,
    )
