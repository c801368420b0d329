"""The whole project goes back out (issue 14): import a real .qdpx, export it straight back, compare.

Every fixture in tests/fixtures/qdpx (copies of ../shared/fixtures/qdpx and files made with real
tools, see its README) is imported into a fresh project and exported with no coding run. The
export must validate against Project.xsd and keep every text coding (same covered text, code path
and user), every code with its GUID, colour and isCodable, every user, variables with their types
on the element that holds them, and the selection and coding GUIDs. Importing the export again is
the identity on everything precode stores.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree
from refi_fixtures import table_counts
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.ingest.decode import normalize_text
from pipeline.interchange.offsets import OffsetMap
from pipeline.interchange.qdc import name_path
from pipeline.interchange.qdpx_import import SourceStatus, import_qdpx
from pipeline.interchange.qdpx_read import RefiProject, read_qdpx
from pipeline.interchange.qdpx_write import ExportOptions, write_qdpx
from pipeline.interchange.refi import PROJECT_NS
from pipeline.project import find_project, init_project

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "qdpx"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "qdpx"  # CI: <repo>/../shared
QDPX = sorted(p.name for p in FIXTURES.glob("*.qdpx"))
NS = {"q": PROJECT_NS}
runner = CliRunner()


def test_the_shared_fixtures_are_all_copied_here():
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not there (the tests use the copies in {FIXTURES})")
    for path in SHARED.glob("*.qdpx"):
        assert (FIXTURES / path.name).read_bytes() == path.read_bytes(), path.name


def _codings(refi: RefiProject) -> Counter:
    """(source name, covered text as precode stores it, code path, user name) of every text coding."""
    paths = {c.guid: name_path(refi.codes, c.guid) for c in refi.codes}
    out: Counter = Counter()
    for source in refi.sources:
        offsets = OffsetMap(source.text)
        for selection in source.selections:
            covered = offsets.normalized[offsets.start(selection.start):offsets.end(selection.end)]
            for coding in selection.codings:
                out[(source.name, covered, paths[coding.code_guid], refi.users[coding.user_guid or ""].name)] += 1
    return out


def _raw_codings(refi: RefiProject) -> Counter:
    """The same with the covered text exactly as the file has it (for sources precode stores unchanged)."""
    paths = {c.guid: name_path(refi.codes, c.guid) for c in refi.codes}
    return Counter((s.name, s.text[sel.start:sel.end], paths[c.code_guid], refi.users[c.user_guid or ""].name)
                   for s in refi.sources for sel in s.selections for c in sel.codings)


def _guids(refi: RefiProject) -> tuple[set, set]:
    selections = {sel.guid for s in refi.sources for sel in s.selections}
    codings = {c.guid for s in refi.sources for sel in s.selections for c in sel.codings}
    return selections, codings


def _stored(project) -> list[tuple]:
    rows = project.db.conn.execute(
        'SELECT a.coder, t.text, a.start, a."end", a.code_id, a.code_label, a.note FROM annotations a'
        " JOIN transcripts t ON t.id = a.transcript_id ORDER BY 1, 3, 4, 5")
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("name", QDPX)
def test_import_then_export_keeps_codings_codes_users_and_variables(name, tmp_path, project_schema):
    original = read_qdpx(FIXTURES / name)
    assert original.sources and any(s.selections for s in original.sources)
    first, _ = init_project(tmp_path / "first")
    report = import_qdpx(first, FIXTURES / name)
    assert report.annotations_new == sum(_codings(original).values())

    out = tmp_path / "back.qdpx"
    summary = write_qdpx(first, out)  # no coding run in this project: the imported project alone
    assert summary.run_id is None and summary.imported_codings == report.annotations_new
    with zipfile.ZipFile(out) as archive:
        qde = archive.read("project.qde")
    project_schema.validate(etree.fromstring(qde))

    back = read_qdpx(out)
    # every text coding: same covered text (as precode stores it: LF line ends, NFC), code path and user
    assert _codings(back) == _codings(original)
    for source in original.sources:  # and where precode stores the text unchanged, the very same text
        if normalize_text(source.text) == source.text:
            raw = Counter({k: n for k, n in _raw_codings(original).items() if k[0] == source.name})
            assert raw == Counter({k: n for k, n in _raw_codings(back).items() if k[0] == source.name})
    # every code with its GUID, name path, colour and isCodable; every user; the selection and coding GUIDs
    def codes(refi):
        return {(c.guid, name_path(refi.codes, c.guid), c.color, c.is_codable) for c in refi.codes}
    assert codes(back) == codes(original)
    assert {(u.guid, u.name) for u in back.users.values()} == {(u.guid, u.name) for u in original.users.values()}
    assert _guids(back) == _guids(original)
    assert {s.guid for s in back.sources} == {s.guid for s in original.sources}
    # variables keep their types, and values stay on the element that held them (a source or a case)
    assert {(v.guid, v.name, v.type) for v in back.variables} == {(v.guid, v.name, v.type) for v in original.variables}
    assert {s.guid: s.values for s in back.sources} == {s.guid: s.values for s in original.sources}
    assert {(c.guid, c.name, tuple(sorted(c.values.items())), tuple(c.source_guids)) for c in back.cases} == \
        {(c.guid, c.name, tuple(sorted(c.values.items())), tuple(c.source_guids)) for c in original.cases}

    # import → export → import is the identity on what precode stores
    second, _ = init_project(tmp_path / "second")
    again = import_qdpx(second, out)
    assert _stored(second) == _stored(first)
    assert {t.text for t in second.db.current_transcripts()} == {t.text for t in first.db.current_transcripts()}
    assert {(m.guid, m.code_id) for m in again.codes} == {(m.guid, m.code_id) for m in report.codes}
    first.close()
    second.close()


@pytest.mark.parametrize("name", QDPX)
def test_importing_the_export_into_the_same_project_changes_nothing(name, tmp_path):
    project, _ = init_project(tmp_path / "p")
    import_qdpx(project, FIXTURES / name)
    write_qdpx(project, tmp_path / "a.qdpx")
    stored, counts = _stored(project), table_counts(project)
    report = import_qdpx(project, tmp_path / "a.qdpx")
    assert all(s.status is SourceStatus.matched for s in report.sources)
    assert report.annotations_new == 0 and report.annotations_updated == len(stored)
    assert _stored(project) == stored
    assert (table_counts(project)["transcripts"], table_counts(project)["annotations"]) == \
        (counts["transcripts"], counts["annotations"])
    write_qdpx(project, tmp_path / "b.qdpx")
    with zipfile.ZipFile(tmp_path / "a.qdpx") as a, zipfile.ZipFile(tmp_path / "b.qdpx") as b:
        strip = lambda data: etree.tostring(_without_times(etree.fromstring(data)))  # noqa: E731
        assert strip(a.read("project.qde")) == strip(b.read("project.qde"))
        assert sorted(a.namelist()) == sorted(b.namelist())
    project.close()


def _without_times(root: etree._Element) -> etree._Element:
    for element in root.iter():
        element.attrib.pop("creationDateTime", None)
    return root


def test_a_case_keeps_its_own_variables_and_types_survive(tmp_path):
    project, _ = init_project(tmp_path / "p")
    import_qdpx(project, FIXTURES / "vars.qdpx")
    write_qdpx(project, tmp_path / "v.qdpx")
    with zipfile.ZipFile(tmp_path / "v.qdpx") as archive:
        root = etree.fromstring(archive.read("project.qde"))
    types = {v.get("name"): v.get("typeOfVariable") for v in root.findall(".//q:Variable", NS)}
    assert types == {"participant": "Text", "site": "Text", "Role": "Text", "Age": "Integer", "Consent": "Boolean"}
    case = root.find(".//q:Case", NS)
    assert case.get("name") == "Case P07" and case.find("q:VariableValue/q:IntegerValue", NS).text == "41"
    source = root.find(".//q:TextSource", NS)
    assert source.find("q:VariableValue/q:BooleanValue", NS).text == "true"
    assert "Age" not in {types_name for types_name in _value_names(root, source)}  # not moved to the source
    code = root.find(".//q:Code", NS)
    assert (code.get("guid"), code.get("color"), code.get("isCodable")) == \
        ("00000000-0000-4000-8000-000000000002", "#00AA00", "true")
    project.close()


def _value_names(root, owner) -> list[str]:
    names = {v.get("guid"): v.get("name") for v in root.findall(".//q:Variable", NS)}
    return [names[v.find("q:VariableRef", NS).get("targetGUID")] for v in owner.findall("q:VariableValue", NS)]


def test_is_codable_false_and_memos_and_notes_come_back(fresh, foreign, tmp_path):
    import_qdpx(fresh, foreign.write(tmp_path / "w.qdpx"))
    original = read_qdpx(tmp_path / "w.qdpx")
    write_qdpx(fresh, tmp_path / "back.qdpx")
    back = read_qdpx(tmp_path / "back.qdpx")
    assert {c.guid: c.is_codable for c in back.codes} == {c.guid: c.is_codable for c in original.codes}
    assert not all(c.is_codable for c in original.codes)
    memos = lambda refi: {sel.guid: sel.description for s in refi.sources for sel in s.selections}  # noqa: E731
    assert memos(back) == memos(original) and any(memos(original).values())
    assert [guid for guid, _ in back.notes] == [guid for guid, _ in original.notes] and original.notes
    assert "<PlainTextContent>x</PlainTextContent>" in back.notes[0][1]


def test_cli_exports_a_project_with_imported_codings_but_no_run(tmp_path):
    project, _ = init_project(tmp_path / "p")
    import_qdpx(project, FIXTURES / "qc178_two_coders.qdpx")
    root = str(project.root)
    out = tmp_path / "out.qdpx"
    result = runner.invoke(app, ["export", "-p", root, "--format", "qdpx", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "12 imported coding(s) by people" in result.output and "alice" in result.output
    assert sum(_codings(read_qdpx(out)).values()) == 12
    # --coder keeps one user's codings; --no-machine is harmless without a run
    result = runner.invoke(app, ["export", "-p", root, "-f", "qdpx", "--coder", "bob", "--no-machine",
                                 "--out", str(tmp_path / "bob.qdpx")])
    assert result.exit_code == 0, result.output
    users = {u for (_, _, _, u) in _codings(read_qdpx(tmp_path / "bob.qdpx"))}
    assert users == {"bob"} and sum(_codings(read_qdpx(tmp_path / "bob.qdpx")).values()) == 4
    project.close()


def test_export_options_that_contradict_each_other_are_refused(tmp_path):
    project, _ = init_project(tmp_path / "p")
    import_qdpx(project, FIXTURES / "vars.qdpx")
    root = str(project.root)
    for args, message in ((["-f", "qdpx", "--only-reviewed", "--all"], "--only-reviewed and --all contradict"),
                          (["-f", "xlsx", "--coder", "x"], "apply to --format qdpx"),
                          (["-f", "qdpx", "--no-machine", "--all"], "--no-machine leaves precode's suggestions out")):
        done = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "export", "-p", root,
                               *args, "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "x").exists()
    project.close()


def test_imported_codings_and_a_run_go_out_side_by_side(reviewed, tmp_path, project_schema):
    """A coded and reviewed project that also holds a QDA team's codings: both go out, each under its users."""
    root = tmp_path / "copy"
    shutil.copytree(reviewed.project.root, root)
    project = find_project(root)
    import_qdpx(project, FIXTURES / "qc178_two_coders.qdpx")
    everything = write_qdpx(project, tmp_path / "all.qdpx")
    with zipfile.ZipFile(tmp_path / "all.qdpx") as archive:
        project_schema.validate(etree.fromstring(archive.read("project.qde")))
    assert everything.imported_codings == 12 and everything.run_id == reviewed.run.id
    assert everything.codings == 12 + len(reviewed.accepted)
    assert {"alice", "bob", "Alice Ngata", "Bo Lindqvist"} <= set(everything.users)
    humans = write_qdpx(project, tmp_path / "humans.qdpx", options=ExportOptions(machine=False))
    assert humans.codings == 12 and humans.run_id is None
    assert not any(u.startswith("precode ") for u in humans.users)
    alice = write_qdpx(project, tmp_path / "alice.qdpx", options=ExportOptions(coders=["Alice Ngata"]))
    reviewer_codings = sum(1 for d in reviewed.accepted.values() if d.reviewer == "Alice Ngata")
    assert alice.codings == reviewer_codings and alice.imported_codings == 0
    # the imported tree (7 levels) and the run's codebook (NASSS) are both in the code tree
    back = read_qdpx(tmp_path / "all.qdpx")
    paths = {name_path(back.codes, c.guid) for c in back.codes}
    assert "technology > alarms > alarm_load > alarm_fatigue > night_shift > over_alerting > uber_alerting" in paths
    assert any(p.startswith("Condition > ") for p in paths)  # NASSS ('technology' is one id with qc's)
    project.close()


def test_an_empty_project_says_there_is_nothing_to_export(fresh, tmp_path):
    from pipeline.errors import PrecodeError

    with pytest.raises(PrecodeError, match="the project has no transcripts to export") as info:
        write_qdpx(fresh, tmp_path / "e.qdpx")
    assert "precode import" in (info.value.hint or "")
    assert not (tmp_path / "e.qdpx").exists()
