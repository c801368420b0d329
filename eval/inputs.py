"""Coder input files: segment-level long CSV (`unit,coder,code`) and span-level CSV/JSONL.

Every reader names the file and line of a bad row in its PrecodeError. A span file is read against
the project's current transcripts: `transcript` is a transcript name (the file stem), a span is
given as `start,end` offsets into the stored text or as a `quote` that is located in it. A quote
that cannot be located is reported, not fatal: quotes drift when a transcript is re-ingested, and
one lost quote should not void an evaluation. An unknown transcript name is fatal, because a typo
there would silently drop a coder's whole transcript.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field

from pipeline.errors import PrecodeError
from pipeline.grounding import ground_quote
from pipeline.models import Grounding, Transcript

UNIT_COLUMNS = ("unit", "coder", "code")
SPAN_FORMS = "transcript,start,end,coder,code or transcript,quote,coder,code"
EXPECTED = f"expected unit,coder,code (segment level) or {SPAN_FORMS} (span level)"


class Problem(BaseModel):
    """Something in the inputs that was left out or adjusted, reported but not fatal."""

    source: str = Field(description="file:line, run id or table the problem comes from")
    message: str


class InputSummary(BaseModel):
    """One input as the report lists it."""

    kind: str = Field(description="unit-csv | unit-jsonl | span-csv | span-jsonl | run | reviewed | annotations | qdpx")
    source: str
    coders: list[str]
    rows: int = Field(description="rows or records read")
    applications: int = Field(description="code applications kept")
    detail: dict[str, str] = Field(default_factory=dict)


class UnitCoding(BaseModel):
    """A row of a segment-level file: `code` None means the coder coded the unit and applied no code."""

    unit: str
    coder: str
    code: str | None
    source: str


class SpanCoding(BaseModel):
    """A code applied to a character span of a current transcript version.

    `segment_id` is set when the input already names its segment (machine suggestions); otherwise
    the span is mapped to segments by overlap. A coding with `code` None only records that the
    coder coded the transcript.
    """

    coder: str
    code: str | None
    transcript_id: str
    start: int
    end: int
    segment_id: str | None = None
    source: str


class SpanInput(BaseModel):
    """Span codings from one input, the transcripts each coder coded, and what was reported."""

    codings: list[SpanCoding] = Field(default_factory=list)
    coverage: dict[str, set[str]] = Field(default_factory=dict, description="coder -> transcript ids coded")
    problems: list[Problem] = Field(default_factory=list)
    summaries: list[InputSummary] = Field(default_factory=list)

    def extend(self, other: "SpanInput") -> None:
        self.codings.extend(other.codings)
        for coder, ids in other.coverage.items():
            self.coverage.setdefault(coder, set()).update(ids)
        self.problems.extend(other.problems)
        self.summaries.extend(other.summaries)


def input_kind(path: Path) -> str:
    """'unit' or 'span' from the file's columns (JSONL: the first record's keys); 'qdpx' by suffix."""
    suffix = path.suffix.lower()
    if suffix == ".qdpx":
        return "qdpx"
    if suffix not in (".csv", ".tsv", ".txt", ".jsonl", ".ndjson"):
        raise PrecodeError(f"unsupported input type '{suffix}'", path=str(path),
                           hint="give .csv/.tsv, .jsonl or .qdpx files")
    for _, row in _records(path):
        return _kind_of(set(row), path)
    raise PrecodeError("the file has no rows", path=str(path), hint=EXPECTED)


def _kind_of(columns: set[str], path: Path, line: int = 1) -> str:
    if "unit" in columns:
        missing = [c for c in UNIT_COLUMNS if c not in columns]
        kind = "unit"
    elif "transcript" in columns:
        missing = [c for c in ("coder", "code") if c not in columns]
        if not ({"start", "end"} <= columns or "quote" in columns):
            missing.append("start,end or quote")
        kind = "span"
    else:
        missing = ["unit or transcript"]
        kind = ""
    if missing:
        raise PrecodeError(f"line {line}: missing column(s) {', '.join(repr(m) for m in missing)}",
                           path=str(path), hint=EXPECTED)
    return kind


def _records(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row with lower-cased keys and stripped string values) for CSV or JSONL."""
    if not path.is_file():
        raise PrecodeError("input file not found", path=str(path))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PrecodeError(f"not UTF-8 text (byte {exc.start})", path=str(path), hint="save it as UTF-8") from None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PrecodeError(f"line {number}: invalid JSON ({exc.msg})", path=str(path)) from None
            if not isinstance(record, dict):
                raise PrecodeError(f"line {number}: each line must be a JSON object", path=str(path))
            row = {str(k).strip().lower(): "" if v is None else str(v).strip() for k, v in record.items()}
            _kind_of(set(row), path, number)
            yield number, row
        return
    header_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=header_line.count)  # spreadsheet exports in some locales use ';'
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return
    names = [h.strip().lower() for h in header]
    _kind_of(set(names), path)
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        yield reader.line_num, {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(names)}


def _required(row: dict[str, str], key: str, path: Path, line: int) -> str:
    value = row.get(key, "")
    if key not in row:
        raise PrecodeError(f"line {line}: missing '{key}'", path=str(path), hint=EXPECTED)
    if not value:
        raise PrecodeError(f"line {line}: empty '{key}'", path=str(path))
    return value


def read_unit_file(path: Path) -> tuple[list[UnitCoding], InputSummary]:
    """Rows of a segment-level long file; an empty `code` records a unit coded with no code."""
    codings = []
    for line, row in _records(path):
        codings.append(UnitCoding(unit=_required(row, "unit", path, line), coder=_required(row, "coder", path, line),
                                  code=row.get("code") or None, source=f"{path.name}:{line}"))
    kind = "unit-jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "unit-csv"
    summary = InputSummary(kind=kind, source=str(path), coders=sorted({c.coder for c in codings}),
                           rows=len(codings), applications=sum(c.code is not None for c in codings))
    return codings, summary


def read_units_list(path: Path) -> list[str]:
    """The unit universe for --units: a `unit` column, or one unit per line."""
    if not path.is_file():
        raise PrecodeError("units file not found", path=str(path))
    lines = [x.strip() for x in path.read_text(encoding="utf-8-sig").splitlines()]
    if lines and lines[0].lower().split(",")[0] == "unit":
        rows = csv.DictReader(lines)
        units = [(r.get("unit") or "").strip() for r in rows]
    else:
        units = lines
    units = list(dict.fromkeys(u for u in units if u))
    if not units:
        raise PrecodeError("no units listed", path=str(path), hint="one unit id per line, or a CSV with a 'unit' column")
    return units


def read_span_file(path: Path, transcripts: dict[str, Transcript]) -> SpanInput:
    """Span codings located in the project's current transcripts (keyed by transcript name)."""
    result = SpanInput()
    unknown: dict[str, int] = {}
    rows = 0
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    for line, row in _records(path):
        rows += 1
        where = f"{path.name}:{line}"
        name = _required(row, "transcript", path, line)
        coder = _required(row, "coder", path, line)
        transcript = transcripts.get(name) or transcripts.get(Path(name).stem)
        if transcript is None:
            unknown.setdefault(name, line)
            continue
        result.coverage.setdefault(coder, set()).add(transcript.id)
        code = row.get("code") or None
        span = _span(row, transcript, path, line, code, result.problems, where)
        if code is not None and span is not None:
            result.codings.append(SpanCoding(coder=coder, code=code, transcript_id=transcript.id, start=span[0],
                                             end=span[1], source=where))
    if unknown:
        listed = ", ".join(f"'{n}' (line {ln})" for n, ln in list(unknown.items())[:5])
        raise PrecodeError(f"unknown transcript name(s): {listed}", path=str(path),
                           hint="use the transcript names of the project (file stems; see 'precode status'): "
                                + ", ".join(sorted({t.name for t in transcripts.values()})))
    result.summaries.append(InputSummary(
        kind="span-jsonl" if jsonl else "span-csv", source=str(path), coders=sorted(result.coverage), rows=rows,
        applications=len(result.codings),
        detail={"unlocated": str(sum("could not be located" in p.message for p in result.problems))},
    ))
    return result


def _span(row: dict[str, str], transcript: Transcript, path: Path, line: int, code: str | None,
          problems: list[Problem], where: str) -> tuple[int, int] | None:
    """The row's (start, end) in the transcript, or None for a coverage-only row or a lost quote."""
    start, end, quote = row.get("start", ""), row.get("end", ""), row.get("quote", "")
    if code is None:
        if start or end or quote:
            raise PrecodeError(f"line {line}: a span with an empty 'code'", path=str(path),
                               hint="leave start/end/quote empty too to record that the coder coded the "
                                    "transcript and applied no code")
        return None
    if start or end:
        try:
            s, e = int(start), int(end)
        except ValueError:
            raise PrecodeError(f"line {line}: 'start' and 'end' must be whole numbers (got '{start}', '{end}')",
                               path=str(path)) from None
        if not 0 <= s < e <= len(transcript.text):
            raise PrecodeError(f"line {line}: span {s}-{e} is not inside transcript '{transcript.name}' "
                               f"(0-{len(transcript.text)}, start < end)", path=str(path),
                               hint="offsets are characters of the stored transcript text")
        return s, e
    if not quote:
        raise PrecodeError(f"line {line}: give 'start' and 'end', or a 'quote'", path=str(path), hint=EXPECTED)
    match = ground_quote(quote, transcript.text)
    if match.grounding is Grounding.ungrounded:
        problems.append(Problem(source=where, message=f"quote could not be located in '{transcript.name}' "
                                                      f"(left out): \"{_short(quote)}\""))
        return None
    if match.grounding is Grounding.fuzzy:
        problems.append(Problem(source=where, message=f"quote located only approximately (fuzzy, score "
                                                      f"{match.score:.0f}) in '{transcript.name}': \"{_short(quote)}\""))
    elif match.grounding is Grounding.exact and transcript.text.count(quote.strip()) > 1:
        problems.append(Problem(source=where, message=f"quote occurs {transcript.text.count(quote.strip())} times "
                                                      f"in '{transcript.name}'; the first is used: \"{_short(quote)}\""))
    return match.start, match.end


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
