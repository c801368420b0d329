"""The fixture corpus of real-world export styles: every file ingests, with the right interviewer and
participants under default settings, and no speech is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.coding import select_segments
from pipeline.ingest import IngestStatus, ingest_paths
from pipeline.models import SegmentRole
from pipeline.project import init_project

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts"

EXPECTED = {  # name: (interviewer, participants, a phrase from the last answer)
    "teams/team_interview_03": ("Maria Gonzalez", {"Tomasz Nowak"}, "never really recovered"),
    "zoom/GMT20260312-091500_Recording.transcript": ("Aisha Rahman", {"Dr Lindqvist"}, "the expensive part"),
    "otter/otter_interview_kofi": ("Aisha Rahman", {"Kofi Mensah"}, "nobody signs it off"),
    "rev/rev_interview_chen": ("Speaker 1", {"Dr. Chen"}, "instead of a hotline"),
    "maxqda/maxqda_f4_interview_B07": ("I", {"B"}, "wenig Unterstützung"),
    "nvivo/nvivo_export_respondent4": ("Interviewer", {"Respondent 4"}, "gone within a year"),
    "nordic/sv_vardcentral_deltagare2": ("Intervjuare", {"Deltagare 2"}, "mellan andra patienter"),
    "nordic/fi_terveysasema_osallistuja5": ("Haastattelija", {"Osallistuja 5"}, "soittamaan perään"),
    "focus_group/fg_pharmacists_2026-04-02": (
        "Lena Fischer", {"Jürgen Weiß", "Sabine Krüger", "Mehmet Yılmaz", "Claudia Neumann"}, "von Anfang an mitdenken"),
    "sites/siteA/P01": ("Interviewer", {"P01"}, "risk to patients"),
    "sites/siteB/P01": ("Interviewer", {"P01"}, "not sustainable"),
}


@pytest.fixture(scope="module")
def corpus_project(tmp_path_factory):
    project, _ = init_project(tmp_path_factory.mktemp("corpus") / "p")
    results = ingest_paths(project, [FIXTURES])
    return project, results


def test_every_fixture_ingests_without_failure(corpus_project):
    project, results = corpus_project
    assert not [r for r in results if r.status is IngestStatus.failed]
    assert sorted(t.name for t in project.db.current_transcripts()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_roles_under_default_settings(corpus_project, name: str):
    project, _ = corpus_project
    interviewer, participants, last_words = EXPECTED[name]
    [t] = project.db.resolve_transcript_names([name])
    roles = {r.speaker: r.role for r in project.db.speakers(t.id)}
    assert [s for s, r in roles.items() if r is SegmentRole.interviewer] == [interviewer]
    assert {s for s, r in roles.items() if r is SegmentRole.participant} == participants
    coded = select_segments(project, [name])
    assert coded and {s.speaker for s in coded} == participants
    assert last_words in coded[-1].text  # the last answer is there, whole
