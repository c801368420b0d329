"""Codings by people (`annotations`) and the record of the REFI-QDA imports they came from."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pipeline.models import utcnow


@dataclass(frozen=True)
class Annotation:
    id: str
    coder: str
    source: str
    transcript_id: str
    start: int
    end: int
    code_id: str
    code_label: str | None
    note: str | None
    created_at: datetime


@dataclass(frozen=True)
class RefiImport:
    id: str
    file: str
    sha256: str
    project_name: str | None
    origin: str | None
    codebook_id: str | None
    report_json: str


@dataclass(frozen=True)
class RefiUser:
    guid: str
    name: str | None
    coder: str


@dataclass(frozen=True)
class RefiCode:
    guid: str
    parent_guid: str | None
    name: str
    code_id: str
    matched: str
    is_codable: bool
    color: str | None
    description: str


@dataclass(frozen=True)
class TranscriptMatch:
    id: str
    name: str


def annotation_exists(conn: sqlite3.Connection, annotation_id: str) -> bool:
    return conn.execute("SELECT 1 FROM annotations WHERE id = ?", (annotation_id,)).fetchone() is not None


def upsert_annotation(conn: sqlite3.Connection, a: Annotation) -> None:
    """Insert an annotation, or update the one with its id (keeping its transcript and creation time)."""
    conn.execute(
        'INSERT INTO annotations (id, coder, source, transcript_id, start, "end", code_id, code_label, note,'
        " created_at) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET coder = excluded.coder,"
        ' source = excluded.source, start = excluded.start, "end" = excluded."end",'
        " code_id = excluded.code_id, code_label = excluded.code_label, note = excluded.note",
        (a.id, a.coder, a.source, a.transcript_id, a.start, a.end, a.code_id, a.code_label, a.note,
         a.created_at.isoformat()),
    )


def transcript_with_text(conn: sqlite3.Connection, text: str, prefer_name: str) -> TranscriptMatch | None:
    """A stored transcript version with exactly this text: one named `prefer_name` first, then the newest."""
    row = conn.execute(
        "SELECT id, name FROM transcripts WHERE text = ? ORDER BY (name = ?) DESC, version DESC LIMIT 1",
        (text, prefer_name),
    ).fetchone()
    return TranscriptMatch(id=row["id"], name=row["name"]) if row else None


def record_refi_import(conn: sqlite3.Connection, record: RefiImport, users: Iterable[RefiUser],
                       codes: Iterable[RefiCode]) -> None:
    conn.execute(
        "INSERT INTO refi_imports (id, file, sha256, project_name, origin, codebook_id, imported_at, report_json)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (record.id, record.file, record.sha256, record.project_name, record.origin, record.codebook_id,
         utcnow().isoformat(), record.report_json),
    )
    conn.executemany("INSERT INTO refi_users (import_id, guid, name, coder) VALUES (?,?,?,?)",
                     [(record.id, u.guid, u.name, u.coder) for u in users])
    conn.executemany(
        "INSERT INTO refi_codes (import_id, guid, parent_guid, name, code_id, matched, is_codable, color, description)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        [(record.id, c.guid, c.parent_guid, c.name, c.code_id, c.matched, int(c.is_codable), c.color, c.description)
         for c in codes],
    )


def imported_colors(conn: sqlite3.Connection) -> dict[str, str]:
    """code id → the colour a QDA team gave it in the latest import that matched it to a precode code."""
    rows = conn.execute(
        "SELECT c.code_id, c.color FROM refi_codes c JOIN refi_imports i ON i.id = c.import_id"
        " WHERE c.color IS NOT NULL AND c.matched != 'new' ORDER BY i.imported_at, i.rowid"
    )
    return {str(row["code_id"]): str(row["color"]) for row in rows}


def annotation_coders(conn: sqlite3.Connection) -> list[str]:
    """Every coder with annotations in the project, by name."""
    return [r[0] for r in conn.execute("SELECT DISTINCT coder FROM annotations ORDER BY coder")]


def annotations_of(conn: sqlite3.Connection, coders: Iterable[str], source: str | None = None) -> list[Annotation]:
    """The annotations of these coders (of one origin, e.g. 'qdpx:study.qdpx', if `source` is given)."""
    wanted = list(coders)
    sql = f"SELECT * FROM annotations WHERE coder IN ({','.join('?' * len(wanted))})"
    params = list(wanted)
    if source is not None:
        sql += " AND source = ?"
        params.append(source)
    return [Annotation(id=r["id"], coder=r["coder"], source=r["source"], transcript_id=r["transcript_id"],
                       start=r["start"], end=r["end"], code_id=r["code_id"], code_label=r["code_label"], note=r["note"],
                       created_at=datetime.fromisoformat(r["created_at"]))
            for r in conn.execute(sql + " ORDER BY coder, transcript_id, start", params)]
