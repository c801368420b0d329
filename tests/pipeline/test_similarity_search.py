"""The embedding stage and chromadb: nearest codes, similar passages, one project's collections apart from another's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.codebook import load_codebook
from pipeline.coding import select_segments
from pipeline.indexing import EmbeddingIndex
from pipeline.ingest import ingest_paths
from pipeline.project import init_project
from pipeline.similar import similar_passages
from pipeline.store.vectors import SEGMENTS


def test_nearest_codes_from_chromadb_are_the_exact_cosine_ranking(sample_project):
    nasss = load_codebook("nasss")
    leaves = nasss.at_level("leaf")
    segments = select_segments(sample_project)[:60]
    index = sample_project.embeddings
    shortlist = index.nearest_codes(nasss, leaves, segments, 5)

    codes = index.codes(nasss, leaves)
    vectors = index.segments(segments)
    for i, segment in enumerate(segments):
        mean = vectors.vectors[vectors.offsets[i]:vectors.offsets[i + 1]].mean(axis=0)
        exact = [leaves[j].id for j in np.argsort(-(codes @ (mean / np.linalg.norm(mean))))[:5]]
        assert shortlist[segment.id] == exact


def test_similar_passages_find_the_passage_itself_first(sample_project):
    segments = select_segments(sample_project)
    target = max((s for s in segments if len(s.text) <= 240), key=lambda s: len(s.text))  # one quote unit
    found = similar_passages(sample_project, target.text, k=3)
    assert len(found) == 3 and found[0].segment_id == target.id and found[0].score > 0.99
    assert [p.score for p in found] == sorted((p.score for p in found), reverse=True)
    result = CliRunner().invoke(app, ["similar", target.text[:200], "-k", "2", "-p", str(sample_project.root)])
    assert result.exit_code == 0, result.output
    assert "score" in result.output and found[0].transcript in result.output


@pytest.mark.slow
def test_two_projects_on_one_chroma_store_never_see_each_other(tmp_path: Path, sample_dir: Path):
    shared = tmp_path / "one-chroma"  # stands in for one Chroma server both projects are configured to use
    first, _ = init_project(tmp_path / "first")
    second, _ = init_project(tmp_path / "second")
    assert first.id != second.id and first.id == first.db.project_id()  # stored, stable across openings
    ingest_paths(first, [sample_dir / "int03_radiologist.txt"])
    ingest_paths(second, [sample_dir / "int03_radiologist.txt"])  # the same text: the same segment ids

    a = EmbeddingIndex(first.settings.embedding, shared, None, first.id)
    b = EmbeddingIndex(second.settings.embedding, shared, None, second.id)
    segments = select_segments(first)
    a.searchable(segments)
    name = a.embedder.name
    assert a.store.count(SEGMENTS, name) == len(segments)
    assert b.store.count(SEGMENTS, name) == 0 and b.similar([segments[0].text], 3) == [[]]
    assert b.units.missing(name, [u.id for u in a.segments(segments[:1]).units])  # nothing shared

    b.searchable(select_segments(second)[:2])
    deleted = a.delete()
    assert deleted and all(n.startswith(f"{first.id}__") for n in deleted)
    left = {c if isinstance(c, str) else c.name for c in a.store.client.list_collections()}
    assert not any(n.startswith(f"{first.id}__") for n in left)
    assert b.store.count(SEGMENTS, name) == 2  # the other project's vectors are untouched
    first.close()
    second.close()


@pytest.mark.slow
def test_two_projects_on_one_chroma_server_keep_apart(tmp_path: Path, sample_dir: Path):
    """The server mode for real: `chroma run` on a loopback port, two projects configured with its url."""
    import shutil
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from pipeline.coders import make_coder
    from pipeline.coding import run_coder
    from pipeline.project import open_project
    from pipeline.settings import write_settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    server = subprocess.Popen([chroma, "run", "--path", str(tmp_path / "server"), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        projects = []
        for name in ("first", "second"):
            project, _ = init_project(tmp_path / name)
            project.settings.chroma.url = f"http://127.0.0.1:{port}"
            write_settings(project.root / "precode.toml", project.settings)
            project.close()
            project = open_project(project.root)
            ingest_paths(project, [sample_dir / "int03_radiologist.txt"])
            projects.append(project)
        first, second = projects
        run = run_coder(first, make_coder("similarity", first), load_codebook("nasss"))
        name = first.embeddings.embedder.name
        first.embeddings.searchable(select_segments(first))  # what `precode similar` fills on first use
        assert first.embeddings.store.count(SEGMENTS, name) == run.counts["segments"]
        assert second.embeddings.store.count(SEGMENTS, name) == 0
        assert not (first.root / "chroma" / "chroma.sqlite3").exists()  # the vectors went to the server
        again = run_coder(second, make_coder("similarity", second), load_codebook("nasss"))
        assert again.counts["quote_units_encoded"] == again.counts["quote_units"]  # nothing borrowed from `first`
        second.embeddings.searchable(select_segments(second))
        assert first.delete_vectors() and second.embeddings.store.count(SEGMENTS, name) == again.counts["segments"]
        for project in projects:
            project.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_similar_refuses_an_empty_text_or_k_below_one_in_one_line(tmp_path: Path):
    import subprocess
    import sys

    project, _ = init_project(tmp_path / "p")
    for args in (["   "], ["alerts", "-k", "0"]):
        done = subprocess.run([sys.executable, "-m", "pipeline", "similar", *args, "-p", str(project.root)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "error:" in done.stderr
    project.close()
