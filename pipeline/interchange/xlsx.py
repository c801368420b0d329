"""Export reviewed codings as an Excel workbook, one row per coding, for teams that work in spreadsheets.

Rows are the accepted review decisions (with the reviewer's corrections) and the codes reviewers
added by hand, or with `include_all` every grounded suggestion too, with an empty reviewer where
nobody accepted it. The rows come from `codings.stream_coding_rows`, shared with the accepted-codings
CSV/JSONL. Cells are written as values, never formulas: a quote that starts with '=' stays text.

The workbook is written in openpyxl's write-only (streaming) mode, row by row, with inline
strings: memory does not grow with the rows written. Excel holds at most 1,048,576 rows a sheet
(`EXCEL_MAX_ROWS`, the header included); more codings continue on "codings (2)", "codings (3)",
... each with its header, and the command says how many sheets it wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from pipeline.interchange.atomic import atomic_output
from pipeline.interchange.codings import CODING_COLUMNS, stream_coding_rows
from pipeline.project import Project

COLUMNS = CODING_COLUMNS
SHEET = "codings"
EXCEL_MAX_ROWS = 1_048_576  # rows per worksheet in Excel (2007 and later), the header row included
_WIDTHS = {"quote": 80, "code_path": 50, "note": 30, "code_label": 30, "decision_time_utc": 20}
_BOLD = Font(bold=True)
_WRAP = Alignment(wrap_text=True, vertical="top")


def sheet_title(n: int, base: str = SHEET) -> str:
    """The n-th sheet's name (1-based): "codings", "codings (2)", "codings (3)", ..."""
    return base if n == 1 else f"{base} ({n})"


def _new_sheet(workbook: Workbook, title: str, columns: list[str]) -> WriteOnlyWorksheet:
    sheet = workbook.create_sheet(title)
    for col, key in enumerate(columns, start=1):  # column styles must come before the first row
        sheet.column_dimensions[get_column_letter(col)].width = _WIDTHS.get(key, 14)
    sheet.freeze_panes = "A2"
    header = []
    for key in columns:
        cell = WriteOnlyCell(sheet, value=key)
        cell.font = _BOLD
        header.append(cell)
    sheet.append(header)
    return sheet


def _cells(sheet: WriteOnlyWorksheet, columns: list[str], row: dict[str, Any]) -> list[Any]:
    """A row's values; a cell object only where it needs a style or must stay text (plain values are faster)."""
    cells: list[Any] = []
    for key in columns:
        value = row[key]
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if key == "quote" or (key == "decision_time_utc" and value is not None) or (
                isinstance(value, str) and value.startswith("=")):
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # text, not a formula
            if key == "decision_time_utc":
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            if key == "quote":
                cell.alignment = _WRAP
            cells.append(cell)
        else:
            cells.append(value)
    return cells


def write_rows(out: Path, rows: Iterable[dict[str, Any]], columns: list[str] = COLUMNS, title: str = SHEET,
               max_rows: int | None = None) -> tuple[int, int]:
    """Write rows into a workbook atomically, streaming (openpyxl's write-only mode); returns (rows, sheets).

    A sheet holds at most `max_rows` rows, its header included; further rows continue on the next
    sheet ("codings (2)", ...), which starts with the header again. No row is ever dropped.
    """
    max_rows = EXCEL_MAX_ROWS if max_rows is None else max_rows
    if max_rows < 2:
        raise ValueError("a sheet needs room for its header and at least one row")
    workbook = Workbook(write_only=True)
    sheets = [_new_sheet(workbook, sheet_title(1, title), columns)]
    on_sheet = n = 0
    last = get_column_letter(len(columns))
    for row in rows:
        if on_sheet == max_rows - 1:
            sheets[-1].auto_filter.ref = f"A1:{last}{on_sheet + 1}"
            sheets.append(_new_sheet(workbook, sheet_title(len(sheets) + 1, title), columns))
            on_sheet = 0
        sheets[-1].append(_cells(sheets[-1], columns, row))
        on_sheet += 1
        n += 1
    sheets[-1].auto_filter.ref = f"A1:{last}{on_sheet + 1}"
    with atomic_output(out) as tmp:
        workbook.save(tmp)
    return n, len(sheets)


def write_xlsx_sheets(project: Project, out: Path, run_id: str | None = None, include_all: bool = False,
                      reviewer: str | None = None, max_rows: int | None = None) -> tuple[int, int]:
    """Write the workbook atomically; returns (codings written, sheets used)."""
    return write_rows(out, stream_coding_rows(project, run_id, include_all, reviewer), max_rows=max_rows)


def write_xlsx(project: Project, out: Path, run_id: str | None = None, include_all: bool = False,
               reviewer: str | None = None) -> int:
    """Write the workbook atomically; returns the number of codings written."""
    return write_xlsx_sheets(project, out, run_id, include_all, reviewer)[0]
