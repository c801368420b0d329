"""The vectorized unit-resampling bootstrap: reproducible, chunk-invariant, and equal to
a naive loop over replicates."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from eval.bootstrap import bootstrap_sums, percentile_interval, resample_weights
from eval.metrics import agreement_table, categorical_agreement


def correlated(seed: int, n_coders=2, n_units=300, n_codes=4, flip=0.1, prevalence=0.3):
    rng = np.random.default_rng(seed)
    truth = rng.random((n_units, n_codes)) < prevalence
    return np.stack([truth ^ (rng.random(truth.shape) < flip) for _ in range(n_coders)]).astype(int)


def test_same_seed_same_result_and_other_seed_differs():
    x = correlated(0, n_coders=3)
    r1 = agreement_table(x, gold=0, bootstrap=200, seed=42)
    r2 = agreement_table(x, gold=0, bootstrap=200, seed=42)
    r3 = agreement_table(x, gold=0, bootstrap=200, seed=43)
    assert r1.model_dump_json() == r2.model_dump_json()
    assert r1.model_dump_json() != r3.model_dump_json()
    # a Generator works as the seed too
    r4 = agreement_table(x, gold=0, bootstrap=200, seed=np.random.default_rng(42))
    assert r4.pairs["coder_0|coder_1"].per_code == r1.pairs["coder_0|coder_1"].per_code


def test_chunk_size_does_not_change_the_intervals():
    x = correlated(1, n_coders=3)
    a = agreement_table(x, gold=0, bootstrap=150, seed=7)
    b = agreement_table(x, gold=0, bootstrap=150, seed=7, chunk_size=11)
    assert a.model_dump_json() == b.model_dump_json()


def test_ci_contains_point_estimate_on_reasonable_case():
    x = correlated(2, n_units=400)
    r = agreement_table(x, gold=1, bootstrap=500, seed=0, confidence=0.95)
    for g in r.per_code.values():
        for name in ("kappa", "ac1", "alpha", "pabak", "po", "f1", "precision", "recall"):
            lo, hi = g.ci[name]
            assert lo <= getattr(g, name) <= hi, (name, lo, getattr(g, name), hi)
            assert hi - lo < 0.3
    ov = r.overall
    for name in ("kappa_micro", "kappa_macro", "ac1_micro", "alpha_micro", "f1_micro", "f1_macro"):
        lo, hi = ov.ci[name]
        assert lo <= getattr(ov, name) <= hi


def test_vectorized_bootstrap_equals_naive_loop():
    """Same index matrix, kappa recomputed replicate by replicate with sklearn."""
    x = correlated(3, n_units=80, n_codes=2, prevalence=0.2)
    B, seed = 60, 5
    r = agreement_table(x, bootstrap=B, seed=seed)
    idx = np.random.default_rng(seed).integers(0, 80, size=(B, 80))
    for q in range(2):
        vals = []
        for row in idx:  # the reference loop
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                vals.append(cohen_kappa_score(x[0, row, q], x[1, row, q]))
        vals = np.array(vals)
        expected = np.percentile(vals[~np.isnan(vals)], [2.5, 97.5])
        assert r.per_code[f"code_{q}"].ci["kappa"] == pytest.approx(tuple(expected), abs=1e-12)


def test_undefined_replicates_are_excluded_and_noted():
    # one positive unit out of 30: many resamples miss it, so both coders are constant
    x = np.zeros((2, 30, 1), dtype=int)
    x[:, 0, 0] = 1
    g = agreement_table(x, bootstrap=300, seed=0).per_code["code_0"]
    assert g.kappa == 1.0
    assert g.ci["kappa"] == (1.0, 1.0)
    assert "replicates had kappa undefined" in g.notes["ci.kappa"]


def test_undefined_point_estimate_has_no_ci():
    g = agreement_table(np.zeros((2, 10, 1), int), bootstrap=50, seed=0).per_code["code_0"]
    assert g.ci["kappa"] is None and g.ci["po"] == (1.0, 1.0)


def test_no_bootstrap_no_ci():
    g = agreement_table(correlated(4)).per_code["code_0"]
    assert g.ci == {}


def test_categorical_bootstrap():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, size=300)
    lab = np.stack(
        [np.where(rng.random(300) < 0.2, rng.integers(0, 4, 300), truth) for _ in range(3)]
    )
    r1 = categorical_agreement(lab, bootstrap=300, seed=3)
    r2 = categorical_agreement(lab, bootstrap=300, seed=3, chunk_size=17)
    assert r1.model_dump_json() == r2.model_dump_json()
    for pair in r1.pairs.values():
        for name in ("kappa", "ac1", "alpha", "po"):
            lo, hi = pair.ci[name]
            assert lo <= getattr(pair, name) <= hi
    lo, hi = r1.multi.ci["fleiss_kappa"]
    assert lo <= r1.multi.fleiss_kappa <= hi


def test_resample_weights_rows_sum_to_n():
    w = resample_weights(np.random.default_rng(0), 50, 7)
    assert w.shape == (7, 50) and np.all(w.sum(axis=1) == 50)


def test_bootstrap_sums_chunks_cover_all_replicates():
    feats = np.arange(20, dtype=float).reshape(10, 2)
    parts = list(bootstrap_sums(feats, 25, np.random.default_rng(0), chunk_size=10))
    assert [p[0] for p in parts] == [slice(0, 10), slice(10, 20), slice(20, 25)]
    allsums = np.concatenate([p[1] for p in parts])
    w = resample_weights(np.random.default_rng(0), 10, 25)
    np.testing.assert_allclose(allsums, w @ feats)


def test_percentile_interval_matches_nanpercentile():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(101, 6))
    v[rng.random(v.shape) < 0.2] = np.nan
    v[:, 5] = np.nan
    lo, hi, n = percentile_interval(v, 0.9)
    for j in range(5):
        col = v[:, j][~np.isnan(v[:, j])]
        assert (lo[j], hi[j]) == pytest.approx(tuple(np.percentile(col, [5, 95])))
        assert n[j] == col.size
    assert math.isnan(lo[5]) and n[5] == 0
