"""The README's commands run verbatim (issue 15 #5), here the eval section's.

A fresh clone is simulated in a temporary folder: the repository's `data/` is copied in and `.venv` is
linked to this checkout's virtual environment (the first set-up command's `python3 -m venv` and
`pip install` steps are the only ones not repeated). Then the rest of the first set-up command and
every shell command of the README's eval section run exactly as written, from the clone's root.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
INSTALL_STEPS = ("python3 -m venv", ".venv/bin/pip install")


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def commands(block: str) -> list[str]:
    """Shell command lines of a block (comments and blank lines dropped)."""
    return [line.split("  #")[0].strip() for line in block.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def section(text: str, anchor: str) -> str:
    start = text.index(f'<a id="{anchor}"></a>')
    end = text.find('<a id="', start + 1)
    return text[start:end if end != -1 else None]


def setup_commands() -> list[str]:
    first = commands(bash_blocks(README.read_text(encoding="utf-8"))[0])
    steps = [s.strip() for s in first[0].split("&&")]
    return [s for s in steps if not s.startswith(INSTALL_STEPS)]


def eval_commands() -> list[str]:
    text = section(README.read_text(encoding="utf-8"), "measuring-agreement")
    return [c for block in bash_blocks(text) for c in commands(block)]


def test_the_eval_section_has_commands_that_use_the_venv():
    cmds = eval_commands()
    assert cmds, "the README's eval section lost its example"
    for cmd in cmds:
        assert shlex.split(cmd)[0].startswith(".venv/bin/"), f"'{cmd}' needs an activated venv"


@pytest.mark.slow
def test_readme_eval_commands_run_verbatim(tmp_path):
    if not (REPO / ".venv" / "bin" / "precode").exists():
        pytest.skip("no .venv/bin/precode in this checkout")
    clone = tmp_path / "clone"
    clone.mkdir()
    shutil.copytree(REPO / "data", clone / "data")
    (clone / ".venv").symlink_to(REPO / ".venv")
    env = {k: v for k, v in os.environ.items() if k != "PRECODE_PROJECT"}
    for cmd in setup_commands() + eval_commands():
        result = subprocess.run(["bash", "-c", cmd], cwd=clone, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"README command failed: {cmd}\n{result.stdout}\n{result.stderr}"
    data = json.loads((clone / "eval-report" / "report.json").read_text(encoding="utf-8"))
    assert data["coders"][:2] == ["coder_A", "coder_B"] and data["coders"][2].startswith("similarity@")
    assert data["bootstrap"]["cluster"] == "transcript"
