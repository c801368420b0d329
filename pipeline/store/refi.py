"""What REFI-QDA imports keep for an export back (migration 0010): sources, variables, cases, codings, notes.

Writers take plain rows from `pipeline.interchange.qdpx_import`; readers give the export
(`pipeline.interchange.qdpx_write`) the latest imported state of each GUID: when a file is
imported twice, or a project is imported, exported and imported again, the newest row wins.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.store.annotations import Annotation


@dataclass(frozen=True)
class SourceRow:
    guid: str
    transcript_id: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class VariableRow:
    guid: str
    name: str
    type: str = "Text"
    description: str = ""


@dataclass(frozen=True)
class CaseRow:
    guid: str
    name: str | None
    description: str = ""
    source_guids: tuple[str, ...] = ()


@dataclass(frozen=True)
class CodingRow:
    annotation_id: str
    coding_guid: str
    selection_guid: str
    selection_name: str | None
    user_guid: str | None


@dataclass(frozen=True)
class CodeRow:
    guid: str
    parent_guid: str | None
    name: str
    code_id: str
    is_codable: bool
    color: str | None
    description: str


@dataclass(frozen=True)
class UserRow:
    guid: str
    name: str | None
    coder: str


@dataclass
class ImportedState:
    """Everything imported, latest import first per GUID, ready for an export."""

    users: list[UserRow] = field(default_factory=list)
    codes: list[CodeRow] = field(default_factory=list)
    sources: dict[str, SourceRow] = field(default_factory=dict)        # transcript id → its source
    variables: list[VariableRow] = field(default_factory=list)
    values: dict[str, dict[str, str]] = field(default_factory=dict)    # owner guid → variable guid → value
    cases: list[CaseRow] = field(default_factory=list)
    codings: dict[str, CodingRow] = field(default_factory=dict)        # annotation id → where it came from
    notes: list[str] = field(default_factory=list)                     # <Note> elements as XML


def record_details(conn: sqlite3.Connection, import_id: str, *, sources: Iterable[SourceRow],
                   variables: Iterable[VariableRow], values: Iterable[tuple[str, str, str]],
                   cases: Iterable[CaseRow], codings: Iterable[CodingRow], notes: Iterable[tuple[str, str]]) -> None:
    """Store what one import read beyond users and codes (which `record_refi_import` stores)."""
    conn.executemany("INSERT OR REPLACE INTO refi_sources (import_id, guid, transcript_id, name, description)"
                     " VALUES (?,?,?,?,?)",
                     [(import_id, s.guid, s.transcript_id, s.name, s.description) for s in sources])
    conn.executemany("INSERT OR REPLACE INTO refi_variables (import_id, guid, name, type, description) VALUES (?,?,?,?,?)",
                     [(import_id, v.guid, v.name, v.type, v.description) for v in variables])
    conn.executemany("INSERT OR REPLACE INTO refi_values (import_id, owner_guid, variable_guid, value) VALUES (?,?,?,?)",
                     [(import_id, owner, variable, value) for owner, variable, value in values])
    conn.executemany("INSERT OR REPLACE INTO refi_cases (import_id, guid, name, description, source_guids)"
                     " VALUES (?,?,?,?,?)",
                     [(import_id, c.guid, c.name, c.description, json.dumps(list(c.source_guids))) for c in cases])
    conn.executemany("INSERT OR REPLACE INTO refi_codings (import_id, annotation_id, coding_guid, selection_guid,"
                     " selection_name, user_guid) VALUES (?,?,?,?,?,?)",
                     [(import_id, c.annotation_id, c.coding_guid, c.selection_guid, c.selection_name, c.user_guid)
                      for c in codings])
    conn.executemany("INSERT OR REPLACE INTO refi_notes (import_id, guid, xml) VALUES (?,?,?)",
                     [(import_id, guid, xml) for guid, xml in notes])


_ORDER = " JOIN refi_imports i ON i.id = t.import_id ORDER BY i.imported_at, i.rowid"


def _latest(conn: sqlite3.Connection, table: str, columns: str) -> list[sqlite3.Row]:
    """Rows of a refi_* table in import order (oldest first), so a later row for the same key wins."""
    return list(conn.execute(f"SELECT {columns} FROM {table} t{_ORDER}"))


def imported_state(conn: sqlite3.Connection) -> ImportedState:
    state = ImportedState()
    users: dict[str, UserRow] = {}
    for row in _latest(conn, "refi_users", "t.guid, t.name, t.coder"):
        users[row["guid"]] = UserRow(row["guid"], row["name"], row["coder"])
    state.users = list(users.values())
    codes: dict[str, CodeRow] = {}
    for row in _latest(conn, "refi_codes", "t.guid, t.parent_guid, t.name, t.code_id, t.is_codable, t.color,"
                                           " t.description"):
        codes.pop(row["guid"], None)  # re-inserted: keeps the tree order of the newest import
        codes[row["guid"]] = CodeRow(row["guid"], row["parent_guid"], row["name"], row["code_id"],
                                     bool(row["is_codable"]), row["color"], row["description"])
    state.codes = list(codes.values())
    for row in _latest(conn, "refi_sources", "t.guid, t.transcript_id, t.name, t.description"):
        state.sources[row["transcript_id"]] = SourceRow(row["guid"], row["transcript_id"], row["name"],
                                                        row["description"])
    variables: dict[str, VariableRow] = {}
    for row in _latest(conn, "refi_variables", "t.guid, t.name, t.type, t.description"):
        variables[row["guid"]] = VariableRow(row["guid"], row["name"], row["type"], row["description"])
    state.variables = list(variables.values())
    for row in _latest(conn, "refi_values", "t.import_id, t.owner_guid, t.variable_guid, t.value"):
        state.values.setdefault(row["owner_guid"], {})[row["variable_guid"]] = row["value"]
    cases: dict[str, CaseRow] = {}
    for row in _latest(conn, "refi_cases", "t.guid, t.name, t.description, t.source_guids"):
        cases[row["guid"]] = CaseRow(row["guid"], row["name"], row["description"],
                                     tuple(json.loads(row["source_guids"])))
    state.cases = list(cases.values())
    for row in _latest(conn, "refi_codings", "t.annotation_id, t.coding_guid, t.selection_guid, t.selection_name,"
                                             " t.user_guid"):
        state.codings[row["annotation_id"]] = CodingRow(row["annotation_id"], row["coding_guid"],
                                                        row["selection_guid"], row["selection_name"], row["user_guid"])
    notes: dict[str, str] = {}
    for row in _latest(conn, "refi_notes", "t.guid, t.xml"):
        notes[row["guid"]] = row["xml"]
    state.notes = list(notes.values())
    return state


def all_annotations(conn: sqlite3.Connection) -> list[Annotation]:
    """Every human coding in the project (imported from QDA software or a table), in a stable order."""
    rows = conn.execute('SELECT id, coder, source, transcript_id, start, "end", code_id, code_label, note, created_at'
                        ' FROM annotations ORDER BY transcript_id, start, "end", code_id, id')
    return [Annotation(r["id"], r["coder"], r["source"], r["transcript_id"], r["start"], r["end"], r["code_id"],
                       r["code_label"], r["note"], datetime.fromisoformat(r["created_at"])) for r in rows]
