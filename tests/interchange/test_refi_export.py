"""Export to REFI-QDA (.qdpx) and Excel (.xlsx): schema-valid, the right codings, attributed and explained."""

from __future__ import annotations

import re
import zipfile

import pytest
from lxml import etree
from openpyxl import load_workbook

from pipeline.codebook import load_codebook
from pipeline.decisions import Action, Decision, record_decision
from pipeline.errors import PrecodeError
from pipeline.interchange.codings import select_codings
from pipeline.interchange.qdpx_write import write_qdpx
from pipeline.interchange.refi import PROJECT_NS, code_guid, guid, machine_user_name
from pipeline.interchange.xlsx import COLUMNS, write_xlsx

NS = {"q": PROJECT_NS}


@pytest.fixture(scope="module")
def exported(reviewed, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    accepted = write_qdpx(reviewed.project, out / "accepted.qdpx")
    everything = write_qdpx(reviewed.project, out / "all.qdpx", include_all=True)
    return out, accepted, everything


def _qde(path):
    with zipfile.ZipFile(path) as archive:
        return archive.read("project.qde"), {n: archive.read(n) for n in archive.namelist() if n != "project.qde"}


@pytest.mark.parametrize("name", ["accepted.qdpx", "all.qdpx"])
def test_project_qde_validates_against_the_refi_project_schema(exported, project_schema, name):
    qde, _ = _qde(exported[0] / name)
    project_schema.validate(etree.fromstring(qde))
    assert project_schema.is_valid(qde.decode("utf-8"))


def test_the_schema_check_is_not_vacuous(exported, project_schema):
    qde, _ = _qde(exported[0] / "accepted.qdpx")
    root = etree.fromstring(qde)
    selection = root.find(".//q:PlainTextSelection", NS)
    del selection.attrib["startPosition"]
    assert not project_schema.is_valid(etree.tostring(root).decode())
    root = etree.fromstring(qde)
    root.find(".//q:User", NS).set("guid", "not-a-guid")
    assert not project_schema.is_valid(etree.tostring(root).decode())


def test_default_export_holds_exactly_the_accepted_decisions(reviewed, exported):
    qde, files = _qde(exported[0] / "accepted.qdpx")
    root = etree.fromstring(qde)
    selections = root.findall(".//q:PlainTextSelection", NS)
    assert len(selections) == len(reviewed.accepted) == exported[1].codings
    assert {s.get("guid") for s in selections} == {guid("selection", sid) for sid in reviewed.accepted}
    users = {u.get("guid"): u.get("name") for u in root.findall(".//q:User", NS)}
    codebook = load_codebook("nasss")
    suggestions = {s.id: s for s in reviewed.project.db.suggestions(reviewed.run.id)}
    sources = {s.get("guid"): s for s in root.findall(".//q:TextSource", NS)}
    for sid, decision in reviewed.accepted.items():
        s = suggestions[sid]
        selection = root.find(f".//q:PlainTextSelection[@guid='{guid('selection', sid)}']", NS)
        # reviewed codings are the reviewer's, with the reviewer's corrections
        assert users[selection.get("creatingUser")] == decision.reviewer
        start = decision.quote_start if decision.quote_start is not None else s.quote_start
        end = decision.quote_end if decision.quote_end is not None else s.quote_end
        assert (int(selection.get("startPosition")), int(selection.get("endPosition"))) == (start, end)
        coded = selection.find("q:Coding/q:CodeRef", NS).get("targetGUID")
        assert coded == code_guid("nasss", decision.code_id or s.code_id)
        assert coded in {code_guid("nasss", c.id) for c in codebook.codes}
        # the selection's text in the exported source is the quote, and the description carries it
        source = selection.getparent()
        text = files[source.get("plainTextPath").replace("internal://", "Sources/")].decode("utf-8")
        transcript = reviewed.project.db.transcript(s.transcript_id)
        assert text == transcript.text
        description = selection.find("q:Description", NS).text
        assert f"Quote: {text[start:end]}" in description
        assert f"Confidence: {s.score:.4f}" in description
        assert f"run {reviewed.run.id}" in description and f"model {reviewed.run.model}" in description
        assert "prompt hash" in description and f"precode-suggestion: {sid}" in description
        assert f"Review: {decision.action.value} by {decision.reviewer}" in description
        if decision.code_id and decision.code_id != s.code_id:
            assert f"Suggested code: {s.code_id}" in description
    assert set(sources) == {guid("source", t.id) for t in reviewed.project.db.current_transcripts()}


def test_all_adds_every_grounded_suggestion_under_the_machine_user(reviewed, exported):
    qde, _ = _qde(exported[0] / "all.qdpx")
    root = etree.fromstring(qde)
    grounded = [s for s in reviewed.project.db.suggestions(reviewed.run.id) if s.quote_start is not None]
    selections = root.findall(".//q:PlainTextSelection", NS)
    assert len(selections) == len(grounded) == exported[2].codings
    machine = machine_user_name(reviewed.run.coder, reviewed.run.model)
    assert machine == f"precode similarity ({reviewed.run.model})"
    users = {u.get("guid"): u.get("name") for u in root.findall(".//q:User", NS)}
    assert set(users.values()) == {machine, "Alice Ngata", "Bo Lindqvist"}
    by_user: dict[str, int] = {}
    for selection in selections:
        by_user[users[selection.get("creatingUser")]] = by_user.get(users[selection.get("creatingUser")], 0) + 1
    assert by_user[machine] == len(grounded) - len(reviewed.accepted)
    rejected = root.find(f".//q:PlainTextSelection[@guid='{guid('selection', next(iter(reviewed.rejected)))}']", NS)
    assert users[rejected.get("creatingUser")] == machine
    assert "Review: reject by Alice Ngata" in rejected.find("q:Description", NS).text
    assert "(reason: wrong code)" in rejected.find("q:Description", NS).text


def test_code_tree_users_variables_and_cases(reviewed, exported):
    qde, _ = _qde(exported[0] / "accepted.qdpx")
    root = etree.fromstring(qde)
    codebook = load_codebook("nasss")
    codes = root.findall(".//q:CodeBook//q:Code", NS)
    assert [c.get("name") for c in codes] == [c.label for c in codebook.codes]
    for code in codebook.codes:
        element = root.find(f".//q:Code[@guid='{code_guid('nasss', code.id)}']", NS)
        parent = element.getparent()
        assert (parent.get("guid") if code.parent else None) == (code_guid("nasss", code.parent) if code.parent else None)
        assert re.fullmatch(r"#[0-9A-F]{6}", element.get("color"))
    variables = {v.get("guid"): v.get("name") for v in root.findall(".//q:Variable", NS)}
    assert {"participant_id", "group", "site", "date", "role"} <= set(variables.values())
    int01 = [t for t in reviewed.project.db.current_transcripts() if t.name == "int01_icu_nurse"][0]
    source = root.find(f".//q:TextSource[@guid='{guid('source', int01.id)}']", NS)
    values = {variables[v.find("q:VariableRef", NS).get("targetGUID")]: v.find("q:TextValue", NS).text
              for v in source.findall("q:VariableValue", NS)}
    assert values["participant_id"] == "HCP1" and values["group"] == "HCP"
    case = root.find(".//q:Case[@name='HCP1']", NS)
    assert case.find("q:SourceRef", NS).get("targetGUID") == guid("source", int01.id)


def test_export_is_deterministic_apart_from_the_time(reviewed, tmp_path):
    first = write_qdpx(reviewed.project, tmp_path / "a.qdpx")
    second = write_qdpx(reviewed.project, tmp_path / "b.qdpx")
    strip = lambda data: re.sub(rb'creationDateTime="[^"]*"', b"", data)  # noqa: E731
    assert first.codings == second.codings
    a, files_a = _qde(tmp_path / "a.qdpx")
    b, files_b = _qde(tmp_path / "b.qdpx")
    assert strip(a).split(b"<Project", 1)[1].split(b">", 1)[1] == strip(b).split(b"<Project", 1)[1].split(b">", 1)[1]
    assert files_a == files_b


def test_xlsx_has_one_row_per_accepted_coding(reviewed, tmp_path):
    n = write_xlsx(reviewed.project, tmp_path / "codes.xlsx")
    sheet = load_workbook(tmp_path / "codes.xlsx").active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == COLUMNS and len(rows) - 1 == n == len(reviewed.accepted)
    records = [dict(zip(COLUMNS, r)) for r in rows[1:]]
    codebook = load_codebook("nasss")
    texts = {t.name: t.text for t in reviewed.project.db.current_transcripts()}
    for r in records:
        decision = reviewed.accepted[r["suggestion_id"]]
        assert r["reviewer"] == decision.reviewer and r["decision"] == decision.action.value
        assert r["decision_time_utc"] is not None
        assert r["code_path"] == codebook.path(r["code_id"])
        assert texts[r["transcript"]][r["quote_start"]:r["quote_end"]] == r["quote"]
        assert r["participant"] and r["group"] in ("HCP", "AI expert")
    assert any(r["code_id"] == "adopters.staff" and r["suggested_code_id"] != "adopters.staff" for r in records)
    # a note that starts with '=' stays text, not a formula
    noted = [r for r in records if r["note"]]
    assert noted and all(r["note"] == "clear = usability" for r in noted)


def test_xlsx_all_leaves_the_reviewer_empty_for_unaccepted_suggestions(reviewed, tmp_path):
    n = write_xlsx(reviewed.project, tmp_path / "all.xlsx", include_all=True)
    rows = list(load_workbook(tmp_path / "all.xlsx").active.iter_rows(values_only=True))[1:]
    records = [dict(zip(COLUMNS, r)) for r in rows]
    assert n == len(records) > len(reviewed.accepted)
    assert sum(1 for r in records if r["reviewer"]) == len(reviewed.accepted)
    rejected = [r for r in records if r["suggestion_id"] in reviewed.rejected]
    assert rejected and all(r["reviewer"] in (None, "") and r["decision"] == "reject" for r in rejected)


def test_xlsx_cells_starting_with_equals_stay_text(reviewed, tmp_path):
    db = reviewed.project.db
    s = next(x for x in db.suggestions(reviewed.run.id) if x.id not in reviewed.accepted and x.quote_start is not None
             and x.id not in reviewed.rejected)
    with db.transaction() as conn:
        record_decision(conn, Decision(suggestion_id=s.id, reviewer="=HYPERLINK(\"http://x\")", action=Action.accept))
    try:
        write_xlsx(reviewed.project, tmp_path / "f.xlsx")
        sheet = load_workbook(tmp_path / "f.xlsx").active
        cells = [row for row in sheet.iter_rows() if row[COLUMNS.index("suggestion_id")].value == s.id]
        cell = cells[0][COLUMNS.index("reviewer")]
        assert cell.value == "=HYPERLINK(\"http://x\")" and cell.data_type == "s"
    finally:
        with db.transaction() as conn:
            record_decision(conn, Decision(suggestion_id=s.id, reviewer="=HYPERLINK(\"http://x\")", action=Action.undo))


def test_a_failed_export_leaves_no_file(reviewed, tmp_path):
    db = reviewed.project.db
    s = next(x for x in db.suggestions(reviewed.run.id) if x.id not in reviewed.accepted and x.quote_start is not None
             and x.id not in reviewed.rejected)
    out = tmp_path / "broken.qdpx"
    out.write_bytes(b"previous export")
    with db.transaction() as conn:
        record_decision(conn, Decision(suggestion_id=s.id, reviewer="Cy", action=Action.edit, code_id="no.such_code"))
    try:
        with pytest.raises(PrecodeError, match=f"suggestion {s.id} is coded 'no.such_code'"):
            write_qdpx(reviewed.project, out)
        assert out.read_bytes() == b"previous export"
        assert [p.name for p in tmp_path.iterdir()] == ["broken.qdpx"]
    finally:
        with db.transaction() as conn:
            record_decision(conn, Decision(suggestion_id=s.id, reviewer="Cy", action=Action.undo))
    assert s.id not in {c.suggestion.id for c in select_codings(reviewed.project).codings}
