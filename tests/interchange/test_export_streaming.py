"""Exports at scale (issue 16): rows stream from the store in bounded memory, files are written whole or
not at all, and the XLSX export continues on further sheets past Excel's 1,048,576 rows a sheet."""

from __future__ import annotations

import csv
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from pipeline.codebook import load_codebook
from pipeline.decisions import Action, Decision, record_decision
from pipeline.ingest import ingest_paths
from pipeline.interchange.codings import CODING_COLUMNS, coding_rows, select_codings, stream_coding_rows
from pipeline.interchange.tabular import EXPORT_COLUMNS, _write_table, write_codings_table, write_export
from pipeline.interchange.xlsx import EXCEL_MAX_ROWS, write_rows, write_xlsx_sheets
from pipeline.models import Grounding, Run, RunStatus, Suggestion
from pipeline.project import Project, init_project

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def synthetic_project(root: Path, n: int, files: tuple[str, ...] = ("int01_icu_nurse.txt",)) -> tuple[Project, Run]:
    """Sample transcripts and a completed run with `n` grounded suggestions (whole-segment quotes)."""
    project, _ = init_project(root)
    ingest_paths(project, [SAMPLE / f for f in files])
    db, codebook = project.db, load_codebook("nasss")
    run = Run(id=f"run-{n}", coder="similarity", codebook_id=codebook.id, codebook_hash=db.save_codebook(codebook),
              level="leaf")
    db.start_run(run)
    codes, by_transcript = [c.id for c in codebook.codes], {}
    for seg in db.segments():
        by_transcript.setdefault(seg.transcript_id, []).append(seg)
    groups = list(by_transcript.values())

    def suggestions() -> Iterator[Suggestion]:
        for i in range(n):  # as many on each transcript
            segments, k = groups[i % len(groups)], i // len(groups)
            seg = segments[k % len(segments)]
            code = codes[(k // len(segments)) % len(codes)] if k < len(segments) * len(codes) else f"x.{i}"
            yield Suggestion(id=f"s{i:07d}", run_id=run.id, segment_id=seg.id, transcript_id=seg.transcript_id,
                             code_id=code, quote=seg.text, quote_start=seg.start, quote_end=seg.end,
                             grounding=Grounding.exact, score=0.5, rationale=f"rationale {i}")

    with db.transaction() as conn:
        db.insert_suggestions(conn, suggestions())
        db.finish_run(run.id, RunStatus.completed, {"suggestions": n})
    return project, db.run(run.id)


def _peak_bytes(project: Project, run: Run, out: Path) -> int:
    tracemalloc.start()
    try:
        assert write_export(project, "csv", out, run.id) > 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_csv_export_streams_its_rows_in_bounded_memory(tmp_path):
    small, small_run = synthetic_project(tmp_path / "small", 1_500)
    big, big_run = synthetic_project(tmp_path / "big", 9_000)
    _peak_bytes(small, small_run, tmp_path / "warm.csv")  # imports and caches out of the way
    peak_small = _peak_bytes(small, small_run, tmp_path / "small.csv")
    peak_big = _peak_bytes(big, big_run, tmp_path / "big.csv")
    # 6x the rows (about 5 KB each when held): the peak stays within half of the small export's
    assert peak_big < peak_small * 1.5, (peak_small, peak_big)
    with (tmp_path / "big.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 9_000 and list(rows[0]) == EXPORT_COLUMNS
    assert len({r["quote_start"] + r["code_id"] for r in rows}) == 9_000  # every suggestion once
    small.close()
    big.close()


def test_the_streamed_export_rows_equal_the_suggestions_and_keep_their_order(tmp_path):
    project, run = synthetic_project(tmp_path / "p", 700)
    out = tmp_path / "e.jsonl"
    assert write_export(project, "jsonl", out, run.id) == 700
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    stored = project.db.suggestions(run.id)  # ordered by transcript, quote start, code
    assert [(r["code_id"], r["quote"], r["quote_start"], r["rationale"]) for r in rows] == [
        (s.code_id, s.quote, s.quote_start, s.rationale) for s in stored]
    segments = {s.id: s for s in project.db.segments()}
    assert all(r["segment_start"] == segments[r["segment_id"]].start for r in rows)
    assert {r["participant"] for r in rows} == {project.db.current_transcripts()[0].metadata.participant_id or ""}
    project.close()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_failure_half_way_leaves_no_file_and_the_old_one_untouched(tmp_path, fmt):
    out = tmp_path / f"export.{fmt}"
    out.write_text("the earlier export\n", encoding="utf-8")

    def rows() -> Iterator[dict[str, Any]]:
        for i in range(5_000):
            if i == 3_000:
                raise OSError("disk full")
            yield dict.fromkeys(EXPORT_COLUMNS, i)

    with pytest.raises(OSError, match="disk full"):
        _write_table(out, fmt, EXPORT_COLUMNS, rows())
    assert out.read_text(encoding="utf-8") == "the earlier export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temp file left


def test_the_sheet_limit_is_excels():
    assert EXCEL_MAX_ROWS == 1_048_576


def _rows(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {**dict.fromkeys(CODING_COLUMNS, ""), "quote": f"quote {i}", "quote_start": i, "decision_time_utc": None,
               "score": None, "note": "=not a formula" if i == 0 else ""}


@pytest.mark.parametrize(("limit", "n", "sheets"), [(5, 4, 1), (5, 5, 2), (5, 8, 2), (5, 9, 3), (3, 7, 4), (2, 3, 3)])
def test_rows_past_the_sheet_limit_continue_on_further_sheets_with_a_header_each(tmp_path, limit, n, sheets):
    out = tmp_path / "c.xlsx"
    assert write_rows(out, _rows(n), max_rows=limit) == (n, sheets)
    book = load_workbook(out)
    assert book.sheetnames == ["codings"] + [f"codings ({k})" for k in range(2, sheets + 1)]
    seen = []
    for sheet in book.worksheets:
        values = list(sheet.iter_rows(values_only=True))
        assert list(values[0]) == CODING_COLUMNS and 2 <= len(values) <= limit
        assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:W{len(values)}"
        seen += [r[CODING_COLUMNS.index("quote_start")] for r in values[1:]]
    assert seen == list(range(n))  # every row, once, in order: none dropped
    first = book.worksheets[0]
    note = first.cell(row=2, column=CODING_COLUMNS.index("note") + 1)
    assert note.value == "=not a formula" and note.data_type == "s"


def test_the_xlsx_export_of_a_project_splits_at_the_limit_and_the_cli_says_so(tmp_path):
    project, run = synthetic_project(tmp_path / "p", 25)
    expected = coding_rows(select_codings(project, run.id, include_all=True))
    out = tmp_path / "all.xlsx"
    assert write_xlsx_sheets(project, out, run.id, include_all=True, max_rows=11) == (25, 3)
    book = load_workbook(out)
    got = [r for sheet in book.worksheets for r in list(sheet.iter_rows(values_only=True))[1:]]
    assert [r[CODING_COLUMNS.index("suggestion_id")] for r in got] == [r["suggestion_id"] for r in expected]
    assert [len(list(s.iter_rows())) for s in book.worksheets] == [11, 11, 6]
    project.close()


def _decide(project: Project, run: Run) -> None:
    """Accepts by two reviewers, an edit to another code and span, a rejection, an accept then undone."""
    stored = project.db.suggestions(run.id)
    with project.db.transaction() as conn:
        for i, s in enumerate(stored[::7]):
            record_decision(conn, Decision(suggestion_id=s.id, reviewer="Ana" if i % 2 else "Ben", action=Action.accept))
        a, b, c = stored[3], stored[5], stored[8]
        assert a.quote_start is not None
        record_decision(conn, Decision(suggestion_id=a.id, reviewer="Ana", action=Action.edit, code_id="adopters.staff",
                                       quote_start=a.quote_start, quote_end=a.quote_start + 12, note="=shorter"))
        record_decision(conn, Decision(suggestion_id=b.id, reviewer="Ben", action=Action.reject))
        record_decision(conn, Decision(suggestion_id=c.id, reviewer="Ana", action=Action.accept))
        record_decision(conn, Decision(suggestion_id=c.id, reviewer="Ana", action=Action.undo))


@pytest.mark.parametrize("include_all", [False, True], ids=["accepted", "all"])
@pytest.mark.parametrize("reviewer", [None, "Ana"])
def test_streamed_codings_are_the_selected_codings_rows_in_order(tmp_path, include_all, reviewer):
    project, run = synthetic_project(tmp_path / "p", 400, files=("int02_ml_engineer.txt", "int01_icu_nurse.txt",
                                                                 "int03_radiologist.txt"))
    _decide(project, run)
    expected = coding_rows(select_codings(project, run.id, include_all, reviewer))
    assert expected and list(stream_coding_rows(project, run.id, include_all, reviewer)) == expected
    assert len({r["transcript"] for r in expected}) == (3 if include_all else len({r["transcript"] for r in expected}))
    project.close()


def _codings_peak(project: Project, run: Run, out: Path) -> int:
    tracemalloc.start()
    try:
        assert write_codings_table(project, "csv", out, run.id, include_all=True) > 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_codings_export_of_every_suggestion_holds_one_transcript_at_a_time(tmp_path):
    files = ("int01_icu_nurse.txt", "int02_ml_engineer.txt", "int03_radiologist.txt")
    small, small_run = synthetic_project(tmp_path / "small", 1_200, files=files[:1])
    big, big_run = synthetic_project(tmp_path / "big", 3_600, files=files)  # 3x the rows, as many per transcript
    _codings_peak(small, small_run, tmp_path / "warm.csv")
    peak_small = _codings_peak(small, small_run, tmp_path / "small.csv")
    peak_big = _codings_peak(big, big_run, tmp_path / "big.csv")
    assert peak_big < peak_small * 1.5, (peak_small, peak_big)
    with (tmp_path / "big.csv").open(encoding="utf-8", newline="") as f:
        assert sum(1 for _ in csv.DictReader(f)) == 3_600
    small.close()
    big.close()


def test_the_export_command_says_how_many_sheets_it_wrote(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import pipeline.interchange.xlsx as xlsx
    from pipeline.cli import app

    project, run = synthetic_project(tmp_path / "p", 25)
    root = str(project.root)
    project.close()
    out = tmp_path / "all.xlsx"
    args = ["export", "-p", root, "-f", "xlsx", "--all", "--run", run.id, "--out", str(out)]
    one = CliRunner().invoke(app, args)
    assert one.exit_code == 0, one.output
    assert "sheets" not in one.output and load_workbook(out).sheetnames == ["codings"]  # the real limit: one sheet
    monkeypatch.setattr(xlsx, "EXCEL_MAX_ROWS", 11)  # the command's message only; the split is tested above
    three = CliRunner().invoke(app, args)
    assert three.exit_code == 0, three.output
    text = " ".join(three.output.split())
    assert "Wrote 25 codings" in text and "continue over 3 sheets" in text and "1,048,576" not in text
    assert load_workbook(out).sheetnames == ["codings", "codings (2)", "codings (3)"]
