"""An unchanged re-run of `precode code` reports the finished run and stores no duplicate."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.ingest import ingest_paths
from pipeline.project import init_project, open_project

pytestmark = pytest.mark.slow


def _code(root: Path, *extra: str) -> str:
    result = CliRunner().invoke(app, ["code", "-c", "nasss", "-p", str(root), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_an_unchanged_rerun_reports_the_existing_run_and_stores_nothing(tmp_path: Path, sample_dir: Path):
    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [sample_dir / "int03_radiologist.txt"])
    project.close()
    _code(project.root)
    (first,) = open_project(project.root).db.runs()

    started = time.monotonic()
    output = _code(project.root)
    assert time.monotonic() - started < 20  # no embedding, no coding: the run is looked up
    assert "Unchanged" in output and first.id in output
    runs = open_project(project.root).db.runs()
    assert [r.id for r in runs] == [first.id]

    _code(project.root, "--new-run")  # asked for: a new run
    assert len(open_project(project.root).db.runs()) == 2
    _code(project.root, "--threshold", "0.5")  # another parameter: another command
    assert len(open_project(project.root).db.runs()) == 3

    changed = open_project(project.root)
    ingest_paths(changed, [sample_dir / "int01_icu_nurse.txt"])  # new segments: not unchanged any more
    changed.close()
    assert "Unchanged" not in _code(project.root)
    assert len(open_project(project.root).db.runs()) == 4
