"""A folder named eval/ in the working directory does not stand in for precode's eval package (issue 9)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("user_files", [["__init__.py"], ["__init__.py", "cli.py"]])
def test_precode_eval_runs_from_a_folder_with_its_own_eval(tmp_path: Path, user_files: list[str]):
    (tmp_path / "eval").mkdir()
    for name in user_files:
        (tmp_path / "eval" / name).write_text("MINE = True\n", encoding="utf-8")
    # `python -m pipeline` puts the working directory first on sys.path, as PYTHONPATH=. does for `precode`
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-m", "pipeline", "eval", "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout and "Agreement between coders" in result.stdout
    check = ("import sys, pipeline.cli, eval; from pathlib import Path; "
             "print(Path(eval.__file__).resolve().parent == Path(pipeline.cli.__file__).resolve().parent.parent / 'eval')")
    shown = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120)
    assert shown.stdout.strip() == "True", shown.stderr
