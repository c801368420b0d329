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
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

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


@dataclass
class UnitTable(Sequence[UnitCoding]):
    """The rows of a segment-level file as columns (one list per column, `code` None = no code).

    Reading it as a sequence gives `UnitCoding` rows; `align_units` uses the columns directly.
    """

    name: str  # the file name, for `source`
    unit: list[str] = field(default_factory=list)
    coder: list[str] = field(default_factory=list)
    code: list[str | None] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.unit)

    @overload
    def __getitem__(self, i: int) -> UnitCoding: ...
    @overload
    def __getitem__(self, i: slice) -> list[UnitCoding]: ...
    def __getitem__(self, i: int | slice) -> UnitCoding | list[UnitCoding]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return UnitCoding(unit=self.unit[i], coder=self.coder[i], code=self.code[i], source=self.source(i))

    def source(self, i: int) -> str:
        return f"{self.name}:{self.lines[i]}"


PAIR_SEPARATOR = "|"


def check_coder_name(coder: str, path: Path, line: int) -> None:
    """A `|` in a coder name would make the report's pair keys ("A|B") ambiguous."""
    if PAIR_SEPARATOR in coder:
        raise PrecodeError(f"line {line}: coder name '{coder}' contains '|', which separates the two coders of a "
                           "pair in the report", path=str(path), hint="rename the coder (e.g. replace '|' with '/')")


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

    def extend(self, other: SpanInput) -> None:
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
    cells: list[str]
    width = len(names)
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != width:
            raise PrecodeError(f"line {reader.line_num}: {len(cells)} cells where the header has {width} (an "
                               f"unquoted '{delimiter}' inside a value?)", path=str(path),
                               hint=f"quote values that contain '{delimiter}'")
        yield reader.line_num, {name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(names)}


def _required(row: dict[str, str], key: str, path: Path, line: int) -> str:
    value = row.get(key, "")
    if key not in row:
        raise PrecodeError(f"line {line}: missing '{key}'", path=str(path), hint=EXPECTED)
    if not value:
        raise PrecodeError(f"line {line}: empty '{key}'", path=str(path))
    return value


def read_unit_file(path: Path) -> tuple[UnitTable, InputSummary]:
    """Rows of a segment-level long file; an empty `code` records a unit coded with no code.

    Strict: a row with more or fewer cells than the header (an unquoted delimiter in a value), an
    empty unit or coder, a '|' in a coder name and a duplicated row are errors naming the line. CSV
    files are read column-wise (one pass of the csv module, then pandas on the columns).
    """
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    table = UnitTable(name=path.name)
    if jsonl:
        for line, row in _records(path):
            table.unit.append(_required(row, "unit", path, line))
            table.coder.append(_required(row, "coder", path, line))
            table.code.append(row.get("code") or None)
            table.lines.append(line)
    else:
        _read_unit_csv(path, table)
    for i, coder in enumerate(table.coder):
        if PAIR_SEPARATOR in coder:
            check_coder_name(coder, path, table.lines[i])
    keys = list(zip(table.unit, table.coder, table.code, strict=True))
    if len(set(keys)) != len(keys):
        first: dict[tuple[str, str, str | None], int] = {}
        for i, key in enumerate(keys):
            if key in first:
                raise PrecodeError(f"line {table.lines[i]}: duplicate row (same unit, coder and code as line "
                                   f"{table.lines[first[key]]})", path=str(path),
                                   hint="remove the repeated row; each code application is listed once")
            first[key] = i
    summary = InputSummary(kind="unit-jsonl" if jsonl else "unit-csv", source=str(path),
                           coders=sorted(set(table.coder)), rows=len(table),
                           applications=sum(c is not None for c in table.code))
    return table, summary


def _read_unit_csv(path: Path, table: UnitTable) -> None:
    if not path.is_file():
        raise PrecodeError("input file not found", path=str(path))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PrecodeError(f"not UTF-8 text (byte {exc.start})", path=str(path), hint="save it as UTF-8") from None
    delimiter = max(",;\t", key=text.split("\n", 1)[0].count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return
    names = [h.strip().lower() for h in header]
    _kind_of(set(names), path)
    width = len(names)
    iu, ic, ik = (names.index(c) for c in ("unit", "coder", "code"))
    unit: list[str] = []
    coder: list[str] = []
    code: list[str] = []
    lines: list[int] = []
    for row in reader:  # one pass at C speed per row; nothing per cell but the three columns
        if len(row) != width or not (row[iu] and row[ic]):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != width:
                raise PrecodeError(f"line {reader.line_num}: {len(row)} cells where the header has {width} (an "
                                   f"unquoted '{delimiter}' inside a value?)", path=str(path),
                                   hint=f"quote values that contain '{delimiter}', e.g. \"Staff{delimiter} nurses\"")
        unit.append(row[iu])
        coder.append(row[ic])
        code.append(row[ik])
        lines.append(reader.line_num)
    unit = [u.strip() for u in unit]
    coder = [c.strip() for c in coder]
    table.lines = lines
    for name, values in (("unit", unit), ("coder", coder)):
        if not all(values):
            empty = next(i for i, v in enumerate(values) if not v)
            raise PrecodeError(f"line {lines[empty]}: empty '{name}'", path=str(path))
    table.unit, table.coder, table.code = unit, coder, [c.strip() or None for c in code]


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
    seen_rows: dict[tuple[str, ...], int] = {}
    rows = 0
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    for line, row in _records(path):
        rows += 1
        where = f"{path.name}:{line}"
        name = _required(row, "transcript", path, line)
        coder = _required(row, "coder", path, line)
        check_coder_name(coder, path, line)
        key = (name, row.get("start", ""), row.get("end", ""), row.get("quote", ""), coder, row.get("code", ""))
        if key in seen_rows:
            raise PrecodeError(f"line {line}: duplicate row (same transcript, span, coder and code as line "
                               f"{seen_rows[key]})", path=str(path),
                               hint="remove the repeated row; each code application is listed once")
        seen_rows[key] = line
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
        s, e = _offset(start), _offset(end)
        if s is None or e is None:
            raise PrecodeError(f"line {line}: 'start' and 'end' must be whole numbers (got '{start}', '{end}')",
                               path=str(path))
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
    if match.start is None or match.end is None:
        return None
    return match.start, match.end


def _offset(value: str) -> int | None:
    """A character offset: '2261', or '2261.0' as spreadsheets and pandas write it; None if not whole."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
