"""Transcript identity (path relative to the ingested folder) and speaker roles as a fixable fact."""

from __future__ import annotations

import shutil
import unicodedata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.codebook import load_codebook
from pipeline.coders import make_coder
from pipeline.coding import run_coder, select_segments
from pipeline.ingest import IngestStatus, ingest_paths
from pipeline.ingest.roles import set_speaker_role
from pipeline.models import SegmentRole
from pipeline.project import init_project

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts"
runner = CliRunner()


def _roles(project, name: str) -> dict[str, SegmentRole]:
    [t] = project.db.resolve_transcript_names([name])
    return {r.speaker: r.role for r in project.db.speakers(t.id)}


def test_same_file_name_in_two_site_folders_are_two_transcripts(tmp_path: Path):
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES / "sites", corpus)
    project, _ = init_project(tmp_path / "p")
    results = [r for r in ingest_paths(project, [corpus]) if r.status is not IngestStatus.skipped]
    assert sorted(r.name for r in results) == ["siteA/P01", "siteB/P01"]
    assert {r.status for r in results} == {IngestStatus.ingested}
    current = project.db.current_transcripts()
    assert [t.name for t in current] == ["siteA/P01", "siteB/P01"]
    assert len(select_segments(project)) == sum(r.segments for r in results) - 2 * 5  # 5 interviewer turns each
    # a changed file at the same path is a new version of that transcript only
    path = corpus / "siteB" / "P01.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\nInterviewer: Anything else?\nP01: No, that is all.\n",
                    encoding="utf-8")
    again = {r.name: r for r in ingest_paths(project, [corpus]) if r.name}
    assert again["siteA/P01"].status is IngestStatus.unchanged
    assert again["siteB/P01"].status is IngestStatus.new_version and again["siteB/P01"].version == 2
    assert project.db.counts()["transcripts"] == 2
    # status lists the names
    out = runner.invoke(app, ["status", "--project", str(project.root)])
    assert out.exit_code == 0, out.output
    assert "siteA/P01" in out.output and "siteB/P01" in out.output


def test_a_bare_name_selects_when_unique_and_is_refused_when_ambiguous(tmp_path: Path):
    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [FIXTURES / "sites"])
    assert [t.name for t in project.db.resolve_transcript_names(["siteB/P01.txt"])] == ["siteB/P01"]
    with pytest.raises(Exception, match="names 2 transcripts"):
        select_segments(project, ["P01"])


def test_nfd_file_name_is_selected_with_nfc_typed_name(tmp_path: Path):
    nfd = unicodedata.normalize("NFD", "intervju_Åsa_Öberg")
    assert nfd != unicodedata.normalize("NFC", nfd)
    path = tmp_path / f"{nfd}.txt"
    path.write_text("Interviewer: Hur började det?\nP1: Det började med ett pilotprojekt på avdelningen.\n",
                    encoding="utf-8")
    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [path])
    segments = select_segments(project, ["intervju_Åsa_Öberg"])  # typed in NFC
    assert len(segments) == 1 and segments[0].text.startswith("Det började")


def test_teams_and_zoom_exports_with_real_names_infer_the_interviewer(tmp_path: Path):
    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [FIXTURES / "teams", FIXTURES / "zoom"])
    assert _roles(project, "team_interview_03") == {"Maria Gonzalez": SegmentRole.interviewer,
                                                    "Tomasz Nowak": SegmentRole.participant}
    assert _roles(project, "GMT20260312-091500_Recording.transcript") == {
        "Aisha Rahman": SegmentRole.interviewer, "Dr Lindqvist": SegmentRole.participant}
    coded = select_segments(project)
    assert coded and {s.speaker for s in coded} == {"Tomasz Nowak", "Dr Lindqvist"}
    assert all(s.context for s in coded)  # each answer carries the interviewer's question


@pytest.mark.slow
def test_no_suggestion_on_interviewer_turns_of_teams_and_zoom_exports(tmp_path: Path):
    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [FIXTURES / "teams", FIXTURES / "zoom"])
    run = run_coder(project, make_coder("similarity", project, threshold=-1.0), load_codebook("nasss"))
    suggestions = project.db.suggestions(run.id)
    by_id = {s.id: s for s in project.db.segments()}
    assert suggestions
    assert {by_id[s.segment_id].speaker for s in suggestions} <= {"Tomasz Nowak", "Dr Lindqvist"}


def test_ingest_prints_the_inference_with_evidence_and_how_to_fix_it(tmp_path: Path):
    project, _ = init_project(tmp_path / "p")
    out = runner.invoke(app, ["ingest", str(FIXTURES / "teams"), "--project", str(project.root)])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "interviewer 'Maria Gonzalez'" in text and "asked 3 of 3 questions" in text
    assert "precode speakers set" in text


def test_focus_group_one_moderator_several_participants(tmp_path: Path):
    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [FIXTURES / "focus_group"])
    roles = _roles(project, "fg_pharmacists_2026-04-02")
    assert [s for s, r in roles.items() if r is SegmentRole.interviewer] == ["Lena Fischer"]
    assert len([r for r in roles.values() if r is SegmentRole.participant]) == 4


def test_first_speaker_is_the_fallback_and_the_guess_is_called_weak(tmp_path: Path):
    path = tmp_path / "chat.txt"
    path.write_text("Anna Berg: Tell me about the rollout.\nJonas Lind: It was slow. Very slow indeed.\n"
                    "Anna Berg: And the training.\nJonas Lind: The training came late.\n", encoding="utf-8")
    project, _ = init_project(tmp_path / "p")
    [result] = ingest_paths(project, [path])
    assert _roles(project, "chat") == {"Anna Berg": SegmentRole.interviewer, "Jonas Lind": SegmentRole.participant}
    assert "spoke first" in result.roles and "weak guess" in result.roles


def test_interviewer_names_setting_wins_over_inference(tmp_path: Path):
    project, _ = init_project(tmp_path / "p")
    project.settings.ingest.interviewer_names = ["Tomasz Nowak"]
    ingest_paths(project, [FIXTURES / "teams"])
    assert _roles(project, "team_interview_03")["Tomasz Nowak"] is SegmentRole.interviewer


@pytest.mark.slow
def test_changing_a_role_rederives_only_that_transcript_keeps_codes_and_marks_runs_stale(tmp_path: Path):
    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [FIXTURES / "teams", FIXTURES / "zoom"])
    run = run_coder(project, make_coder("similarity", project, threshold=-1.0), load_codebook("nasss"))
    db = project.db
    [teams] = db.resolve_transcript_names(["team_interview_03"])
    [zoom] = db.resolve_transcript_names(["GMT20260312-091500_Recording.transcript"])
    zoom_before = db.segments([zoom.id])
    suggestions_before = db.suggestions(run.id)
    some = suggestions_before[0]
    db.conn.execute("INSERT INTO decisions (suggestion_id, reviewer, action, at) VALUES (?, 'rev', 'accept', 'now')",
                    (some.id,))
    teams_ids = [s.id for s in db.segments([teams.id])]

    # Maria was the interviewer; say she is a participant (e.g. a co-researcher answering too)
    [change] = set_speaker_role(project, "maria gonzalez", SegmentRole.participant)
    assert change.transcript == "team_interview_03" and change.stale_runs == [run.id]
    assert change.segments_changed > 0
    after = db.segments([teams.id])
    assert [s.id for s in after] == teams_ids  # same spans: nothing re-read, re-split or re-keyed
    assert {s.role for s in after} == {SegmentRole.participant}
    assert db.segments([zoom.id]) == zoom_before  # the other transcript is untouched
    assert db.suggestions(run.id) == suggestions_before  # codes kept
    assert db.conn.execute("SELECT COUNT(*) FROM decisions WHERE suggestion_id = ?", (some.id,)).fetchone()[0] == 1
    assert set(db.stale_runs()) == {run.id}
    # status shows the stale run and why
    out = runner.invoke(app, ["status", "--project", str(project.root)])
    assert out.exit_code == 0, out.output
    assert f"stale run {run.id}" in " ".join(out.output.split()) and "team_interview_03" in out.output
    # a new version of the transcript keeps the role set by hand
    copy = tmp_path / "teams2"
    copy.mkdir()
    text = (FIXTURES / "teams" / "team_interview_03.vtt").read_text(encoding="utf-8")
    (copy / "team_interview_03.vtt").write_text(text + "\n99\n00:01:15.000 --> 00:01:20.000\n<v Maria Gonzalez>Thank you.</v>\n",
                                                 encoding="utf-8")
    ingest_paths(project, [copy])
    assert _roles(project, "team_interview_03")["Maria Gonzalez"] is SegmentRole.participant


def test_speakers_command_lists_and_sets_roles(tmp_path: Path):
    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [FIXTURES / "zoom"])
    listed = runner.invoke(app, ["speakers", "--project", str(project.root)])
    assert listed.exit_code == 0, listed.output
    assert "Aisha Rahman" in listed.output and "interviewer" in listed.output and "inferred" in listed.output
    changed = runner.invoke(app, ["speakers", "set", "Dr Lindqvist", "interviewer", "--project", str(project.root)])
    assert changed.exit_code == 0, changed.output
    assert "participant -> interviewer" in changed.output
    bad = runner.invoke(app, ["speakers", "set", "Nobody", "interviewer", "--project", str(project.root)])
    assert bad.exit_code != 0 and "no speaker 'Nobody'" in str(bad.exception or bad.output)


def test_reingest_after_a_settings_change_updates_roles_of_unchanged_files(tmp_path: Path):
    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [FIXTURES / "teams"])
    assert _roles(project, "team_interview_03")["Tomasz Nowak"] is SegmentRole.participant
    project.settings.ingest.interviewer_names = ["Tomasz Nowak"]
    project.settings.ingest.infer_interviewer = False
    [again] = ingest_paths(project, [FIXTURES / "teams"])
    assert again.status is IngestStatus.unchanged
    assert "'Tomasz Nowak' is now interviewer" in again.message and "'Maria Gonzalez' is now participant" in again.message
    assert _roles(project, "team_interview_03") == {"Maria Gonzalez": SegmentRole.participant,
                                                    "Tomasz Nowak": SegmentRole.interviewer}
    [t] = project.db.resolve_transcript_names(["team_interview_03"])
    assert {s.speaker for s in project.db.segments([t.id], role=SegmentRole.participant)} == {"Maria Gonzalez"}
    # and nothing changes on a third ingest
    [third] = ingest_paths(project, [FIXTURES / "teams"])
    assert third.message == "unchanged since last ingest"


@pytest.mark.slow
def test_exports_name_transcripts_by_their_relative_path(tmp_path: Path):
    import csv

    from pipeline.interchange.tabular import write_export

    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [FIXTURES / "sites"])
    run_coder(project, make_coder("similarity", project, threshold=-1.0), load_codebook("nasss"))
    out = tmp_path / "export.csv"
    assert write_export(project, "csv", out) > 0
    with out.open(encoding="utf-8-sig") as handle:
        names = {row["transcript"] for row in csv.DictReader(handle)}
    assert names == {"siteA/P01", "siteB/P01"}
