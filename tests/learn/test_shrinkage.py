"""The learned model starts as the zero-shot (calibrated similarity) coder and follows the data as examples come in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.codebook import parse_codebook
from pipeline.coders.similarity import calibrate, softmax, top_k_rule
from pipeline.embed import make_embedder
from pipeline.learn.model import LearnOptions, Prior, fit
from pipeline.learn.prior import build_prior
from pipeline.settings import EmbeddingSettings
from tests.learn.test_prior import CODEBOOK, TALK

DIM = 16


def _texts_prior(centres: np.ndarray, per_code: int, seed: int) -> Prior:
    """`per_code` description-like vectors near each centre (enough texts for the calibrated rule)."""
    rng = np.random.default_rng(seed)
    index = np.repeat(np.arange(len(centres)), per_code)
    v = centres[index] + 0.5 * rng.normal(size=(len(index), centres.shape[1]))
    return Prior(v / np.linalg.norm(v, axis=1, keepdims=True), index)


def _units(labels: np.ndarray, seed: int, noise: float = 0.35) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.eye(DIM)[labels] + noise * rng.normal(size=(len(labels), DIM))
    return np.asarray(x / np.linalg.norm(x, axis=1, keepdims=True))


def _similarity_probability(prior: Prior, x: np.ndarray, n_codes: int, top_k: int) -> tuple[np.ndarray, float]:
    """What the similarity coder's calibrated rule gives, computed with its own functions."""
    groups = [prior.vectors[prior.code_index == j] for j in range(n_codes)]
    calibration = calibrate(groups, top_k)
    assert calibration is not None
    matrix = np.stack([g.mean(axis=0) for g in groups])
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return softmax(x @ matrix.T, calibration.temperature), calibration.p_min


def test_a_code_nobody_applied_is_scored_and_decided_as_the_zero_shot_coder_does() -> None:
    prior = _texts_prior(np.eye(DIM)[:3], per_code=4, seed=0)
    # people labelled 60 units for codes a and b (review decisions); nobody said anything about code c
    labels = np.repeat([0, 1], 30)
    y = np.eye(3)[labels]
    y[:, 2] = np.nan
    model = fit(_units(labels, seed=1), y, ["a", "b", "c"], prior, LearnOptions(context_weight=0))
    test_x = _units(np.repeat([0, 1, 2], 20), seed=2)
    applied, proba = model.predict(test_x)
    p_sim, p_min = _similarity_probability(prior, test_x, 3, top_k=3)
    np.testing.assert_allclose(proba[:, 2], p_sim[:, 2], atol=1e-6)
    assert (applied[:, 2] == (p_sim[:, 2] >= p_min)).all()
    assert applied[40:, 2].mean() >= 0.7  # ... so it is still recognised from its description
    # the class-balanced regression alone (no blend), trained on the same data, scores c otherwise
    plain = fit(_units(labels, seed=1), y, ["a", "b", "c"], prior, LearnOptions(context_weight=0, prior_strength=0))
    assert np.abs(plain.predict(test_x)[1][:, 2] - p_sim[:, 2]).max() > 0.05
    # a few units read in full without c: still close to the zero-shot rule
    few = fit(_units(labels[::20], seed=1), np.eye(3)[labels[::20]], ["a", "b", "c"], prior,
              LearnOptions(context_weight=0))
    assert few.weight is not None and few.weight[2] < 0.5
    assert np.corrcoef(few.predict(test_x)[1][:, 2], p_sim[:, 2])[0, 1] > 0.9


def test_with_no_example_at_all_it_is_the_zero_shot_coder_in_single_mode() -> None:
    prior = _texts_prior(np.eye(DIM)[:4], per_code=3, seed=3)
    model = fit(np.zeros((0, DIM)), np.zeros((0, 4)), list("abcd"), prior, LearnOptions(single=True, context_weight=0))
    test_x = _units(np.repeat(np.arange(4), 10), seed=4, noise=0.6)
    applied, proba = model.predict(test_x)
    p_sim, p_min = _similarity_probability(prior, test_x, 4, top_k=1)
    np.testing.assert_allclose(proba, p_sim, atol=1e-6)
    assert (applied == top_k_rule(p_sim, p_min, 1)).all()


def test_as_examples_come_in_the_data_takes_over_from_a_misleading_description() -> None:
    # The codebook's texts for a and b are swapped: zero-shot gets a and b backwards.
    prior = _texts_prior(np.eye(DIM)[[1, 0, 2]], per_code=4, seed=5)
    test_labels = np.repeat([0, 1, 2], 30)
    test_x = _units(test_labels, seed=6)
    accuracy = {}
    for n in (0, 3, 40):
        labels = np.repeat([0, 1, 2], n)
        model = fit(_units(labels, seed=7), np.eye(3)[labels], list("abc"), prior, LearnOptions(context_weight=0))
        applied, proba = model.predict(test_x)
        accuracy[n] = float((proba.argmax(axis=1) == test_labels).mean())
        if n == 40:
            assert model.weight is not None and (model.weight > 0.85).all()
            assert (applied == np.eye(3, dtype=bool)[test_labels]).mean() > 0.85
    assert accuracy[0] < 0.5 < 0.9 < accuracy[40]
    assert accuracy[0] <= accuracy[3] <= accuracy[40]


def test_with_real_sentences_and_no_human_code_it_agrees_with_the_similarity_coder() -> None:
    codebook = parse_codebook(CODEBOOK)
    embedder = make_embedder(EmbeddingSettings())
    prior = build_prior(codebook, codebook.codes, embedder)
    model = fit(np.zeros((0, prior.vectors.shape[1])), np.zeros((0, 3)), ["a", "b", "c"], prior,
                LearnOptions(single=True, context_weight=0))
    x = np.asarray(embedder.embed([t for t, _ in TALK]), dtype=np.float64)
    _, proba = model.predict(x)
    p_sim, _ = _similarity_probability(prior, x, 3, top_k=1)
    np.testing.assert_allclose(proba, p_sim, atol=1e-6)
    assert proba.argmax(axis=1).tolist() == [j for _, j in TALK]


@pytest.mark.slow
def test_the_learned_coder_with_no_human_code_suggests_what_the_similarity_coder_does(tmp_path: Path) -> None:
    from pipeline.codebook import load_codebook
    from pipeline.coders import make_coder
    from pipeline.coding import run_coder
    from pipeline.ingest import ingest_paths
    from pipeline.project import init_project

    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [Path(__file__).resolve().parents[2] / "data" / "sample" / "int03_radiologist.txt"])
    codebook = load_codebook("nasss")
    similarity = run_coder(project, make_coder("similarity", project, codebook=codebook, level="leaf"), codebook, "leaf")
    learned = run_coder(project, make_coder("learned", project, codebook=codebook, level="leaf", reviews=False),
                        codebook, "leaf")
    assert all(c["learned_weight"] == 0 for c in learned.params["training"]["codes"].values())
    # context questions and descriptions are looked up by text: kept in the vector cache, not in chromadb
    from pipeline.coding import select_segments
    from pipeline.learn.vectors import embed_cached

    name = project.embeddings.embedder.name
    contexts = sorted({s.context.strip() for s in select_segments(project) if s.context and s.context.strip()})
    assert len(contexts) > 5
    assert not [c for c in project.embeddings.store.client.list_collections()
                if "__learn_texts__" in (c if isinstance(c, str) else c.name)]
    before = project.embeddings.texts.count(name)
    embed_cached(contexts, project.embeddings.embedder, project.embeddings.texts)
    assert project.embeddings.texts.count(name) == before  # every context question was stored by the run

    def by_segment(run_id: str) -> dict[str, dict[str, tuple[str, float]]]:
        out: dict[str, dict[str, tuple[str, float]]] = {}
        for s in project.db.suggestions(run_id):
            out.setdefault(s.segment_id, {})[s.code_id] = (s.quote, round(s.score or 0.0, 3))
        return out

    sim, mine = by_segment(similarity.id), by_segment(learned.id)
    assert sim and set(sim) == set(mine)
    for segment, codes in sim.items():
        # the same codes with the same quotes and scores; the similarity coder keeps at most top_k of them
        assert codes.items() <= mine[segment].items()
        assert len(mine[segment]) == len(codes) or len(codes) == project.settings.similarity.top_k
