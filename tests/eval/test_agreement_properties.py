"""Property tests: eval.metrics agrees with the reference implementations.

sklearn (Cohen's kappa, P/R/F1), krippendorff (alpha), statsmodels (Fleiss' kappa) on
hypothesis-generated data, including constant columns, missing data and 3+ coders.
"""

from __future__ import annotations

import math
import warnings

import krippendorff
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import cohen_kappa_score, precision_recall_fscore_support
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from eval.metrics import (
    agreement_table,
    categorical_agreement,
    cohen_kappa,
    fleiss_kappa_binary,
    fleiss_kappa_nominal,
    kappa_from_confusion,
    krippendorff_alpha_binary,
    krippendorff_alpha_nominal,
)

TOL = 1e-9
SETTINGS = settings(
    database=None, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def close(ours: float, ref: float) -> bool:
    if math.isnan(ref):
        return math.isnan(ours)
    return abs(ours - ref) <= TOL


@st.composite
def presence_data(draw, min_coders=2, max_coders=2, max_units=40, max_codes=4, missing=False):
    n_coders = draw(st.integers(min_coders, max_coders))
    n_units = draw(st.integers(1, max_units))
    n_codes = draw(st.integers(1, max_codes))
    x = draw(hnp.arrays(np.int8, (n_coders, n_units, n_codes), elements=st.integers(0, 1)))
    if missing:
        obs = draw(hnp.arrays(np.bool_, (n_coders, n_units), elements=st.booleans()))
    else:
        obs = np.ones((n_coders, n_units), dtype=bool)
    return x, obs


def sk_kappa(y1, y2) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(cohen_kappa_score(y1, y2))


def kripp(data: np.ndarray) -> float:
    """krippendorff.alpha, NaN where it refuses (undefined)."""
    if np.all(np.isnan(data)):
        return math.nan
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    except ValueError as exc:
        # a single value in the domain, or no pairable unit: alpha undefined
        assert "more than one value" in str(exc) or "at least two coders" in str(exc)
        return math.nan


def sm_fleiss(ratings_units_by_raters: np.ndarray) -> float:
    table, _ = aggregate_raters(ratings_units_by_raters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fleiss_kappa(table, method="fleiss"))


@SETTINGS
@given(presence_data())
def test_kappa_matches_sklearn(data):
    x, _ = data
    result = agreement_table(x)
    per_code = result.per_code
    direct = cohen_kappa(x[0], x[1])
    for q in range(x.shape[2]):
        ref = sk_kappa(x[0, :, q], x[1, :, q])
        got = per_code[f"code_{q}"]
        assert close(got.kappa, ref), (got.kappa, ref)
        assert close(float(direct[q]), ref)
        if math.isnan(ref):
            assert "kappa" in got.undefined_reasons
            assert got.kappa_label == "undefined"
            assert got.po == 1.0  # undefined kappa only when both coders are constant and equal
        else:
            assert "kappa" not in got.undefined_reasons


@SETTINGS
@given(presence_data(min_coders=2, max_coders=5, max_units=30, max_codes=3, missing=True))
def test_alpha_matches_krippendorff_with_missing_data(data):
    x, obs = data
    alpha = krippendorff_alpha_binary(x, obs)
    result = agreement_table(x, observed=obs)
    for q in range(x.shape[2]):
        rel = np.where(obs, x[:, :, q], np.nan).astype(float)
        ref = kripp(rel)
        assert close(float(alpha[q]), ref), (alpha[q], ref)
        if x.shape[0] >= 3:
            got = result.multi.per_code[f"code_{q}"]
            assert close(got.alpha, ref)
            assert math.isnan(ref) == ("alpha" in got.undefined_reasons)
        # pairwise alpha of every pair = krippendorff on those two coders' rows
        for key, pair in result.pairs.items():
            i, j = (result.coders.index(c) for c in key.split("|"))
            ref_pair = kripp(rel[[i, j]])
            assert close(pair.per_code[f"code_{q}"].alpha, ref_pair)


@SETTINGS
@given(presence_data(min_coders=2, max_coders=4, max_units=30, max_codes=3, missing=True))
def test_float_nan_input_equals_observed_mask(data):
    x, obs = data
    nan_form = np.where(obs[:, :, None], x, np.nan)
    a = agreement_table(x, observed=obs).model_dump()
    b = agreement_table(nan_form).model_dump()
    assert repr(a) == repr(b)


@SETTINGS
@given(presence_data(min_coders=3, max_coders=6, max_units=30, max_codes=3, missing=True))
def test_fleiss_matches_statsmodels(data):
    x, obs = data
    fk = fleiss_kappa_binary(x, obs)
    result = agreement_table(x, observed=obs)
    full = obs.all(axis=0)
    for q in range(x.shape[2]):
        got = result.multi.per_code[f"code_{q}"]
        if not full.any():
            assert math.isnan(fk[q]) and "fleiss_kappa" in got.undefined_reasons
            continue
        ref = sm_fleiss(x[:, full, q].T)
        assert close(float(fk[q]), ref), (fk[q], ref)
        assert close(got.fleiss_kappa, ref)
        assert got.n_units_fleiss == int(full.sum())


@SETTINGS
@given(presence_data(min_coders=2, max_coders=3, max_units=40, max_codes=5))
def test_precision_recall_f1_match_sklearn(data):
    x, _ = data
    coders = [f"c{i}" for i in range(x.shape[0])]
    gold_index = x.shape[0] - 1
    result = agreement_table(x, coder_names=coders, gold=coders[gold_index])
    y_true = x[gold_index]
    for i in range(x.shape[0] - 1):
        pair = result.pair(coders[i], coders[gold_index])
        assert pair.gold == coders[gold_index] and pair.predicted == coders[i]
        y_pred = x[i]
        for q in range(x.shape[2]):
            # the positive class of one code (labels=[1] even if no one used it)
            p, r, f, _ = precision_recall_fscore_support(
                y_true[:, q], y_pred[:, q], labels=[1], average=None, zero_division=np.nan
            )
            got = pair.per_code[f"code_{q}"]
            assert close(got.precision, p[0]) and close(got.recall, r[0]) and close(got.f1, f[0])
        for avg in ("micro", "macro"):
            if x.shape[2] >= 2:  # multilabel-indicator input needs 2+ columns
                p, r, f, _ = precision_recall_fscore_support(
                    y_true, y_pred, average=avg, zero_division=np.nan
                )
            else:
                p, r, f, _ = precision_recall_fscore_support(
                    y_true[:, 0], y_pred[:, 0], labels=[1], average=None, zero_division=np.nan
                )
                p, r, f = p[0], r[0], f[0]
            ov = pair.overall
            assert close(getattr(ov, f"precision_{avg}"), float(p))
            assert close(getattr(ov, f"recall_{avg}"), float(r))
            assert close(getattr(ov, f"f1_{avg}"), float(f))
    # pairs without the gold coder carry no P/R/F1
    if x.shape[0] == 3:
        other = result.pair(coders[0], coders[1])
        assert other.gold is None and other.per_code["code_0"].f1 is None


@SETTINGS
@given(presence_data(max_units=30, max_codes=6))
def test_gold_first_or_second_is_symmetric(data):
    x, _ = data
    first = agreement_table(x, coder_names=["g", "p"], gold="g").overall
    second = agreement_table(x[::-1], coder_names=["p", "g"], gold="g").overall
    for name in (
        "precision_micro",
        "recall_micro",
        "f1_micro",
        "f1_macro",
        "kappa_micro",
        "kappa_macro",
    ):
        assert close(getattr(first, name), getattr(second, name))


@SETTINGS
@given(presence_data(max_units=30, max_codes=6))
def test_micro_kappa_is_kappa_of_flattened_cells(data):
    x, _ = data
    ov = agreement_table(x).overall
    assert close(ov.kappa_micro, sk_kappa(x[0].ravel(), x[1].ravel()))
    kappas = [sk_kappa(x[0, :, q], x[1, :, q]) for q in range(x.shape[2])]
    defined = [k for k in kappas if not math.isnan(k)]
    assert ov.n_kappa_defined == len(defined)
    assert close(ov.kappa_macro, float(np.mean(defined)) if defined else math.nan)


@st.composite
def label_data(draw, min_coders=2, max_coders=2, missing=False):
    n_coders = draw(st.integers(min_coders, max_coders))
    n_units = draw(st.integers(1, 40))
    q = draw(st.integers(2, 5))
    lab = draw(hnp.arrays(np.int64, (n_coders, n_units), elements=st.integers(0, q - 1)))
    obs = (
        draw(hnp.arrays(np.bool_, (n_coders, n_units), elements=st.booleans()))
        if missing
        else np.ones((n_coders, n_units), dtype=bool)
    )
    return lab, obs, q


@SETTINGS
@given(label_data())
def test_nominal_kappa_matches_sklearn(data):
    lab, _, q = data
    ref = sk_kappa(lab[0], lab[1])
    res = categorical_agreement(lab, categories=[f"k{i}" for i in range(q)])
    got = res.pairs["coder_0|coder_1"]
    assert close(got.kappa, ref)
    cm = np.array(got.confusion)
    assert cm.sum() == lab.shape[1]
    assert close(kappa_from_confusion(cm)[0], ref)
    assert math.isnan(ref) == ("kappa" in got.undefined_reasons)


@SETTINGS
@given(label_data(min_coders=2, max_coders=5, missing=True))
def test_nominal_alpha_and_fleiss_match_references(data):
    lab, obs, q = data
    rel = np.where(obs, lab, np.nan).astype(float)
    ref = kripp(rel)
    assert close(krippendorff_alpha_nominal(lab, obs, q), ref)
    res = categorical_agreement(np.where(obs, lab, -1), categories=list(range(q)))
    if lab.shape[0] >= 3:
        assert close(res.multi.alpha, ref)
        full = obs.all(axis=0)
        if full.any():
            fref = sm_fleiss(lab[:, full].T)
            assert close(fleiss_kappa_nominal(lab, obs, q), fref)
            assert close(res.multi.fleiss_kappa, fref)
        else:
            assert math.isnan(res.multi.fleiss_kappa)
    for key, pair in res.pairs.items():
        i, j = (res.coders.index(c) for c in key.split("|"))
        assert close(pair.alpha, kripp(rel[[i, j]]))
        both = obs[i] & obs[j]
        if both.any():
            assert close(pair.kappa, sk_kappa(lab[i, both], lab[j, both]))
        else:
            assert math.isnan(pair.kappa) and "kappa" in pair.undefined_reasons


@pytest.mark.parametrize("seed", range(5))
def test_larger_random_panels_against_references(seed):
    """Bigger, correlated data (not hypothesis-sized) across all references at once."""
    rng = np.random.default_rng(seed)
    truth = rng.random((400, 8)) < rng.uniform(0.02, 0.5, size=8)
    x = np.stack([truth ^ (rng.random(truth.shape) < 0.15) for _ in range(4)]).astype(int)
    obs = rng.random((4, 400)) > 0.1
    res = agreement_table(x, observed=obs, gold=0)
    for q in range(8):
        rel = np.where(obs, x[:, :, q], np.nan)
        assert close(res.multi.per_code[f"code_{q}"].alpha, kripp(rel))
        full = obs.all(axis=0)
        assert close(res.multi.per_code[f"code_{q}"].fleiss_kappa, sm_fleiss(x[:, full, q].T))
        both = obs[0] & obs[1]
        assert close(
            res.pairs["coder_0|coder_1"].per_code[f"code_{q}"].kappa,
            sk_kappa(x[0, both, q], x[1, both, q]),
        )
