"""Fixtures of the evaluation harness: one sample project built through the CLI, copied for tests that change it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.models import Transcript, Turn
from pipeline.project import Project, open_project

REPO = Path(__file__).resolve().parents[2]
GOLD = REPO / "data" / "sample" / "gold" / "gold.csv"


def invoke(*args: str):
    """Run `precode ARGS` in-process; PrecodeError is left to propagate as the exception."""
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)


@pytest.fixture(scope="session")
def built_project(tmp_path_factory) -> tuple[Path, str]:
    """`precode run data/sample --codebook nasss -p P`, once per session: (project dir, run id)."""
    root = tmp_path_factory.mktemp("eval") / "eval project ü"
    result = invoke("run", REPO / "data" / "sample", "--codebook", "nasss", "-p", root)
    assert result.exit_code == 0, result.output
    project = open_project(root)
    run_id = project.db.run(None).id
    project.close()
    return root, run_id


@pytest.fixture
def project_copy(built_project, tmp_path) -> tuple[Project, str]:
    """A private copy of the built project for tests that add runs, decisions or annotations."""
    root = tmp_path / "copy"
    shutil.copytree(built_project[0], root)
    project = open_project(root)
    yield project, built_project[1]
    project.close()


@pytest.fixture(scope="session")
def make_transcript():
    """A factory of in-memory transcripts (no project) for the readers and aligners."""
    def make(name: str, text: str) -> Transcript:
        return Transcript(id=f"id-{name}", name=name, source_path=f"/x/{name}.txt", source_sha256="0", format="txt",
                          encoding="utf-8", text=text, turns=[Turn(speaker="P", start=0, end=len(text))])
    return make


@pytest.fixture(scope="session")
def cli():
    """`cli(*args)` runs `precode ARGS` in-process and returns typer's Result."""
    return invoke
