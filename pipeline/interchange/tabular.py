"""Export as CSV or JSONL: a run's suggestions (one row each, with evidence and provenance), or its
accepted codings (the XLSX export's rows, `codings.coding_rows`, for spreadsheet users)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.errors import PrecodeError
from pipeline.interchange.atomic import atomic_output
from pipeline.interchange.codings import CODING_COLUMNS, coding_rows, select_codings
from pipeline.models import Grounding
from pipeline.project import Project
from pipeline.store.llm import evidence_notes

EXPORT_COLUMNS = [
    "transcript", "transcript_version", "participant", "group", "site", "segment_id", "segment_start",
    "segment_end", "speaker", "code_id", "code_label", "code_path", "quote", "quote_start", "quote_end",
    "grounding", "evidence", "score", "rationale", "coder", "model", "run_id",
]
FORMATS = ("csv", "jsonl")


def export_rows(project: Project, run_id: str | None = None, include_ungrounded: bool = False) -> Iterator[dict[str, Any]]:
    """Rows for a run (default: the latest completed run). Ungrounded quotes are left out by default."""
    db = project.db
    run = db.run(run_id)
    codebook = db.codebook(run.codebook_hash)
    groundings = None if include_ungrounded else [g for g in Grounding if g is not Grounding.ungrounded]
    suggestions = db.suggestions(run.id, groundings)
    transcripts = {t.id: t for t in (db.transcript(tid) for tid in {s.transcript_id for s in suggestions})}
    segments = {s.id: s for s in db.segments(list(transcripts))}
    evidence = evidence_notes(db.conn, (s.id for s in suggestions))  # elided / too short: never a span
    for s in suggestions:
        t, seg, code = transcripts[s.transcript_id], segments[s.segment_id], codebook.by_id.get(s.code_id)
        yield {
            "transcript": t.name, "transcript_version": t.version, "participant": t.metadata.participant_id or "",
            "group": t.metadata.group or "", "site": t.metadata.site or "", "segment_id": seg.id,
            "segment_start": seg.start, "segment_end": seg.end, "speaker": seg.speaker, "code_id": s.code_id,
            "code_label": code.label if code else "", "code_path": codebook.path(s.code_id) if code else "",
            "quote": s.quote, "quote_start": s.quote_start, "quote_end": s.quote_end, "grounding": s.grounding.value,
            "evidence": evidence.get(s.id, ""), "score": s.score, "rationale": s.rationale or "", "coder": run.coder, "model": run.model or "",
            "run_id": run.id,
        }


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise PrecodeError(f"unknown export format '{fmt}'", hint=f"choose one of: {', '.join(FORMATS)}")


def _write_table(out: Path, fmt: str, columns: list[str], rows: list[dict[str, Any]]) -> int:
    """Write rows as CSV (with a header) or JSONL, whole or not at all."""
    with atomic_output(out) as tmp, tmp.open("w", encoding="utf-8", newline="") as f:
        if fmt == "csv":
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        else:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def write_export(project: Project, fmt: str, out: Path, run_id: str | None = None,
                 include_ungrounded: bool = False) -> int:
    """Write a run's suggestions; returns how many."""
    _check_format(fmt)
    return _write_table(out, fmt, EXPORT_COLUMNS, list(export_rows(project, run_id, include_ungrounded)))


def _cell(value: object) -> object:
    """A CSV/JSONL value: times as the XLSX shows them (UTC, to the second), None as empty/null."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value


def write_codings_table(project: Project, fmt: str, out: Path, run_id: str | None = None,
                        include_all: bool = False, reviewer: str | None = None) -> int:
    """Write the accepted codings (with `include_all` every grounded suggestion too) as CSV or JSONL.

    Exactly the rows and columns of the XLSX export (`codings.coding_rows`), written atomically.
    Returns the number of codings written.
    """
    _check_format(fmt)
    rows = [{k: _cell(row[k]) for k in CODING_COLUMNS} for row in coding_rows(select_codings(project, run_id,
                                                                                             include_all, reviewer))]
    return _write_table(out, fmt, CODING_COLUMNS, rows)
