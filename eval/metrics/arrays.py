"""Low-level public functions on presence / label arrays (one statistic, no result model)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from eval.metrics.features import (
    _add_multi_features,
    _Features,
    _multi_nominal_features,
    conger_sums,
    generalized_sums,
)
from eval.metrics.formulas import (
    _alpha_binary_from_sums,
    _alpha_nominal_from_sums,
    _conger_nominal_from_sums,
    _div,
    _f,
    _fleiss_binary_from_sums,
    _fleiss_nominal_from_sums,
    _generalized_nominal_from_sums,
    binary_counts,
    brennan_prediger,
    kappa_from_counts,
    ordinal_weights,
    validate_labels,
    validate_presence,
)


def cohen_kappa(x: Any, y: Any, mask: Any | None = None) -> np.ndarray:
    """Cohen's (1960) kappa per code for two coders' 0/1 presence ``(n_units[, n_codes])``.

    See :func:`kappa_from_counts`; NaN where undefined (Pe = 1 or no units).
    """
    return kappa_from_counts(*binary_counts(x, y, mask))[0]


def krippendorff_alpha_binary(presence: Any, observed: Any | None = None) -> np.ndarray:
    """Krippendorff's alpha (nominal) per code, any number of coders, missing data allowed.

    Coincidence-matrix method (Krippendorff 2011): with m_u coders on unit u and n_u1 of
    them marking the code, units with m_u < 2 are dropped; over the rest
    ``o_01 = sum_u n_u0 n_u1 / (m_u - 1)``, ``n_1 = sum_u n_u1``, ``n.. = sum_u m_u``, and
    ``alpha = 1 - D_o / D_e = 1 - (n.. - 1) o_01 / (n_0 n_1)``. NaN where ``n_0 n_1 = 0``.

    Returns an array of shape (n_codes,).
    """
    x, obs = validate_presence(presence, observed)
    feats = _Features(x.shape[1])
    _add_multi_features(feats, x, obs)
    S = feats.sums()
    return _alpha_binary_from_sums(S["alpha:N"], S["alpha:N1"], S["alpha:D"])


def fleiss_kappa_binary(presence: Any, observed: Any | None = None) -> np.ndarray:
    """Fleiss' (1971) kappa per code over the units seen by all coders.

    See :func:`_fleiss_binary_from_sums` for the formula; NaN where undefined.
    Returns an array of shape (n_codes,).
    """
    x, obs = validate_presence(presence, observed)
    feats = _Features(x.shape[1])
    _add_multi_features(feats, x, obs)
    S = feats.sums()
    return _fleiss_binary_from_sums(S["fleiss:N"], S["fleiss:S1"], S["fleiss:SQ"], x.shape[0])


def confusion_matrix_nominal(
    y1: Any, y2: Any, n_categories: int | None = None, mask: Any | None = None
) -> np.ndarray:
    """k x k confusion matrix of two coders' category indices (rows = ``y1``)."""
    y1 = np.asarray(y1, dtype=np.int64)
    y2 = np.asarray(y2, dtype=np.int64)
    keep = (y1 >= 0) & (y2 >= 0)
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool)
    q = n_categories
    if q is None:
        q = int(max(y1[keep].max(initial=-1), y2[keep].max(initial=-1))) + 1
    flat = np.bincount(y1[keep] * q + y2[keep], minlength=q * q)
    return flat.reshape(q, q)



def krippendorff_alpha_nominal(
    labels: Any, observed: Any | None = None, n_categories: int | None = None
) -> float:
    """Krippendorff's alpha for single-label nominal data, any coders, missing allowed.

    ``o_ck = sum_u n_uc n_uk / (m_u - 1)`` (c != k) over units with m_u >= 2,
    ``alpha = 1 - (n.. - 1) sum_{c!=k} o_ck / (n..^2 - sum_c n_c^2)`` (Krippendorff 2011),
    with ``sum_{c!=k} o_ck = sum_u (m_u^2 - sum_c n_uc^2) / (m_u - 1)``. NaN if undefined.
    """
    lab, obs, q = validate_labels(labels, observed, n_categories)
    feats = _Features(lab.shape[1])
    _multi_nominal_features(feats, lab, obs, q)
    S = feats.sums()
    return _f(_alpha_nominal_from_sums(S["alpha:N"][0], S["alpha:NC"], S["alpha:Doff"][0]))


def fleiss_kappa_nominal(
    labels: Any, observed: Any | None = None, n_categories: int | None = None
) -> float:
    """Fleiss' (1971) kappa for single-label data over units rated by all coders.

    ``P_u = (sum_c n_uc^2 - r) / (r (r-1))``, ``p_c = sum_u n_uc / (N r)``,
    ``kappa = (mean P_u - sum_c p_c^2) / (1 - sum_c p_c^2)``; NaN if undefined.
    """
    lab, obs, q = validate_labels(labels, observed, n_categories)
    feats = _Features(lab.shape[1])
    _multi_nominal_features(feats, lab, obs, q)
    S = feats.sums()
    return _f(
        _fleiss_nominal_from_sums(S["fleiss:N"][0], S["fleiss:SC"], S["fleiss:SQ"][0], lab.shape[0])
    )




def generalized_agreement_nominal(
    labels: Any, observed: Any | None = None, n_categories: int | None = None
) -> tuple[float, float, float, int]:
    """Fleiss' kappa and AC1 in Gwet's (2014) generalised form for missing ratings, single-label data.

    Every unit rated by at least two coders counts (see
    :func:`eval.metrics.formulas._generalized_nominal_from_sums`). Returns ``(kappa, ac1, Pa, n2)``
    with n2 the units rated by two or more coders.
    """
    lab, obs, q = validate_labels(labels, observed, n_categories)
    feats = _Features(lab.shape[1])
    _multi_nominal_features(feats, lab, obs, q)
    S = feats.sums()
    n1, n2, pa_sum, pi_sums = generalized_sums(S)
    kappa, ac1, pa = _generalized_nominal_from_sums(n1[0], n2[0], pa_sum[0], pi_sums, q)
    return _f(kappa), _f(ac1), _f(pa), int(S["gen:N2"][0])


def multi_rater_nominal(
    labels: Any, observed: Any | None = None, n_categories: int | None = None
) -> dict[str, float]:
    """Every multi-rater coefficient for single-label data with missing ratings, over the units rated
    by two or more coders (Gwet 2014; irrCAC's ``*.raw`` functions): Fleiss' kappa and AC1 in the
    generalised form, Conger's (1980) kappa, Brennan & Prediger's (1981) coefficient, the observed
    agreement ``pa`` and ``n_units`` (units rated by two or more coders)."""
    lab, obs, q = validate_labels(labels, observed, n_categories)
    feats = _Features(lab.shape[1])
    _multi_nominal_features(feats, lab, obs, q)
    S = feats.sums()
    n1, n2, pa_sum, pi_sums = generalized_sums(S)
    kappa, ac1, pa = _generalized_nominal_from_sums(n1[0], n2[0], pa_sum[0], pi_sums, q)
    marks, seen = conger_sums(S)
    conger, conger_pe = _conger_nominal_from_sums(pa, marks, seen)
    return {"fleiss_kappa": _f(kappa), "ac1": _f(ac1), "conger_kappa": _f(conger), "conger_pe": _f(conger_pe),
            "brennan_prediger": _f(brennan_prediger(pa, q)), "pa": _f(pa), "n_units": float(n2[0])}


def weighted_multi_rater(
    labels: Any, observed: Any | None = None, n_categories: int | None = None, weights: str = "quadratic"
) -> dict[str, float]:
    """Weighted Fleiss' kappa and Gwet's AC2 for ordinal single-label data, any number of coders, missing
    ratings in Gwet's (2014, ch. 3 and 5) generalised form, as irrCAC's ``fleiss.kappa.raw`` and
    ``gwet.ac1.raw`` compute them with ``weights``.

    With r_uk the coders giving unit u category k, r_u = sum_k r_uk and ``r*_uk = sum_l w_kl r_ul``:
    ``Pa = mean over units with r_u >= 2 of sum_k r_uk (r*_uk - 1) / (r_u (r_u - 1))``;
    ``pi_k = mean over units with r_u >= 1 of r_uk / r_u``; Fleiss ``Pe = sum_kl w_kl pi_k pi_l``;
    AC2 ``Pe = T_w / (q (q - 1)) sum_k pi_k (1 - pi_k)`` with ``T_w = sum_kl w_kl``; each coefficient
    ``(Pa - Pe) / (1 - Pe)``. Returns ``fleiss_kappa``, ``ac2``, ``pa``, ``pe_fleiss``, ``pe_ac2``, ``n_units``
    (units rated by two or more coders)."""
    lab, obs, q = validate_labels(labels, observed, n_categories)
    w = ordinal_weights(q, weights)
    counts = np.zeros((lab.shape[1], q))
    for i in range(lab.shape[0]):
        counts[np.flatnonzero(obs[i]), lab[i, obs[i]]] += 1
    r = counts.sum(axis=1)
    rated, pairable = r >= 1, r >= 2
    weighted = counts @ w.T
    agree = np.sum(counts * (weighted - 1.0), axis=1)
    pa = float(np.mean(agree[pairable] / (r[pairable] * (r[pairable] - 1.0)))) if pairable.any() else math.nan
    pi = (counts[rated] / r[rated, None]).mean(axis=0) if rated.any() else np.full(q, math.nan)
    pe_fleiss = float(pi @ w @ pi)
    pe_ac2 = float(w.sum() / (q * (q - 1)) * np.sum(pi * (1.0 - pi))) if q > 1 else math.nan
    return {"fleiss_kappa": _f(_div(pa - pe_fleiss, 1.0 - pe_fleiss)), "ac2": _f(_div(pa - pe_ac2, 1.0 - pe_ac2)),
            "pa": _f(pa), "pe_fleiss": _f(pe_fleiss), "pe_ac2": _f(pe_ac2), "n_units": float(pairable.sum())}
