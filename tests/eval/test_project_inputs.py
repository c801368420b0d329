"""Project-based evaluation on the sample data: the bundled gold codes, runs, reviews, annotations, .qdpx, CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from eval.harness import EvalRequest, run_evaluation
from eval.sources import reviewed_codings, run_coverage
from pipeline.codebook import load_codebook
from pipeline.coders import make_coder
from pipeline.coding import run_coder
from pipeline.decisions import Action, Decision, record_decision
from pipeline.errors import PrecodeError
from pipeline.models import SegmentRole
from pipeline.project import open_project

REPO = Path(__file__).resolve().parents[2]
GOLD = REPO / "data" / "sample" / "gold" / "gold.csv"
GOLD_TRANSCRIPTS = ["int03_radiologist", "int06_product_manager", "int07_pharmacist", "int09_informatics_lead"]


@pytest.fixture(scope="module")
def project(built_project):
    project = open_project(built_project[0])
    yield project
    project.close()


def evaluate(project, tmp_path, **options):
    options.setdefault("out", tmp_path / "report")
    options.setdefault("bootstrap", 0)
    options.setdefault("codebook", "nasss")
    outcome = run_evaluation(EvalRequest(**options), lambda: project)
    return outcome, json.loads((options["out"] / "report.json").read_text(encoding="utf-8"))


def participant_segments(project, names):
    ids = [t.id for t in project.db.current_transcripts() if t.name in names]
    return project.db.segments(ids, role=SegmentRole.participant)


def test_cli_run_then_eval_on_the_sample_gold_codes(built_project, cli, tmp_path):
    """`precode run data/sample --codebook nasss -p P && precode eval gold.csv --run ID --gold coder_A -p P`."""
    root, run_id = built_project
    out = tmp_path / "eval report"
    result = cli("eval", GOLD, "--run", "latest", "--gold", "coder_A", "-p", root, "--out", out)
    assert result.exit_code == 0, result.output
    for name in ("report.json", "report.md", "report.html", "groups.csv"):
        assert (out / name).stat().st_size > 0
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    machine = f"similarity@{run_id}"
    assert data["coders"] == ["coder_A", "coder_B", machine] and data["gold"] == "coder_A"
    assert set(data["pairs"]) == {"coder_A|coder_B", f"coder_A|{machine}", f"coder_B|{machine}"}
    assert data["level"] == "leaf" and data["levels"] == ["domain", "subdomain", "theme", "leaf"]
    assert data["codebook"]["id"] == "nasss" and data["problems"] == []
    with project_at(root) as project:
        gold_units = len(participant_segments(project, GOLD_TRANSCRIPTS))
        all_units = len(participant_segments(project, [t.name for t in project.db.current_transcripts()]))
    assert data["unit"]["kind"] == "segment" and data["unit"]["n_units"] == all_units
    human = data["pairs"]["coder_A|coder_B"]["overall"]
    baseline = data["pairs"][f"coder_A|{machine}"]["overall"]
    assert human["n_units"] == gold_units  # the gold coders coded 4 of the 9 transcripts
    assert 0.6 <= human["kappa_micro"] < 0.9  # realistic partial disagreement between the two humans
    assert baseline["kappa_micro"] < human["kappa_micro"]
    assert set(data["overall"]["vs_gold"]) == {"coder_B", machine}
    assert data["codes"]["technology.supply_model.data_quality"]["kappa_statistic"] == "fleiss"
    assert "Agreement at the leaf level" in (out / "report.html").read_text(encoding="utf-8")
    assert data["groups"]["field"] == "group" and data["groups"]["groups"] == ["AI expert", "HCP"]
    assert "Wrote report.json, report.md, report.html" in result.output


class project_at:
    def __init__(self, root):
        self.project = open_project(root)

    def __enter__(self):
        return self.project

    def __exit__(self, *exc):
        self.project.close()


def test_disagreements_show_text_question_and_who_said_what(project, built_project, tmp_path):
    _, data = evaluate(project, tmp_path, inputs=[GOLD], level="leaf")
    assert data["coders"] == ["coder_A", "coder_B"]
    entries = data["disagreements"]["codes"]["organization.capacity"]
    units = data["disagreements"]["units"]
    lead = [e for e in entries if "department’s lead for AI" in units[e["unit"]]["text"]]
    assert len(lead) == 1 and lead[0]["coders"] == {"coder_A": True, "coder_B": False}
    unit = units[lead[0]["unit"]]
    assert unit["transcript"] == "int03_radiologist" and "describing your role" in unit["question"]
    # every listed unit really is a disagreement between the coders who saw it
    for code, listed in data["disagreements"]["codes"].items():
        for e in listed:
            said = [v for v in e["coders"].values() if v is not None]
            assert len(said) >= 2 and len(set(said)) == 2, code


def test_missing_absent_and_transcript_filter(project, built_project, tmp_path):
    # the run coded all 9 transcripts; with 'absent' the gold coders' 5 uncoded transcripts count as 'no code'
    _, absent = evaluate(project, tmp_path, inputs=[GOLD], runs=[built_project[1]], missing="absent", level="domain")
    n_all = len(participant_segments(project, [t.name for t in project.db.current_transcripts()]))
    assert absent["pairs"]["coder_A|coder_B"]["overall"]["n_units"] == n_all
    assert absent["overall"]["n_coders"] == 3 and absent["unit"]["missing"] == "absent"
    _, one = evaluate(project, tmp_path, inputs=[GOLD], transcripts=["int03_radiologist"], level="domain",
                      out=tmp_path / "one")
    assert one["overall"]["n_units"] == len(participant_segments(project, ["int03_radiologist"]))
    assert one["unit"]["transcripts"] == ["int03_radiologist"]
    with pytest.raises(PrecodeError, match="no transcript named int99"):
        evaluate(project, tmp_path, inputs=[GOLD], transcripts=["int99"])


def test_unknown_and_non_leaf_codes_are_reported(project, tmp_path):
    spans = tmp_path / "spans.csv"
    spans.write_text("transcript,quote,coder,code\n"
                     "int07_pharmacist,Our allergy records are terrible,A,technology.supply_model.data_quality\n"
                     "int07_pharmacist,Our allergy records are terrible,B,technology\n"
                     "int07_pharmacist,We're pharmacists and doctors.,B,made.up\n", encoding="utf-8")
    _, data = evaluate(project, tmp_path, inputs=[spans])
    problems = {p["source"]: p["message"] for p in data["problems"]}
    assert "unknown code id 'made.up'" in problems["spans.csv:4"]
    assert "code 'technology'" in problems["spans.csv:3"] and "not a leaf" in problems["spans.csv:3"]
    domain = data["by_level"]["domain"]["codes"]["technology"]
    assert domain["counts"]["a"] == 1 and domain["kappa"] == 1.0  # both have a technology code on the segment
    assert data["codes"]["technology.supply_model.data_quality"]["counts"]["b"] == 1


def test_character_level_on_the_project(project, built_project, tmp_path):
    _, run_id = built_project
    _, data = evaluate(project, tmp_path, inputs=[GOLD], runs=[run_id], unit="char", level="domain", bootstrap=20)
    texts = {t.name: len(t.text) for t in project.db.current_transcripts()}
    assert data["unit"]["kind"] == "char" and data["unit"]["n_units"] == sum(texts.values())
    assert "NVivo" in data["unit"]["description"]
    assert data["pairs"]["coder_A|coder_B"]["overall"]["n_units"] == sum(texts[n] for n in GOLD_TRANSCRIPTS)
    assert data["bootstrap"]["resampling"] == "runs of identically coded characters"
    listed = [e for entries in data["disagreements"]["codes"].values() for e in entries]
    assert listed
    full = {t.name: t.text for t in project.db.current_transcripts()}
    for e in listed:  # a disagreement is a passage of merged runs, shown with its exact text
        unit = data["disagreements"]["units"][e["unit"]]
        assert e["unit"] == f"{unit['transcript']}:{unit['start']}-{unit['end']}"
        assert unit["text"] == full[unit["transcript"]][unit["start"]:unit["end"]]


def test_groups_table_csv_and_field(project, built_project, tmp_path):
    outcome, data = evaluate(project, tmp_path, inputs=[GOLD], group_by="site", level="domain")
    assert data["groups"]["field"] == "site" and len(data["groups"]["groups"]) == 4
    rows = list(csv.DictReader((tmp_path / "report" / "groups.csv").read_text(encoding="utf-8").splitlines()))
    assert set(rows[0]) == {"level", "coder", "code", "label", "group", "units", "participants",
                            "participants_in_group", "share"}
    for row in rows:
        assert int(row["participants_in_group"]) == 1 and row["share"] in ("0.000", "1.000")
        assert (int(row["participants"]) > 0) == (float(row["units"]) > 0)
    with pytest.raises(PrecodeError, match="no transcript has a metadata value for --group-by 'ward'") as info:
        evaluate(project, tmp_path, inputs=[GOLD], group_by="ward")
    assert "role" in str(info.value)  # the hint lists fields that do have values (sidecar column 'role')


def test_group_shares_count_participants(project, tmp_path):
    _, data = evaluate(project, tmp_path, inputs=[GOLD], level="leaf")
    cell = data["groups"]["table"]["coder_A"]["condition.sociocultural"]
    # coder_A coded sociocultural factors for the radiologist (HCP) and both AI experts (int06, int09)
    assert cell["AI expert"]["participants"] == 2 and cell["AI expert"]["share"] == 1.0
    assert cell["HCP"] == {"units": 1.0, "participants": 1, "participants_in_group": 2, "share": 0.5}


def test_reviewed_and_per_reviewer_coders(project_copy, tmp_path):
    project, run_id = project_copy
    suggestions = project.db.suggestions(run_id)
    s = suggestions[:6]
    other = next(x for x in suggestions if x.segment_id != s[5].segment_id)
    target = next(g for g in project.db.segments([other.transcript_id]) if g.id == other.segment_id)
    with project.db.transaction() as conn:
        for x in s[:3]:
            record_decision(conn, Decision(suggestion_id=x.id, reviewer="rev1", action=Action.accept))
        for x in s[3:5]:
            record_decision(conn, Decision(suggestion_id=x.id, reviewer="rev1", action=Action.reject))
        record_decision(conn, Decision(suggestion_id=s[5].id, reviewer="rev1", action=Action.edit,
                                       code_id="adopters.carers", quote_start=target.start, quote_end=target.end))
        record_decision(conn, Decision(suggestion_id=s[3].id, reviewer="rev2", action=Action.accept))
    run = project.db.run(run_id)
    anyone = reviewed_codings(project, run)
    assert sorted((c.segment_id, c.code) for c in anyone.codings if c.segment_id) == sorted(
        [(x.segment_id, x.code_id) for x in s[:3]] + [(s[3].segment_id, s[3].code_id)])
    edited = [c for c in anyone.codings if c.segment_id is None]
    assert [(c.code, c.start, c.end) for c in edited] == [("adopters.carers", target.start, target.end)]
    rev2 = reviewed_codings(project, run, "rev2")
    assert [(c.coder, c.code) for c in rev2.codings] == [(f"reviewed:rev2@{run_id}", s[3].code_id)]
    with pytest.raises(PrecodeError, match="reviewer 'nobody' has no decisions.*rev1, rev2"):
        reviewed_codings(project, run, "nobody")
    _, data = evaluate(project, tmp_path, runs=[run_id], reviewed=True, reviewers=["rev2"], level="leaf")
    machine, reviewed = f"similarity@{run_id}", f"reviewed@{run_id}"
    assert data["coders"] == [machine, reviewed, f"reviewed:rev2@{run_id}"]
    pair = data["pairs"][f"{machine}|{reviewed}"]
    carers = pair["codes"]["adopters.carers"]["counts"]
    assert carers["c"] == 1  # the reviewer's correction, on the segment of the edited span
    assert pair["overall"]["counts"]["c"] == 1 and pair["overall"]["counts"]["a"] == 4
    assert not any(i["kind"] == "run" and i["source"] != run_id for i in data["inputs"])
    assert data["stability"] is None


def test_annotations_and_coder_selection(project_copy, tmp_path):
    project, run_id = project_copy
    t = next(x for x in project.db.current_transcripts() if x.name == "int07_pharmacist")
    start = t.text.index("Our allergy records are terrible")
    rows = [("a1", "ann", t.id, start, start + 30, "technology.supply_model.data_quality"),
            ("a2", "bea", t.id, start, start + 30, "technology.supply_model.data_quality"),
            ("a3", "bea", t.id, 0, 10, "organization.capacity")]
    with project.db.transaction() as conn:
        conn.executemany('INSERT INTO annotations (id, coder, source, transcript_id, start, "end", code_id, created_at)'
                         " VALUES (?,?,'qdpx:test.qdpx',?,?,?,?,'2026-01-01')", rows)
    _, data = evaluate(project, tmp_path, annotations=True, level="leaf")
    assert data["coders"] == ["ann", "bea"] and data["inputs"][0]["kind"] == "annotations"
    assert data["codes"]["technology.supply_model.data_quality"]["kappa"] == 1.0
    assert any("does not cover 50%" in p["message"] for p in data["problems"])  # 0-10 is interviewer text
    _, one = evaluate(project, tmp_path, coders=["bea"], runs=[run_id], level="leaf", out=tmp_path / "b")
    assert one["coders"] == ["bea", f"similarity@{run_id}"]
    with pytest.raises(PrecodeError, match="no annotations by coder.*zed.*ann, bea"):
        evaluate(project, tmp_path, coders=["zed"])
    spans = tmp_path / "more.csv"  # the same coder name in a file too: combined, and reported
    spans.write_text("transcript,quote,coder,code\nint07_pharmacist,We're pharmacists and doctors.,bea,x.y\n",
                     encoding="utf-8")
    _, both = evaluate(project, tmp_path, inputs=[spans], annotations=True, codebook=None, out=tmp_path / "c")
    assert both["coders"] == ["bea", "ann"]
    assert any("coder 'bea' appears in 2 inputs" in p["message"] for p in both["problems"])


def test_stability_across_two_runs(project_copy, tmp_path):
    project, run_id = project_copy
    second = run_coder(project, make_coder("similarity", project, threshold=0.45), load_codebook("nasss"))
    outcome, data = evaluate(project, tmp_path, runs=[run_id, second.id], inputs=[GOLD], gold="coder_A",
                             bootstrap=50)
    first, other = f"similarity@{run_id}", f"similarity@{second.id}"
    assert data["stability"]["runs"] == [first, other] and data["stability"]["level"] == "leaf"
    pair = data["stability"]["pairs"][f"{first}|{other}"]
    assert 0 < pair["kappa_micro"] < 1 and pair["n_units"] == data["unit"]["n_units"]
    assert set(data["stability"]["codes"]["adopters.staff"]) == {f"{first}|{other}"}
    html = (outcome.files[0].parent / "report.html").read_text(encoding="utf-8")
    assert "Stability across runs" in html


def test_qdpx_input_is_imported_and_read_back(project_copy, tmp_path):
    from pipeline.interchange.qdpx_write import write_qdpx

    project, run_id = project_copy
    qdpx = tmp_path / "machine codes.qdpx"
    summary = write_qdpx(project, qdpx, run_id, include_all=True)
    _, data = evaluate(project, tmp_path, inputs=[qdpx], runs=[run_id], level="leaf")
    user = summary.users[0]
    assert data["coders"] == [user, f"similarity@{run_id}"]
    assert data["inputs"][0]["kind"] == "qdpx" and "import" in data["inputs"][0]["detail"]
    # the exported grounded suggestions come back as the same codes on the same segments
    assert data["overall"]["kappa_micro"] == pytest.approx(1.0)
    assert data["overall"]["counts"]["b"] == data["overall"]["counts"]["c"] == 0


def test_cli_reports_bad_input_without_traceback(built_project, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("transcript,quote,code\nint03_radiologist,Backlog,x\n", encoding="utf-8")
    precode = Path(sys.executable).parent / "precode"  # the installed console script
    done = subprocess.run([str(precode), "eval", str(bad), "-p", str(built_project[0]), "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "bad.csv: line 1: missing column(s) 'coder'" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr and not (tmp_path / "r").exists()


def test_run_coverage_all_transcripts_or_only_those_coded(project_copy):
    project, run_id = project_copy
    current = {t.id: t.name for t in project.db.current_transcripts()}
    assert run_coverage(project, project.db.run(run_id), set(current)) == set(current)
    subset = run_coder(project, make_coder("similarity", project), load_codebook("nasss"),
                       transcript_names=["int03_radiologist"])
    coded = run_coverage(project, subset, set(current))
    assert {current[t] for t in coded} == {"int03_radiologist"}
