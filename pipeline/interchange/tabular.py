"""Export as CSV or JSONL: a run's suggestions (one row each, with evidence and provenance), or its
accepted codings (the XLSX export's rows, `codings.coding_rows`, for spreadsheet users)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.errors import PrecodeError
from pipeline.interchange.atomic import atomic_output
from pipeline.interchange.codings import CODING_COLUMNS, stream_coding_rows
from pipeline.models import Grounding
from pipeline.project import Project
from pipeline.store.exports import suggestion_export_rows

EXPORT_COLUMNS = [
    "transcript", "transcript_version", "participant", "group", "site", "segment_id", "segment_start",
    "segment_end", "speaker", "code_id", "code_label", "code_path", "quote", "quote_start", "quote_end",
    "grounding", "evidence", "score", "rationale", "coder", "model", "run_id",
]
FORMATS = ("csv", "jsonl")


def export_rows(project: Project, run_id: str | None = None, include_ungrounded: bool = False) -> Iterator[dict[str, Any]]:
    """Rows for a run (default: the latest completed run). Ungrounded quotes are left out by default.

    Streamed from the store (`suggestion_export_rows`): memory stays flat however many rows the run has.
    """
    db = project.db
    run = db.run(run_id)
    codebook = db.codebook(run.codebook_hash)
    groundings = None if include_ungrounded else [g for g in Grounding if g is not Grounding.ungrounded]
    for r in suggestion_export_rows(db.conn, run.id, groundings):
        meta, code = r["metadata"], codebook.by_id.get(r["code_id"])
        yield {
            "transcript": r["transcript"], "transcript_version": r["transcript_version"],
            "participant": meta.participant_id or "", "group": meta.group or "", "site": meta.site or "",
            "segment_id": r["segment_id"], "segment_start": r["segment_start"], "segment_end": r["segment_end"],
            "speaker": r["speaker"], "code_id": r["code_id"], "code_label": code.label if code else "",
            "code_path": codebook.path(r["code_id"]) if code else "", "quote": r["quote"],
            "quote_start": r["quote_start"], "quote_end": r["quote_end"], "grounding": r["grounding"],
            "evidence": r["evidence"], "score": r["score"], "rationale": r["rationale"] or "", "coder": run.coder,
            "model": run.model or "", "run_id": run.id,
        }


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise PrecodeError(f"unknown export format '{fmt}'", hint=f"choose one of: {', '.join(FORMATS)}")


def _write_table(out: Path, fmt: str, columns: list[str], rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as CSV (with a header) or JSONL as they come, whole or not at all; returns how many.

    Rows are consumed one at a time (nothing collects them), so memory does not grow with their
    number; a failure half-way (a full disk, an error reading the store) leaves no file behind and
    an earlier file at `out` untouched.
    """
    n = 0
    with atomic_output(out) as tmp, tmp.open("w", encoding="utf-8", newline="") as f:
        if fmt == "csv":
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow(row)
                n += 1
        else:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
    return n


def write_export(project: Project, fmt: str, out: Path, run_id: str | None = None,
                 include_ungrounded: bool = False) -> int:
    """Write a run's suggestions; returns how many."""
    _check_format(fmt)
    return _write_table(out, fmt, EXPORT_COLUMNS, export_rows(project, run_id, include_ungrounded))


def _cell(value: object) -> object:
    """A CSV/JSONL value: times as the XLSX shows them (UTC, to the second), None as empty/null."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value


def write_codings_table(project: Project, fmt: str, out: Path, run_id: str | None = None,
                        include_all: bool = False, reviewer: str | None = None) -> int:
    """Write the accepted codings (with `include_all` every grounded suggestion too) as CSV or JSONL.

    Exactly the rows and columns of the XLSX export (`codings.coding_rows`), streamed (`stream_coding_rows`),
    written atomically.
    Returns the number of codings written.
    """
    _check_format(fmt)
    rows = ({k: _cell(row[k]) for k in CODING_COLUMNS}
            for row in stream_coding_rows(project, run_id, include_all, reviewer))
    return _write_table(out, fmt, CODING_COLUMNS, rows)
