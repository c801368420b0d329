"""`precode vectors`: user mistakes are one clear error (exit 2 through main), nothing is changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import PrecodeError
from pipeline.project import init_project, open_project


def test_vectors_move_and_drop_refuse_what_makes_no_sense(tmp_path: Path):
    project, _ = init_project(tmp_path / "p")
    root = str(project.root)
    project.close()
    cases = {("vectors", "move", "--to-local"): "already in the local chroma/ folder",
             ("vectors", "move"): "--to-server URL or --to-local",
             ("vectors", "move", "--to-server", "http://127.0.0.1:9", "--to-local"): "one of them",
             ("vectors", "drop"): "--yes"}
    for args, words in cases.items():
        result = CliRunner().invoke(app, [*args, "-p", root])
        assert isinstance(result.exception, PrecodeError) and words in str(result.exception), (args, result.output)
    assert open_project(Path(root)).settings.chroma.url is None  # nothing changed
    listed = CliRunner().invoke(app, ["vectors", "list", "-p", root])
    assert listed.exit_code == 0 and "chroma" in listed.output
    done = subprocess.run([sys.executable, "-m", "pipeline", "vectors", "drop", "-p", root],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--yes" in done.stderr
