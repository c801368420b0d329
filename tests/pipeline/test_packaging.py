"""A built wheel (not the editable checkout) carries the codebooks, prompts, migrations and web files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline.store.database import SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[2]

CHECK = """
import pipeline, sys
assert pipeline.__file__.startswith(sys.argv[1]), pipeline.__file__
from pipeline.codebook import load_codebook
from pipeline.llm.prompt import load_prompt
load_prompt("code.v1")
from pipeline.package_data import data_dir
from pipeline.store.database import SCHEMA_VERSION
from pipeline.review.app import static_dir
print(len(load_codebook("nasss").codes), len(load_codebook("qif").codes), SCHEMA_VERSION,
      data_dir("prompts").is_relative_to(sys.argv[1]), (static_dir() / "index.html").is_file())
"""


def test_wheel_installs_with_its_package_data(tmp_path: Path):
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # no build isolation and no index: everything needed is already installed, nothing is downloaded
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    [wheel] = wheels.glob("precode-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run([sys.executable, "-c", CHECK, str(target)], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    # every migration of the checkout is in the wheel (the wheel's schema version is the checkout's)
    assert result.stdout.split() == ["44", "66", str(SCHEMA_VERSION), "True", "True"]
    # run from a folder with an eval/ of its own: the wheel's eval package is still the one used (issue 9)
    user = tmp_path / "user"
    (user / "eval").mkdir(parents=True)
    for name in ("__init__.py", "cli.py"):
        (user / "eval" / name).write_text("MINE = True\n", encoding="utf-8")
    shadowed = subprocess.run([sys.executable, "-m", "pipeline", "eval", "--help"], capture_output=True, text=True,
                              env=env, cwd=user, timeout=120)
    assert shadowed.returncode == 0 and "Usage" in shadowed.stdout, shadowed.stderr


def test_every_package_is_in_the_wheel_list():
    """`[tool.setuptools] packages` is an explicit list: a new package folder missing there is missing from the wheel."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(REPO).parts) for top in ("pipeline", "eval")
               for init in (REPO / top).rglob("__init__.py")}
    with_code = {".".join(p.parent.relative_to(REPO).parts) for top in ("pipeline", "eval") for p in (REPO / top).rglob("*.py")}
    assert with_code <= on_disk, f"source folders without __init__.py: {sorted(with_code - on_disk)}"
    assert on_disk <= listed, f"packages missing from [tool.setuptools] packages: {sorted(on_disk - listed)}"
