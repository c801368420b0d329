"""The pipeline against a real Chroma server (`chroma run` on 127.0.0.1) and against the embedded store.

Slow: each test starts a server process and embeds transcripts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chroma_server import chroma_server
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.codebook import load_codebook
from pipeline.coders import make_coder
from pipeline.coding import run_coder, select_segments
from pipeline.ingest import ingest_paths
from pipeline.project import Project, init_project, open_project
from pipeline.settings import write_settings
from pipeline.store.vectors import SEGMENTS
from pipeline.vector_move import project_collections

pytestmark = pytest.mark.slow

FEW = ["int01_icu_nurse.txt", "int03_radiologist.txt", "int05_gp.vtt"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with chroma_server(tmp_path_factory.mktemp("chroma-server") / "db") as url:
        yield url


def _project(root: Path, sample_dir: Path, url: str | None) -> Project:
    project, _ = init_project(root)
    if url:
        project.settings.chroma.url = url
        write_settings(root / "precode.toml", project.settings)
        project = open_project(root)
    ingest_paths(project, [sample_dir / name for name in FEW])
    return project


def _coded(project: Project) -> set[tuple[str, str, int | None, int | None, str]]:
    run = run_coder(project, make_coder("similarity", project), load_codebook("nasss"))
    return {(s.segment_id, s.code_id, s.quote_start, s.quote_end, f"{s.score:.4f}") for s in project.db.suggestions(run.id)}


def test_the_pipeline_gives_the_same_suggestions_on_a_chroma_server_and_embedded(tmp_path: Path, sample_dir: Path,
                                                                                  server: str):
    embedded = _project(tmp_path / "embedded", sample_dir, None)
    remote = _project(tmp_path / "remote", sample_dir, server)
    local_result, server_result = _coded(embedded), _coded(remote)
    assert local_result and local_result == server_result
    # the vectors really went to the server, and nothing to the remote project's own folder
    name = remote.embeddings.embedder.name
    remote.embeddings.searchable(select_segments(remote))  # what `precode similar` fills on first use
    assert remote.embeddings.store.count(SEGMENTS, name) == len(select_segments(remote))
    assert not any((remote.root / "chroma").iterdir())
    # a re-run against the server embeds nothing again: every unit is found there
    assert remote.embeddings.segments(select_segments(remote)).encoded == 0
    embedded.close()
    remote.close()


def test_two_projects_on_one_server_see_only_their_own_vectors_and_dropping_one_removes_its_collections(
        tmp_path: Path, sample_dir: Path, server: str):
    first = _project(tmp_path / "first", sample_dir, server)
    second = _project(tmp_path / "second", sample_dir, server)  # same texts: same segment and unit ids
    _coded(first)
    name = first.embeddings.embedder.name
    segments = select_segments(second)
    # the second project finds none of the first one's vectors or texts, though the ids are the same
    assert second.embeddings.store.count(SEGMENTS, name) == 0
    assert len(second.embeddings.units.missing(name, [s.id for s in segments])) == len(segments)
    assert second.embeddings.similar([segments[0].text], 3) == [[]]
    _coded(second)
    second.embeddings.searchable(segments)
    hits = second.embeddings.similar([segments[0].text], 50)[0]
    assert hits and {h for h, _ in hits} <= {s.id for s in segments}
    stored = second.embeddings.store.collection(SEGMENTS, name).get(include=["documents"])
    assert set(stored["documents"]) <= {s.text for s in segments}

    first_names = project_collections(first.embeddings.store)
    assert first_names and all(n.startswith(f"{first.id}__") for n in first_names)
    result = CliRunner().invoke(app, ["vectors", "drop", "--yes", "-p", str(first.root)])
    assert result.exit_code == 0, result.output
    left = {c if isinstance(c, str) else c.name for c in first.embeddings.store.client.list_collections()}
    assert not left & set(first_names)
    assert second.embeddings.store.count(SEGMENTS, name) == len(segments)  # untouched
    refused = CliRunner().invoke(app, ["vectors", "drop", "-p", str(second.root)])
    assert refused.exit_code != 0 and "--yes" in str(refused.exception or refused.output)
    first.close()
    second.close()


def test_a_project_moves_its_vectors_to_the_server_and_back_with_the_same_results(tmp_path: Path, sample_dir: Path,
                                                                                   server: str):
    project = _project(tmp_path / "moving", sample_dir, None)
    before = _coded(project)
    name = project.embeddings.embedder.name
    units = project.embeddings.units.count(name)
    project.close()

    result = CliRunner().invoke(app, ["vectors", "move", "--to-server", server, "-p", str(project.root)])
    assert result.exit_code == 0, result.output
    moved = open_project(project.root)
    assert moved.settings.chroma.url == server
    assert moved.embeddings.units.count(name) == units
    assert moved.embeddings.segments(select_segments(moved)).encoded == 0  # nothing re-embedded
    local_left = {c if isinstance(c, str) else c.name
                  for c in moved.embeddings.store.__class__(moved.chroma_path, None, moved.id).client.list_collections()}
    assert not any(n.startswith(f"{moved.id}__") for n in local_left)  # the participant texts left the folder
    assert _coded(moved) == before
    moved.close()

    back = CliRunner().invoke(app, ["vectors", "move", "--to-local", "-p", str(project.root)])
    assert back.exit_code == 0, back.output
    home = open_project(project.root)
    assert home.settings.chroma.url is None and home.embeddings.units.count(name) == units
    assert _coded(home) == before
    home.close()
