"""Input readers: segment-level and span-level files, good and bad."""

from __future__ import annotations

import json

import pytest

from eval.inputs import input_kind, read_span_file, read_unit_file, read_units_list
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


def test_unit_csv_rows_and_empty_code(tmp_path):
    path = write(tmp_path, "codes.csv", "unit,coder,code,note\nu1,A,x,\nu1,A,y,second code\nu2,A,,\nu1,B,x,\n")
    codings, summary = read_unit_file(path)
    assert [(c.unit, c.coder, c.code) for c in codings] == [
        ("u1", "A", "x"), ("u1", "A", "y"), ("u2", "A", None), ("u1", "B", "x")]
    assert codings[2].source == "codes.csv:4"
    assert summary.kind == "unit-csv" and summary.rows == 4 and summary.applications == 3
    assert summary.coders == ["A", "B"]


def test_unit_csv_semicolon_and_quoted_fields(tmp_path):
    path = write(tmp_path, "codes.csv", 'Unit;Coder;Code\n"u;1";A;x\n')
    codings, _ = read_unit_file(path)
    assert (codings[0].unit, codings[0].code) == ("u;1", "x")


def test_unit_jsonl(tmp_path):
    lines = [{"unit": "u1", "coder": "A", "code": "x"}, {"unit": "u2", "coder": "A", "code": None}]
    path = write(tmp_path, "codes.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    codings, summary = read_unit_file(path)
    assert [c.code for c in codings] == ["x", None]
    assert summary.kind == "unit-jsonl"
    assert input_kind(path) == "unit"


def test_missing_column_names_file_and_line(tmp_path):
    path = write(tmp_path, "bad.csv", "unit,code\nu1,x\n")
    with pytest.raises(PrecodeError, match=r"bad\.csv: line 1: missing column\(s\) 'coder'"):
        input_kind(path)


def test_span_file_without_span_columns(tmp_path):
    path = write(tmp_path, "bad.csv", "transcript,coder,code\nint01,A,x\n")
    with pytest.raises(PrecodeError, match="line 1: missing column.*'start,end or quote'"):
        input_kind(path)


def test_jsonl_missing_key_names_the_line(tmp_path, transcripts):
    lines = [{"transcript": "int01", "quote": "We switched it off.", "coder": "A", "code": "x"},
             {"transcript": "int01", "quote": "Nobody trusted it", "code": "x"}]
    path = write(tmp_path, "spans.jsonl", "\n".join(json.dumps(x) for x in lines))
    with pytest.raises(PrecodeError, match=r"spans\.jsonl: line 2: missing column\(s\) 'coder'"):
        read_span_file(path, transcripts)


def test_empty_required_value_names_the_line(tmp_path):
    path = write(tmp_path, "codes.csv", "unit,coder,code\nu1,A,x\nu2,,x\n")
    with pytest.raises(PrecodeError, match="line 3: empty 'coder'"):
        read_unit_file(path)


def test_unsupported_and_missing_files(tmp_path):
    with pytest.raises(PrecodeError, match="unsupported input type '.xlsx'"):
        input_kind(tmp_path / "codes.xlsx")
    with pytest.raises(PrecodeError, match="input file not found"):
        input_kind(tmp_path / "nothing.csv")
    with pytest.raises(PrecodeError, match="no rows"):
        input_kind(write(tmp_path, "empty.csv", ""))


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("unit,coder,code\nü,A,x\n".encode("cp1252"))
    with pytest.raises(PrecodeError, match="not UTF-8"):
        read_unit_file(path)


def test_span_quotes_located_and_offsets_kept(tmp_path, transcripts):
    path = write(tmp_path, "spans.csv",
                 "transcript,start,end,quote,coder,code\n"
                 "int01,,,Nobody trusted it after a week.,A,trust\n"
                 f"int01,{TEXT.index('We switched')},{TEXT.index('We switched') + 19},,B,stop\n"
                 "int01.txt,,,“nobody   TRUSTED it”,B,trust\n")
    result = read_span_file(path, transcripts)
    spans = [(c.coder, c.code, TEXT[c.start:c.end]) for c in result.codings]
    assert spans == [("A", "trust", "Nobody trusted it after a week."), ("B", "stop", "We switched it off."),
                     ("B", "trust", "Nobody trusted it")]
    assert result.coverage == {"A": {"id-int01"}, "B": {"id-int01"}}
    assert result.problems == []
    assert result.summaries[0].kind == "span-csv" and result.summaries[0].applications == 3


def test_unlocatable_quote_is_reported_not_fatal(tmp_path, transcripts):
    path = write(tmp_path, "spans.csv", "transcript,quote,coder,code\n"
                                        "int01,The pharmacist ordered more coffee for everyone,A,x\n"
                                        "int01,We switched it off.,A,y\n")
    result = read_span_file(path, transcripts)
    assert [c.code for c in result.codings] == ["y"]
    assert len(result.problems) == 1
    assert result.problems[0].source == "spans.csv:2"
    assert "could not be located" in result.problems[0].message
    assert result.summaries[0].detail["unlocated"] == "1"
    assert result.coverage == {"A": {"id-int01"}}


def test_repeated_and_approximate_quotes_are_noted(tmp_path, transcripts):
    path = write(tmp_path, "spans.csv", "transcript,quote,coder,code\n"
                                        "int01,The alert fired all night.,A,x\n"
                                        "int01,Nobody trustd it after a wek,A,y\n")
    result = read_span_file(path, transcripts)
    assert len(result.codings) == 2
    assert result.codings[0].start == TEXT.index("The alert")
    messages = [p.message for p in result.problems]
    assert "occurs 2 times" in messages[0] and "fuzzy" in messages[1]


def test_unknown_transcript_is_fatal_with_line(tmp_path, transcripts):
    path = write(tmp_path, "spans.csv", "transcript,quote,coder,code\nint01,We switched it off.,A,x\n"
                                        "int99,We switched it off.,A,x\n")
    with pytest.raises(PrecodeError, match=r"unknown transcript name\(s\): 'int99' \(line 3\)") as info:
        read_span_file(path, transcripts)
    assert "int01" in str(info.value)  # the hint lists the known names


@pytest.mark.parametrize("row, match", [
    ("int01,5,900,,A,x", r"line 2: span 5-900 is not inside transcript 'int01'"),
    ("int01,9,3,,A,x", "line 2: span 9-3"),
    ("int01,a,3,,A,x", "line 2: 'start' and 'end' must be whole numbers"),
    ("int01,,,,A,x", "line 2: give 'start' and 'end', or a 'quote'"),
    ("int01,1,5,,A,", "line 2: a span with an empty 'code'"),
])
def test_bad_span_rows(tmp_path, transcripts, row, match):
    path = write(tmp_path, "spans.csv", "transcript,start,end,quote,coder,code\n" + row + "\n")
    with pytest.raises(PrecodeError, match=match):
        read_span_file(path, transcripts)


def test_coverage_only_row(tmp_path, transcripts):
    path = write(tmp_path, "spans.csv", "transcript,start,end,coder,code\nint01,,,B,\n")
    result = read_span_file(path, transcripts)
    assert result.codings == [] and result.coverage == {"B": {"id-int01"}}


def test_units_list_plain_and_csv(tmp_path):
    assert read_units_list(write(tmp_path, "u.txt", "u1\nu2\n\nu1\n")) == ["u1", "u2"]
    assert read_units_list(write(tmp_path, "u.csv", "unit,len\nu3,4\nu4,5\n")) == ["u3", "u4"]
    with pytest.raises(PrecodeError, match="no units listed"):
        read_units_list(write(tmp_path, "e.txt", "\n"))


def test_span_jsonl_with_offsets_and_quotes(tmp_path, transcripts):
    start = TEXT.index("Nobody")
    lines = [{"transcript": "int01", "start": start, "end": start + 17, "coder": "A", "code": "trust"},
             {"transcript": "int01", "quote": "We switched it off.", "coder": "B", "code": "stop", "note": "extra key"}]
    path = write(tmp_path, "spans.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    assert input_kind(path) == "span"
    result = read_span_file(path, transcripts)
    assert [(c.coder, TEXT[c.start:c.end], c.source) for c in result.codings] == [
        ("A", "Nobody trusted it", "spans.jsonl:1"), ("B", "We switched it off.", "spans.jsonl:2")]
    assert result.summaries[0].kind == "span-jsonl"
