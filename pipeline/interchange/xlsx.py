"""Export reviewed codings as an Excel workbook, one row per coding, for teams that work in spreadsheets.

Rows are the accepted review decisions (with the reviewer's corrections) and the codes reviewers
added by hand, or with `include_all` every grounded suggestion too, with an empty reviewer where
nobody accepted it. The rows come from `codings.coding_rows`, shared with the accepted-codings
CSV/JSONL. Cells are written as values, never formulas: a quote that starts with '=' stays text.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font

from pipeline.interchange.atomic import atomic_output
from pipeline.interchange.codings import CODING_COLUMNS, coding_rows, select_codings
from pipeline.project import Project

COLUMNS = CODING_COLUMNS
_WIDTHS = {"quote": 80, "code_path": 50, "note": 30, "code_label": 30, "decision_time_utc": 20}


def write_xlsx(project: Project, out: Path, run_id: str | None = None, include_all: bool = False,
               reviewer: str | None = None) -> int:
    """Write the workbook atomically; returns the number of codings written."""
    rows = coding_rows(select_codings(project, run_id, include_all, reviewer))
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "codings"
    sheet.append(COLUMNS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for r, row in enumerate(rows, start=2):
        for col, key in enumerate(COLUMNS, start=1):
            value = row[key]
            if isinstance(value, str):
                value = ILLEGAL_CHARACTERS_RE.sub("", value)
            cell = sheet.cell(row=r, column=col, value=value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # text, not a formula
            if key == "decision_time_utc" and value is not None:
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            if key == "quote":
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    for col, key in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[sheet.cell(row=1, column=col).column_letter].width = _WIDTHS.get(key, 14)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    with atomic_output(out) as tmp:
        workbook.save(tmp)
    return len(rows)
