"""Shared fixtures: the bundled sample data, and one coded sample project per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.embed import go_offline

go_offline()

from pipeline.codebook import load_codebook  # noqa: E402
from pipeline.coders import make_coder  # noqa: E402
from pipeline.coding import run_coder  # noqa: E402
from pipeline.ingest import ingest_paths  # noqa: E402
from pipeline.project import Project, init_project  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def sample_project(tmp_path_factory) -> Project:
    """All sample transcripts ingested and coded once with the similarity coder (NASSS, leaf level).

    The path has a space and non-ASCII characters on purpose (a known chromadb pitfall).
    """
    root = tmp_path_factory.mktemp("sample") / "projet échantillon ü"
    project, _ = init_project(root)
    ingest_paths(project, [SAMPLE])
    run_coder(project, make_coder("similarity", project), load_codebook("nasss"))
    return project
