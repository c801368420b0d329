"""Fixtures for REFI-QDA / XLSX interchange: one coded and reviewed project, fresh projects, a foreign .qdpx.

The coded project is made once per session (three sample transcripts in three encodings, coded
with the similarity coder, then reviewed: accepts, edits of code and span, a reject and an
undo). Import tests use fresh projects, which need no embedding model, and the foreign project
of refi_fixtures.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import xmlschema

from pipeline.embed import go_offline

go_offline()

from refi_fixtures import C_DEEP, C_MAT, C_NEW, C_STAFF, C_TECH, S1, S2, U1, U2, Foreign  # noqa: E402

from pipeline.codebook import load_codebook  # noqa: E402
from pipeline.coders import make_coder  # noqa: E402
from pipeline.coding import run_coder  # noqa: E402
from pipeline.decisions import Action, Decision, current_decisions, record_decision  # noqa: E402
from pipeline.ingest import ingest_paths  # noqa: E402
from pipeline.models import Run  # noqa: E402
from pipeline.project import Project, init_project  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
SAMPLE_FILES = ["int01_icu_nurse.txt", "int02_ml_engineer.txt", "int03_radiologist.txt"]


@dataclass
class Reviewed:
    project: Project
    run: Run
    accepted: dict[str, Decision] = field(default_factory=dict)   # suggestion id → standing accept/edit
    rejected: set[str] = field(default_factory=set)


@pytest.fixture(scope="session")
def project_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(DATA / "Project.xsd"))


@pytest.fixture(scope="session")
def codebook_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(DATA / "Codebook.xsd"))


@pytest.fixture(scope="session")
def reviewed(tmp_path_factory) -> Reviewed:
    """A coded project with a space and non-ASCII characters in its path, and a mix of review decisions."""
    root = tmp_path_factory.mktemp("interchange") / "étude pilote ü"
    project, _ = init_project(root)
    ingest_paths(project, [REPO / "data" / "sample" / name for name in SAMPLE_FILES], REPO / "data" / "sample" / "metadata.csv")
    run = run_coder(project, make_coder("similarity", project), load_codebook("nasss"))
    suggestions = project.db.suggestions(run.id)
    by_transcript: dict[str, list] = {}
    for s in suggestions:
        if s.quote_start is not None:
            by_transcript.setdefault(s.transcript_id, []).append(s)
    with project.db.transaction() as conn:
        for picks in by_transcript.values():
            a, b, c, d, e = picks[0], picks[1], picks[2], picks[3], picks[4]
            record_decision(conn, Decision(suggestion_id=a.id, reviewer="Alice Ngata", action=Action.accept,
                                           note="clear = usability"))
            record_decision(conn, Decision(suggestion_id=b.id, reviewer="Bo Lindqvist", action=Action.edit,
                                           code_id="adopters.staff", quote_start=b.quote_start + 1,
                                           quote_end=b.quote_end - 1))
            record_decision(conn, Decision(suggestion_id=c.id, reviewer="Alice Ngata", action=Action.reject,
                                           reason="wrong code"))
            # accepted, then withdrawn by the same reviewer: not accepted any more
            record_decision(conn, Decision(suggestion_id=d.id, reviewer="Bo Lindqvist", action=Action.accept))
            record_decision(conn, Decision(suggestion_id=d.id, reviewer="Bo Lindqvist", action=Action.undo))
            record_decision(conn, Decision(suggestion_id=e.id, reviewer="Alice Ngata", action=Action.edit,
                                           code_id="technology"))
    state = current_decisions(project.db, run.id)
    return Reviewed(project=project, run=run,
                    accepted={k: v for k, v in state.items() if v.accepted},
                    rejected={k for k, v in state.items() if v.action is Action.reject})


@pytest.fixture
def fresh(tmp_path) -> Project:
    project, _ = init_project(tmp_path / "fresh project ø")
    yield project
    project.close()


@pytest.fixture
def foreign() -> Foreign:
    return Foreign(selections=[
        ("5e100000-0000-4000-8000-000000000001", S1, "cafe\u0301 of alarms 😀 went off constantly", C_NEW, U1),
        ("5e100000-0000-4000-8000-000000000002", S1, "nurses stopped trusting it", C_MAT, U2),
        ("5e100000-0000-4000-8000-000000000003", S1, "We changed our rota so one nurse owned the alerts.", C_STAFF, U1),
        ("5e100000-0000-4000-8000-000000000004", S1, "The résumé of the tool said it's fine.", C_TECH, U2),
        ("5e100000-0000-4000-8000-000000000005", S1, "cafe", C_DEEP, U2),  # ends inside e + U+0301
        ("5e100000-0000-4000-8000-000000000006", S2, "u\u0308ber-alerting is the real problem 🙃", C_NEW, U1),
    ])
