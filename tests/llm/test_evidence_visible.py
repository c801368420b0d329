"""The elided / too-short evidence flag (issue 11) is visible in review and in every export, never as a span."""

from __future__ import annotations

import csv
import json

import openpyxl
from llm_helpers import DATA, MEANING, USABILITY, code, code_llm, coding

from pipeline.interchange.tabular import write_codings_table, write_export
from pipeline.interchange.xlsx import write_xlsx
from pipeline.models import Grounding
from pipeline.review.models import DecisionIn
from pipeline.review.service import ReviewSession

FIRST_LAST = "The alert fired constantly … without reading anything."
STITCHED = "There is a panel ... how sure it is ... whether to believe it"


def test_elided_and_too_short_quotes_carry_their_note_into_review_and_exports(stub, make_project, tmp_path):
    stub.handler = coding({"clicking through": [code(USABILITY, FIRST_LAST)], "how sure": [code(MEANING, STITCHED)],
                           "drop-down": [code(DATA, "and")]})
    project = make_project()
    run = code_llm(project)
    by_code = {s.code_id: s for s in project.db.suggestions(run.id)}
    assert all(s.grounding is Grounding.ungrounded and s.quote_start is None for s in by_code.values())
    expected = {USABILITY: "elided: 2 parts found in order", MEANING: "elided: 3 parts found in order",
                DATA: "too short: 1 word"}

    session = ReviewSession.open(project, run.id, "alice")
    for code_id, note in expected.items():
        item = session.item(by_code[code_id].id)
        assert item.evidence is not None and item.evidence.startswith(note), (code_id, item.evidence)
        assert item.quote_start is None  # a flag, never a span

    csv_out, jsonl_out = tmp_path / "s.csv", tmp_path / "s.jsonl"
    write_export(project, "csv", csv_out, run.id, include_ungrounded=True)
    write_export(project, "jsonl", jsonl_out, run.id, include_ungrounded=True)
    with csv_out.open(encoding="utf-8") as f:
        rows = {r["code_id"]: r for r in csv.DictReader(f)}
    records = {r["code_id"]: r for r in map(json.loads, jsonl_out.read_text(encoding="utf-8").splitlines())}
    for code_id, note in expected.items():
        for row in (rows[code_id], records[code_id]):
            assert row["evidence"].startswith(note) and row["quote_start"] in ("", None)
    assert write_export(project, "csv", tmp_path / "grounded.csv", run.id) == 0  # still never exported as evidence

    # a reviewer gives the elided quote a real span: the accepted coding keeps the model's flag beside it
    segment = next(s for s in project.db.segments() if s.id == by_code[USABILITY].segment_id)
    session.decide(by_code[USABILITY].id, DecisionIn(action="edit", quote_start=segment.start,
                                                     quote_end=segment.start + 30))
    xlsx_out, accepted_out = tmp_path / "c.xlsx", tmp_path / "accepted.csv"
    assert write_xlsx(project, xlsx_out, run.id) == 1
    sheet = openpyxl.load_workbook(xlsx_out).worksheets[0]
    header = [c.value for c in sheet[1]]
    assert sheet.cell(row=2, column=header.index("evidence") + 1).value.startswith(expected[USABILITY])
    write_codings_table(project, "csv", accepted_out, run.id)
    with accepted_out.open(encoding="utf-8") as f:
        (accepted,) = list(csv.DictReader(f))
    assert accepted["evidence"].startswith(expected[USABILITY])


def test_a_grounded_quote_has_no_evidence_note(stub, make_project, tmp_path):
    stub.handler = coding({"clicking through": [code(USABILITY, "By week three people were clicking through")]})
    project = make_project()
    run = code_llm(project)
    (s,) = project.db.suggestions(run.id)
    assert s.grounding is Grounding.exact
    assert ReviewSession.open(project, run.id, "alice").item(s.id).evidence is None
    write_export(project, "csv", tmp_path / "s.csv", run.id)
    with (tmp_path / "s.csv").open(encoding="utf-8") as f:
        assert [r["evidence"] for r in csv.DictReader(f)] == [""]
