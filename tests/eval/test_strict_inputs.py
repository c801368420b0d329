"""Issue 15 #4: strict, fast input — duplicates and ragged rows are errors naming the line, case-variant
codes are reported, offsets written as floats are read, '|' in a coder name is refused, --coders selects."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from eval.harness import EvalRequest, run_evaluation
from eval.inputs import read_span_file, read_unit_file
from pipeline.errors import PrecodeError

TEXT = ("Interviewer: What happened?\n\nP1: The alert fired all night. Nobody trusted it after a week. "
        "We switched it off. The alert fired all night.")


@pytest.fixture
def transcripts(make_transcript):
    t = make_transcript("int01", TEXT)
    return {t.name: t}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def no_project():
    raise AssertionError("segment-level files must not need a project")


@pytest.mark.parametrize("text, match", [
    ("unit,coder,code\nu1,A,x\nu2,A,y\nu1,A,x\n", r"codes\.csv: line 4: duplicate row \(same unit, coder and code as line 2\)"),
    ("unit,coder,code\nu1,A,\nu1,A,\n", "line 3: duplicate row"),
    ("unit,coder,code\nu1,A,x\nu2,A,Staff, nurses\n", r"line 3: 4 cells where the header has 3 \(an unquoted ','"),
    ("unit,coder,code\nu1,A,x\nu2,A\n", "line 3: 2 cells where the header has 3"),
    ("unit,coder,code\nu1,A|B,x\n", r"line 2: coder name 'A\|B' contains '\|'"),
    ("unit,coder,code\nu1,A,x\n\n,,\nu2,,x\n", "line 5: empty 'coder'"),
])
def test_bad_unit_rows_name_the_line(tmp_path, text, match):
    with pytest.raises(PrecodeError, match=match):
        read_unit_file(write(tmp_path, "codes.csv", text))


def test_quoted_delimiter_and_blank_rows_are_fine(tmp_path):
    table, summary = read_unit_file(write(tmp_path, "codes.csv", 'unit,coder,code\nu1,A,"Staff, nurses"\n\n,,\nu2,B,\n'))
    assert [(c.unit, c.coder, c.code, c.source) for c in table] == [
        ("u1", "A", "Staff, nurses", "codes.csv:2"), ("u2", "B", None, "codes.csv:5")]
    assert summary.rows == 2 and summary.applications == 1


@pytest.mark.parametrize("rows, match", [
    ("int01,1,5,,A,x\nint01,1,5,,A,x\n", "line 3: duplicate row"),
    ("int01,1,5,,A|B,x\n", r"line 2: coder name 'A\|B'"),
    ("int01,1,5,,A,x,extra\n", "line 2: 7 cells where the header has 6"),
    ("int01,1.5,5,,A,x\n", "line 2: 'start' and 'end' must be whole numbers"),
])
def test_bad_span_rows_name_the_line(tmp_path, transcripts, rows, match):
    path = write(tmp_path, "spans.csv", "transcript,start,end,quote,coder,code\n" + rows)
    with pytest.raises(PrecodeError, match=match):
        read_span_file(path, transcripts)


def test_offsets_written_as_floats_are_read(tmp_path, transcripts):
    """pandas writes integer columns with a missing value as floats: 2261.0."""
    path = write(tmp_path, "spans.csv", "transcript,start,end,coder,code\nint01,33.0,59.0,A,x\nint01,33,59,B,x\n")
    result = read_span_file(path, transcripts)
    assert [(c.start, c.end) for c in result.codings] == [(33, 59), (33, 59)]


def test_case_variant_codes_are_reported(tmp_path):
    path = write(tmp_path, "codes.csv", "unit,coder,code\nu1,A,Staff\nu1,B,staff\nu2,A,x\nu2,B,x\n")
    outcome = run_evaluation(EvalRequest(inputs=[path], out=tmp_path / "r", bootstrap=0), no_project)
    data = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    messages = {p["source"]: p["message"] for p in data["problems"]}
    assert "codes 'Staff' and 'staff' differ only in case" in messages["codes.csv:2"]
    assert set(outcome.report.codes) == {"Staff", "staff", "x"}  # kept apart, not silently merged


def test_coders_selects_from_any_input(tmp_path, cli):
    rows = "".join(f"u{u},{c},{'x' if (u + i) % 3 else ''}\n" for u in range(12) for i, c in enumerate("ABC"))
    path = write(tmp_path, "codes.csv", "unit,coder,code\n" + rows)
    out = tmp_path / "r"
    result = cli("eval", path, "--coders", "C,A", "--bootstrap", "0", "--out", out)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["coders"] == ["C", "A"] and data["pairs"] is None
    bad = cli("eval", path, "--coders", "A,Z", "--bootstrap", "0", "--out", out)
    assert isinstance(bad.exception, PrecodeError)  # the CLI prints it as one line and exits 2
    assert "--coders: no coder named 'Z'" in str(bad.exception)


def test_unit_file_of_realistic_size_parses_fast(tmp_path):
    """2,000 units x 20 codes x 3 coders (~30k rows): read and aligned well under a second on an idle
    machine; the bound here is loose because the test machine is shared."""
    rng = np.random.default_rng(0)
    lines = ["unit,coder,code"]
    for u in range(2000):
        for coder in ("llm", "h1", "h2"):
            codes = [f"C{k:02d}" for k in np.flatnonzero(rng.random(20) < 0.25)]
            lines += [f"u{u},{coder},{k}" for k in codes] or [f"u{u},{coder},"]
    path = write(tmp_path, "codes.csv", "\n".join(lines) + "\n")
    from eval.align import align_units

    start = time.perf_counter()
    table, _ = read_unit_file(path)
    aligned = align_units([table])
    elapsed = time.perf_counter() - start
    assert aligned.presence.shape == (3, 2000, 20)
    assert elapsed < 3.0, f"{len(lines) - 1} rows took {elapsed:.2f} s"
