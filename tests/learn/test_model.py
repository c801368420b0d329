"""The learned model on synthetic vectors: it learns, it starts from the prior, its scores are calibrated."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pipeline.learn.model import MIN_EXAMPLES, LearnOptions, Prior, features, fit

DIM = 16


def _clusters(n_per: int, n_codes: int, seed: int, noise: float = 0.35) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n_per unit vectors around each of n_codes orthogonal centres; one code per unit."""
    rng = np.random.default_rng(seed)
    centres = np.eye(DIM)[:n_codes]
    labels = np.repeat(np.arange(n_codes), n_per)
    x = centres[labels] + noise * rng.normal(size=(len(labels), DIM))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, np.eye(n_codes)[labels], centres


def _no_context() -> LearnOptions:
    return LearnOptions(context_weight=0.0)


def _prior(centres: np.ndarray) -> Prior:
    return Prior(centres.copy(), np.arange(len(centres)))


def test_with_examples_it_learns_what_the_description_does_not_say():
    # The descriptions point at the wrong centres (codes 0 and 1 swapped): examples must win over the prior.
    x, y, centres = _clusters(40, 3, seed=1)
    misleading = Prior(centres[[1, 0, 2]], np.arange(3))
    model = fit(x, y, ["a", "b", "c"], misleading, _no_context())
    test_x, test_y, _ = _clusters(30, 3, seed=2)
    applied, proba = model.predict(test_x)
    assert (proba.argmax(axis=1) == test_y.argmax(axis=1)).mean() > 0.9
    assert (applied == test_y.astype(bool)).mean() > 0.85
    assert model.cv["kappa_macro"] is not None and model.cv["kappa_macro"] > 0.7
    assert all(s.calibrated for s in model.stats)
    assert ((proba >= 0) & (proba <= 1)).all()


def test_with_no_examples_the_codebook_prior_decides():
    _, _, centres = _clusters(1, 3, seed=0)
    model = fit(np.zeros((0, DIM)), np.zeros((0, 3)), ["a", "b", "c"], _prior(centres), LearnOptions(single=True,
                                                                                                        context_weight=0))
    test_x, test_y, _ = _clusters(20, 3, seed=3)
    applied, _ = model.predict(test_x)
    assert (applied.sum(axis=1) <= 1).all()
    assert (applied.argmax(axis=1) == test_y.argmax(axis=1)).mean() > 0.8
    assert [s.code_id for s in model.few_examples()] == ["a", "b", "c"]
    assert model.cv == {}


def test_single_mode_gives_exactly_one_code_when_every_example_had_one():
    x, y, centres = _clusters(15, 4, seed=4)
    model = fit(x, y, list("abcd"), _prior(centres), LearnOptions(single=True, context_weight=0))
    applied, _ = model.predict(np.random.default_rng(5).normal(size=(50, DIM)))
    assert (applied.sum(axis=1) == 1).all()
    assert model.always_one
    multi = fit(x, y, list("abcd"), _prior(centres), _no_context())
    applied_multi, _ = multi.predict(np.random.default_rng(5).normal(size=(50, DIM)))
    assert (applied_multi.sum(axis=1) != 1).any()  # multi-label mode may give none or several


def _ece(p: np.ndarray, truth: np.ndarray) -> float:
    bins = np.clip((p * 10).astype(int), 0, 9)
    return float(sum(abs(p[bins == b].mean() - truth[bins == b].mean()) * (bins == b).mean()
                     for b in range(10) if (bins == b).any()))


def _imbalanced(n_a: int, n_b: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.array([0] * n_a + [1] * n_b)
    x = np.eye(DIM)[labels] + 0.9 * rng.normal(size=(len(labels), DIM))
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.eye(2)[labels]


def test_probabilities_are_calibrated_on_held_out_data():
    # A rare code (1 in 8) in overlapping clusters: the class-balanced regression's own probability
    # overstates it; the Platt-scaled score must match how often the code is really there.
    x, y = _imbalanced(40, 280, seed=6)
    model = fit(x, y, ["a", "b"], _prior(np.eye(DIM)[:2]), _no_context())
    test_x, test_y = _imbalanced(300, 2100, seed=7)
    _, proba = model.predict(test_x)
    raw = 1 / (1 + np.exp(-model.decision(test_x)[:, 0]))  # the balanced regression's own probability
    assert _ece(proba[:, 0], test_y[:, 0]) < 0.06
    assert _ece(proba[:, 0], test_y[:, 0]) < _ece(raw, test_y[:, 0]) / 2


def test_unknown_labels_are_left_out_not_counted_as_absent():
    x, y, centres = _clusters(30, 2, seed=8)
    partial = y.copy()
    partial[::2, 1] = np.nan  # a review said nothing about code b on half the units
    model = fit(x, partial, ["a", "b"], _prior(centres), _no_context())
    assert model.stats[0].positives + model.stats[0].negatives == 60
    assert model.stats[1].positives + model.stats[1].negatives == 30


def test_too_few_examples_are_reported():
    x, y, centres = _clusters(20, 3, seed=9)
    keep = np.concatenate([np.arange(0, 20), np.arange(20, 40), np.arange(40, 40 + MIN_EXAMPLES - 2)])
    model = fit(x[keep], y[keep], ["a", "b", "c"], _prior(centres), _no_context())
    assert [s.code_id for s in model.few_examples()] == ["c"]
    assert model.report()["few_examples"] == ["c"]
    assert model.report()["codes"]["c"]["positives"] == MIN_EXAMPLES - 2


def test_context_features_are_appended_weighted():
    x = np.ones((2, 3))
    ctx = np.full((2, 3), 2.0)
    out = features(x, ctx, LearnOptions(context_weight=0.5))
    assert out.shape == (2, 6) and (out[:, 3:] == 1.0).all()
    assert (features(x, None, LearnOptions(context_weight=0.5))[:, 3:] == 0).all()
    assert features(x, ctx, LearnOptions(context_weight=0)).shape == (2, 3)


@pytest.mark.slow
def test_training_with_cross_validation_takes_seconds():
    # 1,000 units of 384 dimensions, 25 codes, 5-fold cross-validation: the size of a real retrain.
    rng = np.random.default_rng(10)
    n_codes, dim = 25, 384
    centres = np.eye(dim)[:n_codes]
    labels = rng.integers(0, n_codes, size=1000)
    x = centres[labels] + 0.3 * rng.normal(size=(1000, dim)) / np.sqrt(dim) * 8
    start = time.perf_counter()
    model = fit(x, np.eye(n_codes)[labels], [f"c{i}" for i in range(n_codes)], Prior(centres, np.arange(n_codes)),
                _no_context())
    assert time.perf_counter() - start < 20  # about 3 s on 2 busy cores
    assert model.cv["kappa_macro"] is not None
