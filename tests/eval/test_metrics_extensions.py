"""The additions to eval.metrics for the harness: unit weights (character runs) and multi-rater Po/Pe/PABAK/AC1."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.inter_rater import fleiss_kappa

from eval.metrics import _multi_rater_binary_from_sums, ac1_from_counts, agreement_table, binary_counts


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


@st.composite
def weighted_panels(draw):
    n_units = draw(st.integers(1, 10))
    n_coders = draw(st.integers(2, 4))
    presence = np.array(draw(st.lists(st.integers(0, 1), min_size=n_coders * n_units * 2,
                                      max_size=n_coders * n_units * 2))).reshape(n_coders, n_units, 2)
    observed = np.array(draw(st.lists(st.booleans(), min_size=n_coders * n_units,
                                      max_size=n_coders * n_units))).reshape(n_coders, n_units)
    weights = np.array(draw(st.lists(st.integers(0, 4), min_size=n_units, max_size=n_units)))
    return presence, observed, weights


@settings(max_examples=60, deadline=None)
@given(weighted_panels())
def test_unit_weights_equal_repeating_units(panel):
    presence, observed, weights = panel
    coders = [f"c{i}" for i in range(presence.shape[0])]
    kw = dict(code_ids=["x", "y"], coder_names=coders, gold="c0")
    weighted = agreement_table(presence, observed, unit_weights=weights, **kw)
    repeated = agreement_table(np.repeat(presence, weights, axis=1), np.repeat(observed, weights, axis=1), **kw)
    assert weighted.n_units == repeated.n_units == int(weights.sum())
    for key, pair in repeated.pairs.items():
        got = weighted.pairs[key]
        for code, expected in pair.per_code.items():
            assert same(got.per_code[code].model_dump(), expected.model_dump())
        assert same(got.overall.model_dump(), pair.overall.model_dump())
    if repeated.multi is not None:
        for code, expected in repeated.multi.per_code.items():
            assert same(weighted.multi.per_code[code].model_dump(), expected.model_dump())
        assert same(weighted.multi.overall.model_dump(), repeated.multi.overall.model_dump())


def test_unit_weights_validation_and_bootstrap():
    presence = np.array([[1, 0, 1], [1, 1, 0]])[:, :, None]
    for bad, match in [([1, 2], "shape"), ([1, -1, 2], "non-negative"), ([1, 0.5, 2], "integers")]:
        with pytest.raises(ValueError, match=match):
            agreement_table(presence, unit_weights=bad)
    r = agreement_table(presence, unit_weights=[10, 30, 20], bootstrap=200, seed=3)
    g = r.per_code["code_0"]
    assert g.counts.model_dump() == {"a": 10, "b": 20, "c": 30, "d": 0}
    lo, hi = g.ci["po"]
    assert lo <= g.po <= hi  # resampling three weighted runs: Po of 1/6 lies inside its interval


def test_multi_rater_po_pe_pabak_ac1_by_hand():
    # 3 coders, 5 units; ones per unit n_u1 = 3, 2, 0, 0, 1
    # P_u = (n0^2 + n1^2 - 3) / 6 = 1, 1/3, 1, 1, 1/3  ->  P_bar = (11/3) / 5 = 11/15
    # p_1 = 6/15 = 0.4; Fleiss Pe = 0.16 + 0.36 = 0.52; kappa = (11/15 - 0.52) / 0.48 = 4/9
    # Gwet Pe = 2 * 0.4 * 0.6 = 0.48; AC1 = (11/15 - 0.48) / 0.52 = 19/39; PABAK = 2 * 11/15 - 1 = 7/15
    presence = np.array([[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [1, 0, 0, 0, 1]])[:, :, None]
    m = agreement_table(presence, code_ids=["x"], coder_names=["A", "B", "C"]).multi.per_code["x"]
    assert m.po == pytest.approx(11 / 15, abs=1e-12)
    assert m.pe == pytest.approx(0.52, abs=1e-12)
    assert m.fleiss_kappa == pytest.approx(4 / 9, abs=1e-12)
    assert m.ac1 == pytest.approx(19 / 39, abs=1e-12)
    assert m.pabak == pytest.approx(7 / 15, abs=1e-12)
    table = np.stack([3 - presence[:, :, 0].sum(0), presence[:, :, 0].sum(0)], axis=1)
    assert m.fleiss_kappa == pytest.approx(fleiss_kappa(table), abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=1, max_size=30))
def test_multi_rater_with_two_raters_equals_two_coder_po_and_ac1(pairs):
    x, y = np.array(pairs).T
    a, b, c, d = (int(v) for v in binary_counts(x, y))
    ones = x + y
    p_bar, _, ac1 = _multi_rater_binary_from_sums(len(pairs), ones.sum(), (ones**2 + (2 - ones) ** 2).sum(), 2)
    assert float(p_bar) == pytest.approx((a + d) / len(pairs), abs=1e-12)
    assert float(ac1) == pytest.approx(float(ac1_from_counts(a, b, c, d)[0]), abs=1e-12)


def test_multi_rater_undefined_without_fully_coded_units():
    presence = np.array([[1, 0], [0, 1], [1, 1]])[:, :, None].astype(float)
    presence[0, 1] = np.nan
    presence[1, 0] = np.nan
    m = agreement_table(presence, code_ids=["x"]).multi.per_code["x"]
    assert m.n_units_fleiss == 0 and math.isnan(m.po) and math.isnan(m.ac1)
    assert m.undefined_reasons["ac1"] == "no unit was coded by all coders"
