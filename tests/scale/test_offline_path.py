"""The offline path stores only what a coder or a search reads, where memory stays bounded (issue 16).

Coding keeps quote-unit vectors in the project's vector cache (SQLite, looked up by id) and writes
no chromadb collection for them nor the `segments` collection; `precode similar` fills that one
from the stored unit vectors on first use, in bounded chunks, encoding nothing again.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.codebook import load_codebook
from pipeline.coders import CodedBatch, make_coder, suggestion_id
from pipeline.coders.base import CodingContext
from pipeline.coding import run_coder, segment_chunks, select_segment_keys, select_segments
from pipeline.embed import LocalEmbedder
from pipeline.indexing import quote_units
from pipeline.ingest import ingest_paths
from pipeline.models import Grounding, RunStatus, Segment, Suggestion
from pipeline.project import Project, init_project, open_project
from pipeline.similar import similar_passages
from pipeline.store.runs import RunTotals
from pipeline.store.vectors import QUOTE_UNITS, SEGMENTS, VectorCache


def _collections(project: Project) -> set[str]:
    return {c if isinstance(c, str) else c.name for c in project.embeddings.store.client.list_collections()}


@pytest.fixture(scope="module")
def coded_once(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> tuple[Path, int]:
    project, _ = init_project(tmp_path_factory.mktemp("offline") / "p")
    ingest_paths(project, [sample_dir / "int03_radiologist.txt"])
    run = run_coder(project, make_coder("similarity", project), load_codebook("nasss"))
    project.embeddings.units.close()
    project.close()
    return project.root, run.counts["quote_units"]


@pytest.fixture
def coded(coded_once: tuple[Path, int], tmp_path: Path) -> tuple[Project, int]:
    """A copy of one coded project per test (coding it again would take seconds each time)."""
    root, units = coded_once
    shutil.copytree(root, tmp_path / "p")
    return open_project(tmp_path / "p"), units


def test_coding_writes_no_segments_collection_and_keeps_unit_vectors_out_of_chromadb(coded: tuple[Project, int]) -> None:
    project, units = coded
    name = project.embeddings.embedder.name
    collections = _collections(project)
    assert f"{project.id}__codes__{name}" in collections  # what candidate narrowing queries by nearness
    assert f"{project.id}__segments__{name}" not in collections  # read only by `precode similar`
    assert f"{project.id}__quote_units__{name}" not in collections  # fetched by id only: not in an in-memory index
    assert units > 0 and project.embeddings.units.count(name) == units
    # the codebook's texts the calibrated rule was fitted on: looked up by text, so in the cache too
    assert f"{project.id}__learn_texts__{name}" not in collections and project.embeddings.texts.count(name) > 20
    project.close()


def test_similar_fills_the_segments_collection_from_stored_units_on_first_use(coded: tuple[Project, int]) -> None:
    project, units = coded
    index = project.embeddings
    name = index.embedder.name
    segments = select_segments(project)
    target = max((s for s in segments if len(s.text) <= 240), key=lambda s: len(s.text))
    found = similar_passages(project, target.text, k=3)
    assert found[0].segment_id == target.id and found[0].score > 0.99
    assert index.units.count(name) == units  # no unit encoded again
    assert index.store.count(SEGMENTS, name) == len(segments)
    assert index.searchable(segments) == 0  # a second search adds nothing
    # each stored segment vector is the normalized mean of its units' vectors, as coding scores them
    sv = index.segments(segments)
    assert sv.encoded == 0
    stored = index.store.vectors(SEGMENTS, name, [s.id for s in segments])
    for i, segment in enumerate(segments):
        mean = sv.vectors[sv.offsets[i]:sv.offsets[i + 1]].mean(axis=0)
        assert np.allclose(stored[segment.id], mean / np.linalg.norm(mean), atol=1e-6)
    project.close()


def test_the_segments_collection_is_filled_in_chunks_with_the_same_vectors(coded: tuple[Project, int]) -> None:
    project, _ = coded
    index = project.embeddings
    name = index.embedder.name
    segments = select_segments(project)
    assert len(segments) > 7
    assert index.searchable(segments[:3], chunk=2) == 3
    assert index.searchable(segments, chunk=7) == len(segments) - 3  # only those not there yet
    in_chunks = index.store.vectors(SEGMENTS, name, [s.id for s in segments])
    index.store.client.delete_collection(index.store.name(SEGMENTS, name))
    index.store._collections.clear()
    assert index.searchable(segments) == len(segments)
    whole = index.store.vectors(SEGMENTS, name, [s.id for s in segments])
    assert in_chunks.keys() == whole.keys() and all(np.array_equal(in_chunks[k], whole[k]) for k in whole)
    project.close()


def test_dropping_a_projects_vectors_removes_its_cached_unit_vectors(coded: tuple[Project, int]) -> None:
    project, units = coded
    name = project.embeddings.embedder.name
    assert project.embeddings.units.count(name) == units
    result = CliRunner().invoke(app, ["vectors", "drop", "--yes", "-p", str(project.root)])
    assert result.exit_code == 0, result.output
    assert project.embeddings.units.count(name) == 0
    project.close()


def test_the_vector_cache_keeps_projects_apart_and_vectors_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    a, b = VectorCache(tmp_path / "v.sqlite3", "proj-a"), VectorCache(tmp_path / "v.sqlite3", "proj-b")
    ids = [f"u{i}" for i in range(2000)]  # more than one query's worth of ids
    vectors = rng.standard_normal((2000, 384)).astype(np.float32)
    a.upsert("emb", ids, vectors)
    assert a.missing("emb", [*ids, "new", "u1"]) == ["new"]
    assert b.missing("emb", ids[:5]) == ids[:5] and b.count("emb") == 0 and a.missing("other-emb", ["u1"]) == ["u1"]
    got = a.vectors("emb", reversed(ids))
    assert all(np.array_equal(got[i], v) for i, v in zip(ids, vectors, strict=True))
    b.upsert("emb", ["u1"], vectors[:1] * 2)
    assert np.array_equal(a.vectors("emb", ["u1"])["u1"], vectors[1])  # b's row is b's
    a.upsert("emb", ["u1"], vectors[:1])  # an upsert replaces
    assert np.array_equal(a.vectors("emb", ["u1"])["u1"], vectors[0]) and a.count("emb") == 2000
    a.mark_adopted("emb")
    assert a.adopted("emb") and not b.adopted("emb") and not a.adopted("other-emb")
    assert a.delete_namespace() == 2000 and a.count("emb") == 0 and b.count("emb") == 1 and not a.adopted("emb")
    a.close()
    b.close()


class Recorder:
    """A coder that records the chunks the run loop hands it and suggests the first code everywhere."""

    name = "recorder"
    model = None
    prompt_hash = None
    embeds_quote_units = False

    def __init__(self, batch_segments: int):
        self.batch_segments = batch_segments
        self.chunks: list[list[Segment]] = []

    def params(self) -> dict[str, Any]:
        return {"batch": self.batch_segments}

    def code(self, segments: Sequence[Segment], context: CodingContext) -> Iterator[CodedBatch]:
        self.chunks.append(list(segments))
        code = context.codes[0].id
        yield CodedBatch([Suggestion(id=suggestion_id(context.run_id, s.id, code), run_id=context.run_id,
                                     segment_id=s.id, transcript_id=s.transcript_id, code_id=code, quote=s.text,
                                     quote_start=s.start, quote_end=s.end, grounding=Grounding.exact, score=1.0)
                          for s in segments[::2]], done=[s.id for s in segments])

    def counts(self, totals: RunTotals) -> dict[str, int]:
        return {}


@pytest.fixture
def long_project(tmp_path: Path) -> Project:
    """One transcript of a few hundred short turns (a long transcript, scaled down)."""
    lines = []
    for n in range(150):
        lines += [f"Interviewer: Question {n} about the alerts?", "", f"P1: Answer {n}. The alerts were late again.", ""]
    (tmp_path / "long.txt").write_text("\n".join(lines), encoding="utf-8")
    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [tmp_path / "long.txt"])
    return project


def test_segment_chunks_read_the_selected_segments_in_order_a_chunk_at_a_time(long_project: Project) -> None:
    whole = select_segments(long_project)
    keys = select_segment_keys(long_project)
    assert [k.id for k in keys] == [s.id for s in whole] and len(keys) == 150
    chunks = list(segment_chunks(long_project, keys, 40))
    assert [len(c) for c in chunks] == [40, 40, 40, 30]
    assert [s for c in chunks for s in c] == whole  # the same models, in the same order
    assert list(segment_chunks(long_project, keys[:0], 40)) == []
    # each segment's context question, sliced from its transcript's text read once per transcript
    [transcript] = long_project.db.current_transcripts()
    assert all(s.context == transcript.text[s.context_start:s.context_end] for s in whole)
    assert [s.context for s in whole[:2]] == ["Question 0 about the alerts?", "Question 1 about the alerts?"]
    long_project.close()


def test_the_run_loop_hands_a_coder_bounded_chunks_of_one_long_transcript(long_project: Project) -> None:
    coder = Recorder(batch_segments=32)
    run = run_coder(long_project, coder, load_codebook("nasss"))
    assert max(len(c) for c in coder.chunks) == 32 and len(coder.chunks) == 5  # 150 segments, 32 at a time
    assert [s for c in coder.chunks for s in c] == select_segments(long_project)
    # the run's counts are made in SQL and agree with the stored suggestions
    stored = long_project.db.suggestions(run.id)
    assert run.status is RunStatus.completed and run.counts["suggestions"] == len(stored) == 75
    assert run.counts["segments_with_suggestions"] == len({s.segment_id for s in stored}) == 75
    assert run.counts["grounding_exact"] == 75 and run.counts["segments"] == 150
    everything = Recorder(batch_segments=0)  # 0: the whole run in one chunk (the LLM coder's pool)
    run_coder(long_project, everything, load_codebook("nasss"))
    assert [len(c) for c in everything.chunks] == [150]
    long_project.close()


def test_a_project_whose_unit_vectors_are_in_chromadb_moves_them_to_the_cache_once(tmp_path: Path, sample_dir: Path) -> None:
    """A project coded before the cache existed: its re-run encodes nothing, and chromadb's copy is dropped."""
    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [sample_dir / "int03_radiologist.txt"])
    segments = select_segments(project)[:20]
    units = [u for s in segments for u in quote_units(s)]
    assert len(units) > 20
    vectors = np.random.default_rng(5).standard_normal((len(units), 384)).astype(np.float32)
    index = project.embeddings
    name = index.embedder.name
    index.store.upsert(QUOTE_UNITS, name, [u.id for u in units], vectors)  # as precode before issue 16 stored them
    index.store.batch = 7  # page through the collection in several reads
    sv = index.segments(segments)
    assert sv.encoded == 0 and np.allclose(sv.vectors, vectors, atol=1e-6)  # chromadb returns them to ~1 ulp
    assert index.units.count(name) == len(units) and not index.store.exists(QUOTE_UNITS, name)
    assert index.units.adopted(name)  # looked for once: later openings do not open chromadb for it
    project.close()


class WindowRecorder(LocalEmbedder):
    """The offline model, recording the texts of each `embed_batches` call and each batch's token counts."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []
        self.batch_lengths: list[list[list[int]]] = []

    def embed_batches(self, texts: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        self.calls.append(list(texts))
        self.batch_lengths.append([])
        ids = self._token_ids(texts)
        for rows, vectors in super().embed_batches(texts):
            self.batch_lengths[-1].append([len(ids[i]) for i in rows])
            yield rows, vectors


def test_the_run_loop_encodes_missing_units_across_chunks_in_length_ordered_windows(
        tmp_path: Path, sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipeline.coding.CHUNK_IDS", 8)  # segments read from the store at a time
    monkeypatch.setattr("pipeline.indexing.ENCODE_WINDOW", 60)  # units encoded together
    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [sample_dir])
    recorder = WindowRecorder()
    project.embeddings.__dict__["embedder"] = recorder  # the cached property, set before first use
    segments = select_segments(project)
    units = [u for s in segments for u in quote_units(s)]
    first = units[:10]  # already stored: never encoded again
    project.embeddings.units.upsert(recorder.name, [u.id for u in first], LocalEmbedder().embed([u.text for u in first]))
    coder = make_coder("similarity", project, codebook=load_codebook("nasss"))  # (encodes the codebook's texts)
    recorder.calls.clear()
    recorder.batch_lengths.clear()
    seen: list[int] = []
    run = run_coder(project, coder, load_codebook("nasss"), encode_progress=seen.append)
    unit_texts = {u.text for u in units}
    windows = [c for c in recorder.calls if set(c) <= unit_texts]  # (not the codes' texts, encoded when coding)
    encoded = [t for c in windows for t in c]
    assert sorted(encoded) == sorted(u.text for u in units[10:])  # each missing unit once, no stored one
    assert run.counts["quote_units_encoded"] == len(units) - 10 and run.counts["quote_units"] == len(units)
    assert len(windows) > 1 and all(len(c) >= 60 for c in windows[:-1])
    per_chunk = [sum(len(quote_units(s)) for s in segments[i:i + 8]) for i in range(0, len(segments), 8)]
    assert len(windows[0]) > per_chunk[0]  # a window holds the units of several chunks
    for lengths in recorder.batch_lengths[:len(windows)]:  # batches of a window come longest first
        flat = [n for batch in lengths for n in batch]
        assert flat == sorted(flat, reverse=True)
    assert sum(seen) == len(segments)  # progress counts every segment once
    stored = project.embeddings.units.vectors(recorder.name, [u.id for u in units])
    alone = LocalEmbedder().embed([u.text for u in units[10:40]])
    assert np.allclose(np.stack([stored[u.id] for u in units[10:40]]), alone, atol=1e-5)
    project.close()
