"""Fleiss' kappa and AC1 in Gwet's generalised form for missing ratings, against published values.

Sources of the data and of the expected values:

* Gwet, K. L. (2014). *Handbook of Inter-Rater Reliability*, 4th ed., Advanced Analytics: the
  5-observer data (15 units, ratings 0-3, only observer 3 rated every unit) — irrCAC's
  ``cac.raw5obs`` / ``raw_5observers`` — and the 4-rater data of p. 120 (12 units, ratings 1-5) —
  irrCAC's ``cac.raw4raters`` / ``raw_4raters``, which is Krippendorff's (2011) reliability data
  with missing values ("Computing Krippendorff's alpha-reliability", section D, alpha nominal
  0.743).
* Expected values as irrCAC computes them (``fleiss.kappa.raw``, ``gwet.ac1.raw``), from the
  test suite of its Python port: https://github.com/afergadis/irrCAC, files
  ``test/unit/irrCAC/raw/test_fleiss.py`` and ``test_gwet.py`` (3 decimals): 5 observers
  Pa 0.616, Fleiss Pe 0.291, kappa 0.458, AC1 Pe 0.236, AC1 0.497; 4 raters Pa 0.818, Fleiss
  Pe 0.239, kappa 0.761, AC1 Pe 0.190, AC1 0.775.
"""

from __future__ import annotations

import numpy as np
import pytest

from eval.metrics import (
    ac2_from_confusion,
    agreement_table,
    fleiss_kappa_nominal,
    generalized_agreement_nominal,
    kappa_from_confusion,
    krippendorff_alpha_nominal,
    multi_rater_nominal,
    prevalence_index_from_counts,
    scott_pi_from_confusion,
    scott_pi_from_counts,
    weighted_kappa_from_confusion,
    weighted_multi_rater,
)

N = np.nan
FIVE_OBSERVERS = np.array([
    [1, 1, 2, N, 0, 0, 1, 1, 2, 2, N, 0, 1, 3, 1],
    [1, 1, 3, 0, 0, 0, 0, N, 2, 1, 1, 0, 2, 3, 1],
    [2, 0, 3, 0, 0, 0, 2, 2, 2, 1, 0, 0, 2, 2, 1],
    [N, 1, 3, N, N, N, N, 0, N, 1, 0, 0, 2, 2, N],
    [2, N, N, 0, 0, 0, 1, N, 2, N, N, N, N, 3, 1],
])
FOUR_RATERS = np.array([  # Krippendorff (2011) reliability data, values 1-5 (here 0-4)
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, N],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]) - 1


@pytest.mark.parametrize("labels, q, kappa, ac1, pa, n2", [
    (FIVE_OBSERVERS, 4, 0.458, 0.497, 0.616, 15),
    (FOUR_RATERS, 5, 0.761, 0.775, 0.818, 11),
])
def test_generalised_fleiss_and_ac1_reproduce_irrcac(labels, q, kappa, ac1, pa, n2):
    got_kappa, got_ac1, got_pa, got_n2 = generalized_agreement_nominal(labels, n_categories=q)
    assert round(got_kappa, 3) == kappa
    assert round(got_ac1, 3) == ac1
    assert round(got_pa, 3) == pa
    assert got_n2 == n2  # units rated by two or more coders: all of them count


def test_complete_units_form_is_what_the_issue_reported():
    # the classical form uses only the 1 unit every observer rated: kappa -0.25 ("poor")
    assert fleiss_kappa_nominal(FIVE_OBSERVERS, n_categories=4) == pytest.approx(-0.25)


def test_krippendorff_alpha_on_the_same_data():
    # Krippendorff (2011), section D: alpha (nominal) = 0.743
    assert round(krippendorff_alpha_nominal(FOUR_RATERS, n_categories=5), 3) == 0.743


def _binary(labels: np.ndarray, category: int) -> tuple[np.ndarray, np.ndarray]:
    observed = ~np.isnan(labels)
    return np.where(observed, labels == category, 0).astype(int)[:, :, None], observed


@pytest.mark.parametrize("labels", [FIVE_OBSERVERS, FOUR_RATERS])
def test_per_code_generalised_form_equals_the_two_category_nominal_form(labels):
    """Each code as a yes/no variable: agreement_table's generalised kappa and AC1 equal irrCAC's
    formulas on that two-category variable (q = 2)."""
    for category in range(int(np.nanmax(labels)) + 1):
        presence, observed = _binary(labels, category)
        m = agreement_table(presence, observed, code_ids=["c"]).multi.per_code["c"]
        two = np.where(observed, presence[:, :, 0], np.nan)
        kappa, ac1, pa, n2 = generalized_agreement_nominal(two, n_categories=2)
        assert m.gen_fleiss_kappa == pytest.approx(kappa, abs=1e-12, nan_ok=True)
        assert m.gen_ac1 == pytest.approx(ac1, abs=1e-12)
        assert m.gen_po == pytest.approx(pa, abs=1e-12)
        assert m.n_units_alpha == n2


def test_generalised_equals_classical_without_missing_ratings():
    rng = np.random.default_rng(3)
    presence = rng.integers(0, 2, size=(4, 40, 3))
    m = agreement_table(presence).multi
    for q in range(3):
        code = m.per_code[f"code_{q}"]
        assert code.gen_fleiss_kappa == pytest.approx(code.fleiss_kappa, abs=1e-12)
        assert code.gen_ac1 == pytest.approx(code.ac1, abs=1e-12)
        assert code.gen_po == pytest.approx(code.po, abs=1e-12)


# -- Conger, Brennan-Prediger, Scott (issue 15: each with a published value) ----------------------------------
@pytest.mark.parametrize("labels, q, conger, conger_pe, bp", [
    # irrCAC test suite, test/unit/irrCAC/raw/test_conger.py and test_bp.py (afergadis/irrCAC)
    (FIVE_OBSERVERS, 4, 0.469, 0.276, 0.487),
    (FOUR_RATERS, 5, 0.763, 0.233, 0.773),
])
def test_conger_and_brennan_prediger_reproduce_irrcac(labels, q, conger, conger_pe, bp):
    got = multi_rater_nominal(labels, n_categories=q)
    assert round(got["conger_kappa"], 3) == conger and round(got["conger_pe"], 3) == conger_pe
    assert round(got["brennan_prediger"], 3) == bp
    assert round(got["fleiss_kappa"], 3) == {4: 0.458, 5: 0.761}[q]


def test_scott_pi_and_cohen_kappa_on_gwets_abstractor_table():
    """irrCAC vignette (Gwet 2014), cont3x3abstractors: Cohen's kappa 0.7964094, Scott's pi 0.7962397."""
    table = np.array([[13, 0, 0], [0, 20, 7], [0, 4, 56]])
    assert scott_pi_from_confusion(table) == pytest.approx(0.7962397, abs=5e-8)
    assert kappa_from_confusion(table)[0] == pytest.approx(0.7964094, abs=5e-8)


def test_binary_scott_pi_prevalence_and_bias_indices():
    """Per code (2x2 table a=20, b=5, c=10, d=15, n=50): Scott's pi equals the k x k formula on the
    same table; PI = (a - d)/n = 0.1 and BI = (b - c)/n = -0.1 (Byrt, Bishop & Carlin 1993)."""
    x = np.array([1] * 20 + [1] * 5 + [0] * 10 + [0] * 15)
    y = np.array([1] * 20 + [0] * 5 + [1] * 10 + [0] * 15)
    g = agreement_table(np.stack([x, y])[:, :, None]).per_code["code_0"]
    assert g.scott_pi == pytest.approx(scott_pi_from_confusion([[20, 5], [10, 15]]), abs=1e-12)
    assert float(scott_pi_from_counts(20, 5, 10, 15)) == pytest.approx(g.scott_pi, abs=1e-12)
    assert g.prevalence_index == pytest.approx(0.1) and g.bias_index == pytest.approx(-0.1)
    assert float(prevalence_index_from_counts(0, 0, 0, 0)) != float(prevalence_index_from_counts(0, 0, 0, 0))  # NaN


@pytest.mark.parametrize("labels", [FIVE_OBSERVERS, FOUR_RATERS])
def test_per_code_conger_equals_the_two_category_form(labels):
    for category in range(int(np.nanmax(labels)) + 1):
        presence, observed = _binary(labels, category)
        m = agreement_table(presence, observed, code_ids=["c"]).multi.per_code["c"]
        two = np.where(observed, presence[:, :, 0], np.nan)
        assert m.gen_conger_kappa == pytest.approx(multi_rater_nominal(two, n_categories=2)["conger_kappa"],
                                                   abs=1e-12, nan_ok=True)


# irrCAC test suite, test/unit/irrCAC/table/test_cohen.py and test_gwet.py (Gwet 2014 tables)
ABSTRACTORS = np.array([[13, 0, 0], [0, 20, 7], [0, 4, 56]])
DIAGNOSIS = np.array([[40, 4, 4, 17], [6, 25, 2, 13], [4, 1, 21, 12], [15, 5, 9, 45]])


@pytest.mark.parametrize("table, weights, kappa_w, ac2", [
    (ABSTRACTORS, "linear", 0.843, 0.900),
    (ABSTRACTORS, "quadratic", 0.892, 0.940),
    (DIAGNOSIS, "linear", 0.407, 0.377),
    (DIAGNOSIS, "quadratic", 0.383, 0.299),
])
def test_weighted_kappa_and_ac2_reproduce_irrcac(table, weights, kappa_w, ac2):
    assert round(weighted_kappa_from_confusion(table, weights), 3) == kappa_w
    assert round(ac2_from_confusion(table, weights), 3) == ac2


def test_weighted_multi_rater_fleiss_and_ac2_reproduce_irrcac():
    """irrCAC's weighting vignette ("Weighting for a dataset of raw ratings", cac.raw4raters, quadratic weights):
    ``gwet.ac1.raw`` Pa 0.9753788, Pe 0.7137044, AC2 0.914; ``fleiss.kappa.raw`` Pe 0.8177083, kappa 0.86494
    (https://cran.r-project.org/web/packages/irrCAC/vignettes/weighting.html)."""
    got = weighted_multi_rater(FOUR_RATERS, n_categories=5, weights="quadratic")
    assert round(got["pa"], 7) == 0.9753788
    assert round(got["pe_ac2"], 7) == 0.7137044 and round(got["ac2"], 3) == 0.914
    assert round(got["pe_fleiss"], 7) == 0.8177083 and round(got["fleiss_kappa"], 5) == 0.86494
    assert got["n_units"] == 11
    # two coders, no missing ratings: the multi-rater AC2 is the two-coder AC2 of their confusion table
    pair = FOUR_RATERS[[0, 1], :9].astype(int)
    confusion = np.zeros((5, 5))
    np.add.at(confusion, (pair[0], pair[1]), 1)
    assert weighted_multi_rater(pair, n_categories=5)["ac2"] == pytest.approx(ac2_from_confusion(confusion), abs=1e-12)
