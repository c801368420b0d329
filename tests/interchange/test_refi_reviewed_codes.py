"""Codes reviewers add by hand ("add a missed code") leave the project with the reviewed run.

The review service stores such a code as a suggestion of the reviewer's manual run with an
accept decision. These tests add codes through the real `ReviewSession` and check that the XLSX,
the accepted-codings CSV/JSONL (library and `python -m pipeline export`) and the .qdpx (and its
re-import) carry them as the reviewer's codings; and that codes withdrawn, on transcripts the
run did not code, or made with another codebook do not.
"""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree
from openpyxl import load_workbook

from pipeline.embed import go_offline

go_offline()

from pipeline.codebook import Codebook, load_codebook  # noqa: E402
from pipeline.errors import PrecodeError  # noqa: E402
from pipeline.ingest import ingest_paths  # noqa: E402
from pipeline.interchange.codings import CODING_COLUMNS, coding_rows, select_codings  # noqa: E402
from pipeline.interchange.qdpx_import import import_qdpx  # noqa: E402
from pipeline.interchange.qdpx_write import write_qdpx  # noqa: E402
from pipeline.interchange.refi import PROJECT_NS, code_guid, guid, machine_user_name  # noqa: E402
from pipeline.interchange.tabular import EXPORT_COLUMNS, write_codings_table  # noqa: E402
from pipeline.interchange.xlsx import write_xlsx  # noqa: E402
from pipeline.models import Grounding, Run, RunStatus, Segment, SegmentRole, Suggestion  # noqa: E402
from pipeline.project import Project, init_project  # noqa: E402
from pipeline.review.models import DecisionIn, MissedIn, SegmentCode  # noqa: E402
from pipeline.review.service import ReviewSession  # noqa: E402
from pipeline.reviewed import accepted_codings, manual_runs  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
NS = {"q": PROJECT_NS}
MACHINE_CODES = ["technology.material_properties.usability", "value_proposition.demand_side.perceived_value"]
MISSED = "adopters.staff"              # never suggested by the machine run below
MISSED_BY_BEN = "organization.routines.fit_practice"
WITHDRAWN = "wider_system.regulatory_legal.responsibility"


def _machine_run(project: Project, codebook: Codebook, run_id: str, transcript_ids: set[str],
                 codes: list[str]) -> Run:
    """A completed machine run through the DB layer: one code per participant segment, on its first words."""
    db = project.db
    db.save_codebook(codebook)
    run = Run(id=run_id, coder="llm", model="stub-llm-1", prompt_hash="p" * 12, codebook_id=codebook.id,
              codebook_hash=codebook.content_hash, level="leaf")
    db.start_run(run)
    suggestions = []
    for n, seg in enumerate(s for s in db.segments(list(transcript_ids), role=SegmentRole.participant)):
        code_id = codes[n % len(codes)]
        end = min(len(seg.text), 60)
        suggestions.append(Suggestion(
            id=hashlib.sha256(f"{run_id}:{seg.id}:{code_id}".encode()).hexdigest()[:16], run_id=run_id,
            segment_id=seg.id, transcript_id=seg.transcript_id, code_id=code_id, quote=seg.text[:end],
            quote_start=seg.start, quote_end=seg.start + end, grounding=Grounding.exact, score=0.5 + n % 5 / 10,
            rationale="stub"))
    with db.transaction() as conn:
        db.insert_suggestions(conn, suggestions)
    db.finish_run(run_id, RunStatus.completed, {"suggestions": len(suggestions)})
    return db.run(run_id)


@dataclass
class Study:
    project: Project
    run: Run                       # the nasss run under review (int01 and int02 only)
    qif_run: Run
    accepted_machine: str          # a machine suggestion Ana accepted
    added: SegmentCode             # Ana's hand-added code on selected words
    added_segment: Segment
    by_ben: SegmentCode            # Ben's hand-added code on a whole segment
    withdrawn: SegmentCode         # added by Ana, then withdrawn
    outside: SegmentCode           # added by Ana on int03, which the run did not code
    qif_added: SegmentCode         # added by Ana while reviewing the QIF run


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Study:
    root = tmp_path_factory.mktemp("hand codes") / "revue à la main"
    project, _ = init_project(root)
    names = ["int01_icu_nurse.txt", "int02_ml_engineer.txt", "int03_radiologist.txt"]
    ingest_paths(project, [SAMPLE / n for n in names], SAMPLE / "metadata.csv")
    ids = {t.name: t.id for t in project.db.current_transcripts()}
    qif = load_codebook("qif")
    # the QIF run first, so the NASSS run is the latest completed run (the export default)
    qif_run = _machine_run(project, qif, "20260301-080000-qif1", {ids["int01_icu_nurse"]},
                           [c.id for c in qif.codes if not qif.children(c.id)][:2])
    run = _machine_run(project, load_codebook("nasss"), "20260301-090000-nas1",
                       {ids["int01_icu_nurse"], ids["int02_ml_engineer"]}, MACHINE_CODES)
    segments = project.db.segments([ids["int01_icu_nurse"]], role=SegmentRole.participant)
    int03 = project.db.segments([ids["int03_radiologist"]], role=SegmentRole.participant)

    ana = ReviewSession.open(project, run.id, "Ana Silva")
    first = project.db.suggestions(run.id)[0]
    ana.decide(first.id, DecisionIn(action="accept"))
    seg = segments[2]
    words = seg.text.index(" ", 10)  # the words after the first few
    added = ana.add_missed(MissedIn(segment_id=seg.id, code_id=MISSED, quote_start=seg.start + words,
                                    quote_end=seg.start + min(len(seg.text), words + 50), note="machine missed it"))
    withdrawn = ana.add_missed(MissedIn(segment_id=segments[3].id, code_id=WITHDRAWN))
    ana.undo(withdrawn.suggestion_id)
    outside = ana.add_missed(MissedIn(segment_id=int03[0].id, code_id=MISSED))
    ben = ReviewSession.open(project, run.id, "Ben Okafor")
    by_ben = ben.add_missed(MissedIn(segment_id=segments[4].id, code_id=MISSED_BY_BEN))
    ana_qif = ReviewSession.open(project, qif_run.id, "Ana Silva")
    qif_added = ana_qif.add_missed(MissedIn(segment_id=segments[5].id, code_id=qif.codes[0].id))
    study = Study(project=project, run=run, qif_run=qif_run, accepted_machine=first.id, added=added,
                  added_segment=seg, by_ben=by_ben, withdrawn=withdrawn, outside=outside, qif_added=qif_added)
    yield study
    project.close()


def _manual_run_of(project: Project, reviewer: str, run: Run) -> Run:
    [manual] = [r for r in manual_runs(project.db, run) if r.model == reviewer]
    return manual


def test_the_review_service_stored_the_codes_as_manual_runs(study):
    """The premise: hand-added codes live in per-reviewer manual runs, not in the run under review."""
    db = study.project.db
    assert study.added.suggestion_id not in {s.id for s in db.suggestions(study.run.id)}
    ana = _manual_run_of(study.project, "Ana Silva", study.run)
    assert (ana.coder, ana.status, ana.codebook_hash) == ("reviewer", RunStatus.running, study.run.codebook_hash)
    assert {s.id for s in db.suggestions(ana.id)} == {study.added.suggestion_id, study.withdrawn.suggestion_id,
                                                     study.outside.suggestion_id}
    # the QIF run's manual run is another one, and not offered for the NASSS run
    assert study.qif_added.suggestion_id not in {
        s.id for r in manual_runs(db, study.run) for s in db.suggestions(r.id)}


def test_accepted_codings_include_the_hand_added_codes_with_their_reviewer(study):
    codings = accepted_codings(study.project.db, study.run)
    by_id = {c.suggestion.id: c for c in codings}
    assert set(by_id) == {study.accepted_machine, study.added.suggestion_id, study.by_ben.suggestion_id}
    added = by_id[study.added.suggestion_id]
    assert added.added_by_reviewer and added.reviewer == "Ana Silva" and added.code_id == MISSED
    assert (added.start, added.end) == (study.added.quote_start, study.added.quote_end)
    assert by_id[study.by_ben.suggestion_id].reviewer == "Ben Okafor"
    assert not by_id[study.accepted_machine].added_by_reviewer
    # one reviewer: their decisions and the codes they added, nobody else's
    assert {c.suggestion.id for c in accepted_codings(study.project.db, study.run, "Ben Okafor")} == {
        study.by_ben.suggestion_id}
    assert {c.suggestion.id for c in accepted_codings(study.project.db, study.run, include_manual=False)} == {
        study.accepted_machine}


def test_xlsx_rows_hold_the_hand_added_codes(study, tmp_path):
    n = write_xlsx(study.project, tmp_path / "codes.xlsx", study.run.id)
    rows = list(load_workbook(tmp_path / "codes.xlsx").active.iter_rows(values_only=True))
    assert list(rows[0]) == CODING_COLUMNS
    records = {r["suggestion_id"]: r for r in (dict(zip(CODING_COLUMNS, row)) for row in rows[1:])}
    assert n == len(records) == 3
    row = records[study.added.suggestion_id]
    text = study.project.db.transcript(study.added_segment.transcript_id).text
    ana = _manual_run_of(study.project, "Ana Silva", study.run)
    assert row["transcript"] == "int01_icu_nurse" and row["participant"] == "HCP1" and row["group"] == "HCP"
    assert (row["code_id"], row["reviewer"], row["decision"], row["note"]) == (
        MISSED, "Ana Silva", "accept", "machine missed it")
    assert row["code_path"] == load_codebook("nasss").path(MISSED)
    assert (row["quote_start"], row["quote_end"]) == (study.added.quote_start, study.added.quote_end)
    assert row["quote"] == text[row["quote_start"]:row["quote_end"]]
    assert (row["coder"], row["model"], row["run_id"]) == ("reviewer", "Ana Silva", ana.id)
    assert row["decision_time_utc"] is not None and row["score"] is None and row["suggested_code_id"] is None
    assert records[study.by_ben.suggestion_id]["reviewer"] == "Ben Okafor"
    assert records[study.accepted_machine]["coder"] == "llm"
    for absent in (study.withdrawn, study.outside, study.qif_added):
        assert absent.suggestion_id not in records


def test_all_adds_the_machine_suggestions_once_and_keeps_the_hand_added_codes(study):
    everything = select_codings(study.project, study.run.id, include_all=True)
    ids = [c.suggestion.id for c in everything.codings]
    machine = study.project.db.suggestions(study.run.id)
    assert len(ids) == len(set(ids)) == len(machine) + 2
    assert {study.added.suggestion_id, study.by_ben.suggestion_id} <= set(ids)
    assert study.withdrawn.suggestion_id not in ids and study.outside.suggestion_id not in ids
    assert everything.added_by_reviewers == 2


def test_qdpx_holds_the_hand_added_codes_as_the_reviewers_and_they_survive_import(study, project_schema, tmp_path):
    path = tmp_path / "reviewed codes.qdpx"
    summary = write_qdpx(study.project, path, study.run.id)
    assert summary.codings == 3 and {"Ana Silva", "Ben Okafor"} <= set(summary.users)
    with zipfile.ZipFile(path) as archive:
        qde = archive.read("project.qde")
    project_schema.validate(etree.fromstring(qde))
    root = etree.fromstring(qde)
    users = {u.get("guid"): u.get("name") for u in root.findall(".//q:User", NS)}
    selection = root.find(f".//q:PlainTextSelection[@guid='{guid('selection', study.added.suggestion_id)}']", NS)
    assert selection is not None
    assert users[selection.get("creatingUser")] == "Ana Silva"
    assert (int(selection.get("startPosition")), int(selection.get("endPosition"))) == (
        study.added.quote_start, study.added.quote_end)
    assert selection.find("q:Coding/q:CodeRef", NS).get("targetGUID") == code_guid("nasss", MISSED)
    description = selection.find("q:Description", NS).text
    assert "Added by reviewer Ana Silva" in description and "Confidence" not in description
    assert "Review: accept by Ana Silva" in description and "note: machine missed it" in description
    for absent in (study.withdrawn, study.outside, study.qif_added):
        assert root.find(f".//q:PlainTextSelection[@guid='{guid('selection', absent.suggestion_id)}']", NS) is None

    target, _ = init_project(tmp_path / "imported ø")
    try:
        report = import_qdpx(target, path)
        names = {t.id: t.name for t in target.db.current_transcripts()}
        imported = {(r["coder"], names[r["transcript_id"]], r["start"], r["end"], r["code_id"])
                    for r in target.db.conn.execute('SELECT coder, transcript_id, start, "end", code_id FROM annotations')}
        assert ("Ana Silva", "int01_icu_nurse", study.added.quote_start, study.added.quote_end, MISSED) in imported
        assert ("Ben Okafor", "int01_icu_nurse", study.by_ben.quote_start, study.by_ben.quote_end,
                MISSED_BY_BEN) in imported
        assert report.coders == {"Ana Silva": 2, "Ben Okafor": 1}
        assert machine_user_name(study.run.coder, study.run.model) not in report.coders
    finally:
        target.close()


def _csv_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _as_text(row: dict) -> dict:
    """A coding row as the CSV holds it (everything text, times as the xlsx shows them)."""
    out = {}
    for key, value in row.items():
        if value is None:
            out[key] = ""
        elif key == "decision_time_utc":
            out[key] = value.strftime("%Y-%m-%d %H:%M:%S")
        else:
            out[key] = str(value)
    return out


@pytest.mark.parametrize("include_all", [False, True], ids=["accepted", "all"])
def test_accepted_csv_and_jsonl_are_exactly_the_xlsx_rows(study, tmp_path, include_all):
    expected = coding_rows(select_codings(study.project, study.run.id, include_all))
    assert write_codings_table(study.project, "csv", tmp_path / "a.csv", study.run.id, include_all) == len(expected)
    assert write_codings_table(study.project, "jsonl", tmp_path / "a.jsonl", study.run.id, include_all) == len(expected)
    rows = _csv_rows(tmp_path / "a.csv")
    assert list(rows[0]) == CODING_COLUMNS
    assert rows == [_as_text(r) for r in expected]
    records = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["suggestion_id"] for r in records] == [r["suggestion_id"] for r in expected]
    added = next(r for r in records if r["suggestion_id"] == study.added.suggestion_id)
    assert added["reviewer"] == "Ana Silva" and added["code_id"] == MISSED and added["score"] is None
    assert isinstance(added["quote_start"], int) and len(added["decision_time_utc"]) == 19
    # the same rows as the workbook
    write_xlsx(study.project, tmp_path / "a.xlsx", study.run.id, include_all)
    sheet = list(load_workbook(tmp_path / "a.xlsx").active.iter_rows(values_only=True))[1:]
    assert [_as_text(dict(zip(CODING_COLUMNS, r))) for r in sheet] == rows


def test_a_failed_codings_table_leaves_no_temporary_file(study, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()  # a folder where the file should go: the final rename fails
    (out / "keep.txt").write_text("x")
    with pytest.raises(OSError):
        write_codings_table(study.project, "csv", out, study.run.id)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    with pytest.raises(PrecodeError, match="unknown export format 'tsv'"):
        write_codings_table(study.project, "tsv", tmp_path / "a.tsv", study.run.id)


# -- the command line: python -m pipeline export ... ---------------------------------------------------
def _precode(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=REPO)


def test_export_csv_accepted_from_the_command_line(study, tmp_path):
    root = study.project.root
    done = _precode("export", "-p", root, "--format", "csv", "--accepted", "--out", tmp_path / "accepted.csv")
    assert done.returncode == 0, done.stderr
    assert "Wrote 3 codings (accepted review decisions)" in " ".join(done.stdout.split())
    rows = _csv_rows(tmp_path / "accepted.csv")
    assert rows == [_as_text(r) for r in coding_rows(select_codings(study.project, study.run.id))]
    assert {r["reviewer"] for r in rows} == {"Ana Silva", "Ben Okafor"}
    assert any(r["suggestion_id"] == study.added.suggestion_id and r["coder"] == "reviewer" for r in rows)

    # jsonl with --all, the latest completed run by default (the NASSS run)
    done = _precode("export", "-p", root, "-f", "jsonl", "--accepted", "--all", "--out", tmp_path / "all.jsonl")
    assert done.returncode == 0, done.stderr
    records = [json.loads(x) for x in (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == len(study.project.db.suggestions(study.run.id)) + 2
    assert list(records[0]) == CODING_COLUMNS

    # default file name: accepted.csv beside the suggestions' export.csv
    done = _precode("export", "-p", root, "-f", "csv", "--accepted", "--run", study.run.id)
    assert done.returncode == 0, done.stderr
    assert _csv_rows(root / "accepted.csv") == rows
    assert not (root / "export.csv").exists()

    # --accepted is what xlsx holds anyway
    done = _precode("export", "-p", root, "-f", "xlsx", "--accepted", "--out", tmp_path / "a.xlsx")
    assert done.returncode == 0 and (tmp_path / "a.xlsx").is_file()


def test_export_csv_without_accepted_still_writes_the_suggestions(study, tmp_path):
    done = _precode("export", "-p", study.project.root, "-f", "csv", "--out", tmp_path / "s.csv",
                    "--run", study.run.id)
    assert done.returncode == 0, done.stderr
    rows = _csv_rows(tmp_path / "s.csv")
    assert list(rows[0]) == EXPORT_COLUMNS
    assert len(rows) == len(study.project.db.suggestions(study.run.id))
    assert study.added.suggestion_id not in {r.get("suggestion_id") for r in rows}


@pytest.mark.parametrize("args, message", [
    (["-f", "csv", "--all"], "--all applies to --format qdpx or xlsx, or to csv/jsonl with --accepted"),
    (["-f", "jsonl", "--all"], "--all applies to --format qdpx or xlsx, or to csv/jsonl with --accepted"),
    (["-f", "csv", "--accepted", "--include-ungrounded"], "--include-ungrounded applies to csv/jsonl (without"),
    (["-f", "xlsx", "--accepted", "--include-ungrounded"], "--include-ungrounded applies to csv/jsonl"),
    (["-f", "tsv", "--accepted"], "choose one of: csv, jsonl, qdpx, xlsx"),
])
def test_export_options_that_do_not_fit_together_are_refused(study, tmp_path, args, message):
    done = _precode("export", "-p", study.project.root, *args, "--out", tmp_path / "x.out")
    assert done.returncode == 2, done.stdout
    assert message in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())
