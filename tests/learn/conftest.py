"""A small project with hand-coded interviews: three topics, two transcripts coded by 'ana', one not."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.codebook import Codebook, load_codebook
from pipeline.ingest import ingest_paths
from pipeline.models import utcnow
from pipeline.project import Project, init_project
from pipeline.store.annotations import Annotation, upsert_annotation

CODEBOOK = """\
schema_version: 1
id: clinic
name: Clinic study
version: "1"
levels: [domain, theme]
codes:
  - id: money
    label: Money
    definition: Talk about costs, budgets and funding.
  - id: money.cost
    label: Cost
    parent: money
    definition: What the system costs to buy or run, and who pays.
  - id: people
    label: People
    definition: Talk about staff.
  - id: people.training
    label: Staff training
    parent: people
    definition: Learning to use the system, courses and teaching for staff.
  - id: safety
    label: Patient safety
    definition: Errors, harm to patients and near misses.
"""

ANSWERS = {
    "money.cost": [
        "The licence cost us forty thousand a year and the finance office was not happy about the budget.",
        "Running costs doubled once we paid for the extra servers and the maintenance contract.",
        "Nobody told us who would pay for it after the pilot funding ran out.",
        "The price went up when the vendor changed the contract, so the budget was gone.",
    ],
    "people.training": [
        "We had a two-hour course on the system before go-live and a few refresher sessions.",
        "The new nurses learned it from the senior ones at the bedside, there was no formal teaching.",
        "I ran the training sessions for the junior doctors myself on Tuesday afternoons.",
        "The e-learning module was too long, most staff clicked through it without learning anything.",
    ],
    "safety": [
        "One patient got the wrong dose because the alert was missed, which was a serious error.",
        "We had a near miss when the system showed another patient's results.",
        "I worry the tool will harm patients if people trust it blindly.",
        "An incident report was filed after a medication error on the ward.",
    ],
}


def transcript(lines: list[str]) -> str:
    out = []
    for i, line in enumerate(lines):
        out.append(f"Interviewer: Could you tell me more about that, question {i + 1}?\n")
        out.append(f"P1: {line}\n")
    return "\n".join(out)


@pytest.fixture(scope="module")
def codebook(tmp_path_factory) -> Codebook:
    path = tmp_path_factory.mktemp("codebook") / "clinic.yaml"
    path.write_text(CODEBOOK, encoding="utf-8")
    return load_codebook(str(path))


@pytest.fixture()
def coded_project(tmp_path) -> Project:
    """t1 and t2 coded by 'ana' (each answer with its code), t3 not coded."""
    folder = tmp_path / "transcripts"
    folder.mkdir()
    codes = list(ANSWERS)
    for t in range(3):
        lines = [ANSWERS[code][(t + k) % 4] for k in range(2) for code in codes]
        (folder / f"t{t + 1}.txt").write_text(transcript(lines), encoding="utf-8")
    project, _ = init_project(tmp_path / "project")
    ingest_paths(project, [folder])
    by_name = {tr.name: tr for tr in project.db.current_transcripts()}
    with project.db.transaction() as conn:
        for name in ("t1", "t2"):
            tr = by_name[name]
            for code, answers in ANSWERS.items():
                for answer in answers:
                    start = tr.text.find(answer)
                    if start >= 0:
                        upsert_annotation(conn, Annotation(f"{name}:{start}", "ana", "test", tr.id, start,
                                                           start + len(answer), code, None, None, utcnow()))
    return project


def segment_of(project: Project, text: str):
    return next(s for s in project.db.segments() if text in s.text)


def answers_path() -> Path:
    return Path(__file__)
