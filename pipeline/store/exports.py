"""Rows for the suggestions export, read from the project database a chunk at a time.

`suggestion_export_rows` joins each stored suggestion of a run with its segment and transcript in
one query and yields plain dicts with named columns, in the order the export has always written
(transcript id, quote start, code id). SQLite's cursor steps through the result, so the caller
holds one chunk (`chunk` rows) at a time however large the run is: the transcript text is never
selected, only its metadata (parsed once per transcript version, a small dict kept per id).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from pipeline.models import Grounding, Suggestion, TranscriptMetadata
from pipeline.store.llm import evidence_notes
from pipeline.store.runs import suggestion_from_row

CHUNK = 900  # below SQLite's smallest host-parameter limit (the evidence look-up takes one chunk of ids)

_SQL = (
    "SELECT s.id AS suggestion_id, s.code_id, s.quote, s.quote_start, s.quote_end, s.grounding, s.score,"
    " s.rationale, s.transcript_id, t.name AS transcript, t.version AS transcript_version, t.metadata_json,"
    " g.id AS segment_id, g.start AS segment_start, g.\"end\" AS segment_end, g.speaker"
    " FROM suggestions s JOIN segments g ON g.id = s.segment_id JOIN transcripts t ON t.id = s.transcript_id"
    " WHERE s.run_id = ?"
)


def suggestion_export_rows(conn: sqlite3.Connection, run_id: str, groundings: Iterable[Grounding] | None = None,
                           chunk: int = CHUNK) -> Iterator[dict[str, Any]]:
    """A run's suggestions with their segment and transcript, one dict per suggestion, streamed.

    Keys: suggestion_id, code_id, quote, quote_start, quote_end, grounding, score, rationale,
    transcript_id, transcript, transcript_version, metadata (TranscriptMetadata), segment_id,
    segment_start, segment_end, speaker, evidence (why the quote is no evidence, or "").
    """
    sql, params = _SQL, [run_id]
    if groundings is not None:
        values = [g.value for g in groundings]
        sql += f" AND s.grounding IN ({','.join('?' * len(values))})"
        params.extend(values)
    sql += " ORDER BY s.transcript_id, s.quote_start, s.code_id"
    metadata: dict[str, TranscriptMetadata] = {}
    cursor = conn.execute(sql, params)
    try:
        while rows := cursor.fetchmany(chunk):
            notes = evidence_notes(conn, (r["suggestion_id"] for r in rows))
            for r in rows:
                tid = r["transcript_id"]
                if tid not in metadata:
                    metadata[tid] = TranscriptMetadata.model_validate_json(r["metadata_json"])
                row = {k: r[k] for k in r.keys() if k != "metadata_json"}
                row["metadata"] = metadata[tid]
                row["evidence"] = notes.get(r["suggestion_id"], "")
                yield row
    finally:
        cursor.close()


def transcript_names(conn: sqlite3.Connection, transcript_ids: Iterable[str]) -> dict[str, str]:
    """transcript id -> its name, without reading its text."""
    ids = sorted(set(transcript_ids))
    found: dict[str, str] = {}
    for i in range(0, len(ids), CHUNK):
        part = ids[i:i + CHUNK]
        for r in conn.execute(f"SELECT id, name FROM transcripts WHERE id IN ({','.join('?' * len(part))})", part):
            found[r["id"]] = r["name"]
    return found


def run_suggestions_of(conn: sqlite3.Connection, run_id: str, transcript_ids: Iterable[str]) -> list[Suggestion]:
    """A run's suggestions on these transcript versions only (one transcript's worth at a time for an export)."""
    ids = sorted(set(transcript_ids))
    found: list[Suggestion] = []
    for i in range(0, len(ids), CHUNK):
        part = ids[i:i + CHUNK]
        found += [suggestion_from_row(r) for r in conn.execute(
            f"SELECT * FROM suggestions WHERE run_id = ? AND transcript_id IN ({','.join('?' * len(part))})"
            " ORDER BY transcript_id, quote_start, code_id", [run_id, *part])]
    return found
