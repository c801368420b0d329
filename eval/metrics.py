"""Inter-coder agreement metrics for pre-coded qualitative data.

Compares coders (the LLM pre-coder and one or more human coders) who each marked, for
every unit (a transcript segment), which codes of a codebook apply. Written in the style
of ``sklearn.metrics``: small vectorized numpy functions, each with its formula and a
reference, plus one top-level entry point, :func:`agreement_table`, that computes
everything for all codes at once and returns pydantic models ready to serialize.

Data model
----------
Multi-label (code presence) schemes
    ``presence``: array of shape ``(n_coders, n_units, n_codes)`` with values 1 (the coder
    applied the code to the unit) and 0 (did not). Missing data, i.e. a unit a coder did
    not see, is a whole coder x unit row and is given either by

    * ``observed``: boolean array ``(n_coders, n_units)``, False = not seen, or
    * a float ``presence`` with NaN in every code of that coder x unit row (a row with NaN
      in only some codes is rejected: missingness is per unit, not per code).

    Both may be given; a row is observed if both say so. Values in unobserved rows are
    ignored. Every code is treated as its own binary (present/absent) variable.
Single-label schemes
    ``labels``: integer array ``(n_coders, n_units)`` of category indices in
    ``[0, n_categories)``; a negative value, NaN, or ``observed == False`` marks missing.
    :func:`encode_labels` turns lists of arbitrary labels into this form.

Two-coder statistics (kappa, Po, Pe, PABAK, AC1, pairwise alpha, P/R/F1) use the units
*both* coders saw. With more than two coders they are computed for every pair, keyed
``"A|B"`` (coder order as given); Fleiss' kappa and Krippendorff's alpha are also computed
across all coders.

2x2 table for one code and two coders A (rows) and B (columns)::

                B = 1   B = 0
        A = 1     a       b
        A = 0     c       d          n = a + b + c + d

Against a gold coder G and a predicting coder P: TP = both 1, FP = P 1 and G 0, FN = P 0
and G 1 (so FP = b, FN = c when B is gold, and FP = c, FN = b when A is gold).

Undefined values (the choices this module makes)
------------------------------------------------
A statistic whose formula divides by zero is *undefined*; it is never replaced by 0 or 1.
Internally it is ``float('nan')``; in the result models the float field holds NaN (which
pydantic serializes to JSON ``null``) and ``undefined_reasons[<field>]`` says why, e.g.
``"Pe = 1: ..."``. Nothing raises on degenerate data; ``ValueError`` is raised only for
malformed input (wrong shapes, values other than 0/1, unknown gold coder).

* **No shared units** (n = 0, including zero units overall): every two-coder statistic,
  Po included, is undefined ("no units coded by both ...").
* **Cohen's kappa, Pe = 1**: both coders constant *and equal* (the code absent from every
  unit -- a code neither coder used -- or present in every unit). Kappa is 0/0 and
  undefined; Po (= 1.0), PABAK (= 1.0) and AC1 (= 1.0) remain defined and are reported.
* **One coder constant, the other not**: kappa is defined and is exactly 0 (Pe = Po).
  This is reported as 0 with a ``notes["kappa"]`` explaining why, because it says nothing
  about how well the coders agree.
* **Both constant but opposite** (A always 1, B always 0): Pe = 0, Po = 0, kappa = 0.
* **Krippendorff's alpha**: units with fewer than two observed values are not pairable
  and are dropped (Krippendorff 2011). Alpha is undefined when the expected disagreement
  De = 0, i.e. the pairable values contain only one category (or there are none).
* **Fleiss' kappa**: uses units seen by *all* coders; undefined when there are none or
  when all their ratings fall in one category (Pe = 1); needs at least 2 coders.
* **Gwet's AC1 / PABAK**: undefined only when n = 0 (AC1's Pe <= 1/2 for two categories).
  Multi-category AC1 also needs at least two declared categories.
* **Precision** undefined when the predicting coder never marked the code (TP + FP = 0);
  **recall** when the gold coder never did (TP + FN = 0); **F1** = 2TP / (2TP + FP + FN)
  when neither did (TP + FP + FN = 0). Precision/recall/F1 are ``None`` (not applicable,
  no reason) on pairs that do not include the gold coder, or when no gold is given.
* **Macro averages** are means over the codes on which the statistic is defined; the
  number of such codes is reported (``n_kappa_defined`` etc.) and the macro value is
  undefined if no code qualifies. **Micro** statistics are computed from the 2x2 table
  (or sums) pooled over all codes, i.e. treating every unit x code cell as an item.
* **Bootstrap CIs**: percentile intervals over replicates that resample units; replicates
  on which a statistic is undefined are excluded and the count is put in ``notes``
  (``"ci.kappa"``). The CI is ``None`` when the point estimate is undefined or no
  replicate is defined. See :mod:`eval.bootstrap`.
* **Prevalence paradox** (Feinstein & Cicchetti 1990): when Po >= 0.85, kappa <= 0.40 and
  the mean prevalence is <= 0.15 or >= 0.85, ``notes["kappa"]`` flags it and points to
  AC1/PABAK.

References
----------
* Cohen, J. (1960). A coefficient of agreement for nominal scales. *Educational and
  Psychological Measurement*, 20(1), 37-46.
* Scott, W. A. (1955). Reliability of content analysis: the case of nominal scale
  coding. *Public Opinion Quarterly*, 19(3), 321-325.
* Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters.
  *Psychological Bulletin*, 76(5), 378-382.
* Landis, J. R., & Koch, G. G. (1977). The measurement of observer agreement for
  categorical data. *Biometrics*, 33(1), 159-174.
* Feinstein, A. R., & Cicchetti, D. V. (1990). High agreement but low kappa: I. The
  problems of two paradoxes. *Journal of Clinical Epidemiology*, 43(6), 543-549.
* Byrt, T., Bishop, J., & Carlin, J. B. (1993). Bias, prevalence and kappa. *Journal of
  Clinical Epidemiology*, 46(5), 423-429.
* Gwet, K. L. (2008). Computing inter-rater reliability and its variance in the presence
  of high agreement. *British Journal of Mathematical and Statistical Psychology*, 61(1),
  29-48.
* Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability. Annenberg School
  for Communication, University of Pennsylvania. https://repository.upenn.edu/asc_papers/43
* Efron, B., & Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*. Chapman & Hall.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator, Sequence
from itertools import combinations
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .bootstrap import bootstrap_sums, make_rng, percentile_interval

__all__ = [
    "AgreementResult",
    "BinaryAgreement",
    "CategoricalAgreement",
    "CategoricalMultiAgreement",
    "CategoricalResult",
    "Counts",
    "MultiCoderAgreement",
    "MultiCoderOverall",
    "MultiCoderResult",
    "OverallAgreement",
    "PairAgreement",
    "ac1_from_confusion",
    "ac1_from_counts",
    "agreement_table",
    "alpha_from_counts",
    "binary_counts",
    "categorical_agreement",
    "cohen_kappa",
    "confusion_matrix_nominal",
    "encode_labels",
    "fleiss_kappa_binary",
    "fleiss_kappa_nominal",
    "kappa_from_confusion",
    "kappa_from_counts",
    "krippendorff_alpha_binary",
    "krippendorff_alpha_nominal",
    "landis_koch",
    "pabak_from_counts",
    "pair_key",
    "prf_from_counts",
    "validate_labels",
    "validate_presence",
]

#: Separator in pair keys such as ``"llm|alice"``.
PAIR_SEP = "|"

# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _div(num: Any, den: Any) -> np.ndarray:
    """Elementwise ``num / den`` with NaN (undefined) where ``den == 0``; no warnings."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _nanmean(x: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Mean over defined (non-NaN) values along ``axis`` and their count; NaN if none."""
    defined = ~np.isnan(x)
    count = defined.sum(axis=axis)
    total = np.where(defined, x, 0.0).sum(axis=axis)
    return _div(total, count), count


def _f(x: Any) -> float:
    """numpy scalar/0-d array -> Python float (NaN kept)."""
    return float(np.asarray(x))


def pair_key(coder_a: str, coder_b: str) -> str:
    """Key of a coder pair in :attr:`AgreementResult.pairs`, e.g. ``"llm|alice"``."""
    return f"{coder_a}{PAIR_SEP}{coder_b}"


def landis_koch(value: float | None) -> str:
    """Landis & Koch (1977) verbal label for a kappa-type coefficient.

    ``< 0`` poor, ``[0, 0.20]`` slight, ``(0.20, 0.40]`` fair, ``(0.40, 0.60]`` moderate,
    ``(0.60, 0.80]`` substantial, ``(0.80, 1]`` almost perfect; ``None``/NaN ->
    ``"undefined"``. The published bands (0.21-0.40, ...) are read as half-open intervals
    so that every value gets a label.
    """
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return "undefined"
    v = float(value)
    if math.isnan(v):
        return "undefined"
    if v < 0:
        return "poor"
    if v <= 0.20:
        return "slight"
    if v <= 0.40:
        return "fair"
    if v <= 0.60:
        return "moderate"
    if v <= 0.80:
        return "substantial"
    return "almost perfect"


# --------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------


def validate_presence(presence: Any, observed: Any | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Check and normalize a coder x unit x code presence array.

    Parameters
    ----------
    presence : array-like of shape (n_coders, n_units, n_codes) or (n_coders, n_units)
        1 = code present, 0 = absent (bool or int), or float with NaN rows for missing.
        A 2-D array is one code.
    observed : array-like of bool, shape (n_coders, n_units), optional
        False where the coder did not see the unit.

    Returns
    -------
    x : ndarray of bool, shape (n_coders, n_units, n_codes)
        Presence, forced to False in unobserved rows.
    obs : ndarray of bool, shape (n_coders, n_units)
    """
    arr = np.asarray(presence)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"presence must have shape (n_coders, n_units, n_codes); got {arr.shape}")
    n_coders, n_units, n_codes = arr.shape
    obs = np.ones((n_coders, n_units), dtype=bool)
    if arr.dtype.kind == "f":
        nan = np.isnan(arr)
        if nan.any():
            any_nan = nan.any(axis=2)
            if not np.array_equal(any_nan, nan.all(axis=2)):
                raise ValueError(
                    "NaN must mark a whole coder x unit row (all codes): missing data is "
                    "per unit a coder did not see, not per code"
                )
            obs &= ~any_nan
            arr = np.where(nan, 0.0, arr)
    elif arr.dtype.kind not in "biu":
        raise TypeError(f"presence must be numeric or bool; got dtype {arr.dtype}")
    if observed is not None:
        o = np.asarray(observed)
        if o.shape != (n_coders, n_units):
            raise ValueError(f"observed must have shape {(n_coders, n_units)}; got {o.shape}")
        if o.dtype != bool:
            if not np.isin(o, (0, 1)).all():
                raise ValueError("observed must be boolean (or 0/1)")
            o = o.astype(bool)
        obs &= o
    bad = ~((arr == 0) | (arr == 1)) & obs[:, :, None]
    if bad.any():
        raise ValueError("presence values must be 0 or 1 (or NaN for missing)")
    x = (arr != 0) & obs[:, :, None]
    return x, obs


def validate_labels(
    labels: Any, observed: Any | None = None, n_categories: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Check and normalize single-label data.

    Parameters
    ----------
    labels : array-like of int, shape (n_coders, n_units)
        Category index per coder and unit; negative or NaN = missing.
    observed : array-like of bool, shape (n_coders, n_units), optional
    n_categories : int, optional
        Number of declared categories ``q``; default ``max(label) + 1``.

    Returns
    -------
    lab : ndarray of int64 (missing set to 0), obs : ndarray of bool, q : int
    """
    arr = np.asarray(labels)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"labels must have shape (n_coders, n_units); got {arr.shape}")
    obs = np.ones(arr.shape, dtype=bool)
    if arr.dtype.kind == "f":
        nan = np.isnan(arr)
        obs &= ~nan
        arr = np.where(nan, -1, arr)
        if not np.all(arr == np.round(arr)):
            raise ValueError("labels must be integer category indices")
    elif arr.dtype.kind not in "biu":
        raise TypeError(
            f"labels must be integer category indices (see encode_labels); got {arr.dtype}"
        )
    arr = arr.astype(np.int64)
    obs &= arr >= 0
    if observed is not None:
        o = np.asarray(observed, dtype=bool)
        if o.shape != arr.shape:
            raise ValueError(f"observed must have shape {arr.shape}; got {o.shape}")
        obs &= o
    seen_max = int(arr[obs].max()) if obs.any() else -1
    q = seen_max + 1 if n_categories is None else int(n_categories)
    if seen_max >= q:
        raise ValueError(f"label {seen_max} out of range for {q} categories")
    return np.where(obs, arr, 0), obs, q


def encode_labels(
    rows: Sequence[Sequence[Hashable | None]],
    categories: Sequence[Hashable] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[Hashable]]:
    """Encode per-coder label lists (``None``/NaN = missing) as category indices.

    Returns ``(labels, observed, categories)`` for :func:`categorical_agreement`;
    categories default to the sorted set of labels used (by ``str`` if not comparable).
    """

    def missing(v: Any) -> bool:
        return v is None or (isinstance(v, float) and math.isnan(v))

    if categories is None:
        used = {v for row in rows for v in row if not missing(v)}
        try:
            categories = sorted(used)  # type: ignore[type-var]
        except TypeError:
            categories = sorted(used, key=str)
    index = {c: i for i, c in enumerate(categories)}
    n_units = {len(r) for r in rows}
    if len(n_units) > 1:
        raise ValueError("every coder must have one label (or None) per unit")
    lab = np.full((len(rows), n_units.pop() if n_units else 0), -1, dtype=np.int64)
    for i, row in enumerate(rows):
        for u, v in enumerate(row):
            if not missing(v):
                if v not in index:
                    raise ValueError(f"label {v!r} not among the categories")
                lab[i, u] = index[v]
    return lab, lab >= 0, list(categories)


# --------------------------------------------------------------------------------------
# formulas on counts / sufficient statistics (broadcast over any leading axes)
# --------------------------------------------------------------------------------------


def binary_counts(
    x: Any, y: Any, mask: Any | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """2x2 agreement counts per code for two coders.

    Parameters
    ----------
    x, y : array-like of 0/1, shape (n_units,) or (n_units, n_codes)
        Coder A's and coder B's presence.
    mask : array-like of bool, shape (n_units,), optional
        Units both coders saw; others are ignored.

    Returns
    -------
    a, b, c, d : ndarray of int64, shape () or (n_codes,)
        a = both 1, b = A 1 & B 0, c = A 0 & B 1, d = both 0.
    """
    x = np.asarray(x).astype(bool)
    y = np.asarray(y).astype(bool)
    if mask is None:
        m = np.ones(x.shape[0], dtype=bool)
    else:
        m = np.asarray(mask, dtype=bool)
    m = m.reshape((-1,) + (1,) * (x.ndim - 1))
    xm, ym = x & m, y & m
    a = np.sum(xm & ym, axis=0, dtype=np.int64)
    sx = np.sum(xm, axis=0, dtype=np.int64)
    sy = np.sum(ym, axis=0, dtype=np.int64)
    n = np.int64(m.sum())
    return a, sx - a, sy - a, n - sx - sy + a


def kappa_from_counts(a: Any, b: Any, c: Any, d: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cohen's (1960) kappa for a 2x2 table; returns ``(kappa, po, pe)``.

    ``n = a+b+c+d``, ``Po = (a+d)/n``, ``Pe = p_A p_B + (1-p_A)(1-p_B)`` with
    ``p_A = (a+b)/n``, ``p_B = (a+c)/n`` (product of the coders' own marginals), and

    ``kappa = (Po - Pe) / (1 - Pe) = 2(ad - bc) / ((a+b)(b+d) + (a+c)(c+d))``.

    The second (algebraically equal) form is used so that the denominator is exactly 0
    iff Pe = 1 (both coders constant and equal) or n = 0; kappa is then NaN (undefined).
    """
    a, b, c, d = (np.asarray(v, dtype=np.float64) for v in (a, b, c, d))
    n = a + b + c + d
    po = _div(a + d, n)
    p_a = _div(a + b, n)
    p_b = _div(a + c, n)
    pe = p_a * p_b + (1.0 - p_a) * (1.0 - p_b)
    kappa = _div(2.0 * (a * d - b * c), (a + b) * (b + d) + (a + c) * (c + d))
    return kappa, po, pe


def pabak_from_counts(a: Any, b: Any, c: Any, d: Any) -> np.ndarray:
    """Prevalence- and bias-adjusted kappa (Byrt, Bishop & Carlin 1993).

    ``PABAK = 2 Po - 1`` (kappa with Pe fixed at 1/2); NaN when n = 0.
    """
    _, po, _ = kappa_from_counts(a, b, c, d)
    return 2.0 * po - 1.0


def ac1_from_counts(a: Any, b: Any, c: Any, d: Any) -> tuple[np.ndarray, np.ndarray]:
    """Gwet's (2008) AC1 for two coders and a binary code; returns ``(ac1, pe_ac1)``.

    ``pi = (p_A + p_B) / 2`` (mean prevalence), ``Pe_AC1 = 2 pi (1 - pi)``,
    ``AC1 = (Po - Pe_AC1) / (1 - Pe_AC1)``. Since ``Pe_AC1 <= 1/2`` AC1 is defined whenever
    n > 0; it stays high when agreement is high on a rare code (unlike kappa).
    """
    a, b, c, d = (np.asarray(v, dtype=np.float64) for v in (a, b, c, d))
    n = a + b + c + d
    po = _div(a + d, n)
    pi = _div(2.0 * a + b + c, 2.0 * n)
    pe = 2.0 * pi * (1.0 - pi)
    return _div(po - pe, 1.0 - pe), pe


def _alpha_binary_from_sums(n_values: Any, n_ones: Any, d_obs: Any) -> np.ndarray:
    """Nominal alpha for a binary variable from coincidence sums (Krippendorff 2011).

    ``n_values`` = n.. (pairable values), ``n_ones`` = n_1, ``d_obs`` = o_01 = o_10 =
    sum_u n_u0 n_u1 / (m_u - 1). ``alpha = 1 - (n.. - 1) o_01 / (n_0 n_1)``.
    """
    n_values = np.asarray(n_values, dtype=np.float64)
    n_ones = np.asarray(n_ones, dtype=np.float64)
    n_zeros = n_values - n_ones
    return 1.0 - _div((n_values - 1.0) * np.asarray(d_obs, dtype=np.float64), n_zeros * n_ones)


def alpha_from_counts(a: Any, b: Any, c: Any, d: Any) -> np.ndarray:
    """Krippendorff's alpha (nominal) for two coders from their 2x2 table.

    Each of the n units contributes two pairable values: n.. = 2n, n_1 = 2a + b + c,
    n_0 = 2d + b + c, and every disagreeing unit adds 1 to o_01, so
    ``alpha = 1 - (2n - 1)(b + c) / (n_0 n_1)`` (Krippendorff 2011). NaN when
    n_0 n_1 = 0 (expected disagreement 0: a single value throughout).
    """
    a, b, c, d = (np.asarray(v, dtype=np.float64) for v in (a, b, c, d))
    return _alpha_binary_from_sums(2.0 * (a + b + c + d), 2.0 * a + b + c, b + c)


def prf_from_counts(tp: Any, fp: Any, fn: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision ``TP/(TP+FP)``, recall ``TP/(TP+FN)``, F1 ``2TP/(2TP+FP+FN)``.

    Each is NaN when its denominator is 0. F1 is computed from counts (equal to the
    harmonic mean of P and R whenever both are defined, and 0 when TP = 0 < FP + FN).
    """
    tp, fp, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn))
    return _div(tp, tp + fp), _div(tp, tp + fn), _div(2.0 * tp, 2.0 * tp + fp + fn)


def _fleiss_binary_from_sums(n_units: Any, s_ones: Any, s_sq: Any, r: int) -> np.ndarray:
    """Fleiss (1971) kappa for a binary variable from sums over fully rated units.

    With r raters, n_u1 ones on unit u and n_u0 = r - n_u1:
    ``P_u = (n_u0^2 + n_u1^2 - r) / (r (r - 1))``, ``P_bar = mean_u P_u``,
    ``p_1 = sum n_u1 / (N r)``, ``Pe = p_1^2 + (1 - p_1)^2``,
    ``kappa = (P_bar - Pe) / (1 - Pe)``; ``1 - Pe = 2 p_1 (1 - p_1)`` is used so that the
    denominator is exactly 0 when every rating is in one category (NaN, undefined).
    """
    n_units = np.asarray(n_units, dtype=np.float64)
    s_ones = np.asarray(s_ones, dtype=np.float64)
    if r < 2:
        return np.full(np.broadcast_shapes(n_units.shape, s_ones.shape), np.nan)
    total = n_units * r
    p_bar = _div(np.asarray(s_sq, dtype=np.float64) - total, total * (r - 1))
    p1 = _div(s_ones, total)
    pe = p1 * p1 + (1.0 - p1) * (1.0 - p1)
    one_minus_pe = _div(2.0 * s_ones * (total - s_ones), total * total)
    return _div(p_bar - pe, one_minus_pe)


def _multi_rater_binary_from_sums(
    n_units: Any, s_ones: Any, s_sq: Any, r: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed and chance agreement of r raters on a binary code, over fully rated units.

    Returns ``(P_bar, Pe, AC1)``: ``P_bar = mean_u (n_u0^2 + n_u1^2 - r) / (r (r - 1))`` is
    the mean pairwise observed agreement (Fleiss 1971; equals Po for r = 2), ``Pe =
    p_1^2 + (1 - p_1)^2`` is Fleiss' chance agreement, and Gwet's (2008) multi-rater AC1 is
    ``(P_bar - Pe_g) / (1 - Pe_g)`` with ``Pe_g = 2 pi (1 - pi)``, ``pi = p_1`` the mean
    share of ratings that mark the code (equals the two-coder AC1 for r = 2). All NaN when
    no unit is rated by all r raters (or r < 2).
    """
    n_units = np.asarray(n_units, dtype=np.float64)
    s_ones = np.asarray(s_ones, dtype=np.float64)
    shape = np.broadcast_shapes(n_units.shape, s_ones.shape)
    if r < 2:
        nan = np.full(shape, np.nan)
        return nan, nan.copy(), nan.copy()
    total = n_units * r
    p_bar = _div(np.asarray(s_sq, dtype=np.float64) - total, total * (r - 1))
    p1 = _div(s_ones, total)
    pe = p1 * p1 + (1.0 - p1) * (1.0 - p1)
    pe_g = 2.0 * p1 * (1.0 - p1)
    return p_bar, pe, _div(p_bar - pe_g, 1.0 - pe_g)


def _alpha_nominal_from_sums(n_values: Any, n_c: Any, d_off: Any) -> np.ndarray:
    """Nominal alpha from n.., the category totals n_c (last axis) and sum_{c!=k} o_ck.

    ``alpha = 1 - (n.. - 1) sum_{c!=k} o_ck / (n..^2 - sum_c n_c^2)`` (Krippendorff 2011).
    """
    n_values = np.asarray(n_values, dtype=np.float64)
    n_c = np.asarray(n_c, dtype=np.float64)
    expected = n_values * n_values - np.sum(n_c * n_c, axis=-1)
    return 1.0 - _div((n_values - 1.0) * np.asarray(d_off, dtype=np.float64), expected)


def _fleiss_nominal_from_sums(n_units: Any, s_c: Any, s_sq: Any, r: int) -> np.ndarray:
    """Fleiss (1971) kappa over q categories from sums over fully rated units.

    ``s_c`` (last axis = category) = sum_u n_uc, ``s_sq`` = sum_u sum_c n_uc^2.
    """
    n_units = np.asarray(n_units, dtype=np.float64)
    s_c = np.asarray(s_c, dtype=np.float64)
    if r < 2:
        return np.full(n_units.shape, np.nan)
    total = n_units * r
    p_bar = _div(np.asarray(s_sq, dtype=np.float64) - total, total * (r - 1))
    sum_sq = np.sum(s_c * s_c, axis=-1)
    pe = _div(sum_sq, total * total)
    one_minus_pe = _div(total * total - sum_sq, total * total)
    return _div(p_bar - pe, one_minus_pe)


def kappa_from_confusion(confusion: Any) -> tuple[float, float, float]:
    """Cohen's (1960) kappa for a k x k confusion matrix; returns ``(kappa, po, pe)``.

    ``Po = trace / n``, ``Pe = sum_k row_k col_k / n^2``, ``kappa = (Po - Pe)/(1 - Pe)``,
    computed as ``(n trace - sum row col) / (n^2 - sum row col)`` so that it is NaN
    exactly when Pe = 1 (both coders used one and the same category) or n = 0.
    """
    cm = np.asarray(confusion, dtype=np.float64)
    return tuple(  # type: ignore[return-value]
        _f(v) for v in _kappa_nominal_from_sums(cm.sum(), np.trace(cm), cm.sum(1), cm.sum(0))
    )


def _kappa_nominal_from_sums(n: Any, agree: Any, row: Any, col: Any):
    n = np.asarray(n, dtype=np.float64)
    agree = np.asarray(agree, dtype=np.float64)
    chance = np.sum(np.asarray(row, dtype=np.float64) * np.asarray(col, dtype=np.float64), axis=-1)
    po = _div(agree, n)
    pe = _div(chance, n * n)
    kappa = _div(n * agree - chance, n * n - chance)
    return kappa, po, pe


def _ac1_nominal_from_sums(n: Any, agree: Any, row: Any, col: Any, q: int):
    """Gwet's (2008) AC1 for q categories: ``Pe = sum_k pi_k (1 - pi_k) / (q - 1)``."""
    n = np.asarray(n, dtype=np.float64)
    po = _div(agree, n)
    pi = _div(
        np.asarray(row, dtype=np.float64) + np.asarray(col, dtype=np.float64), 2.0 * n[..., None]
    )
    if q < 2:
        nan = np.full(po.shape, np.nan)
        return nan, nan.copy()
    pe = np.sum(pi * (1.0 - pi), axis=-1) / (q - 1)
    return _div(po - pe, 1.0 - pe), pe


def ac1_from_confusion(confusion: Any, n_categories: int | None = None) -> tuple[float, float]:
    """Gwet's (2008) AC1 for a k x k confusion matrix; returns ``(ac1, pe_ac1)``.

    ``pi_k = (row_k + col_k) / (2n)``, ``Pe = sum_k pi_k (1 - pi_k) / (q - 1)`` with q the
    number of declared categories (default: the matrix size), ``AC1 = (Po-Pe)/(1-Pe)``.
    """
    cm = np.asarray(confusion, dtype=np.float64)
    q = cm.shape[0] if n_categories is None else n_categories
    ac1, pe = _ac1_nominal_from_sums(cm.sum(), np.trace(cm), cm.sum(1), cm.sum(0), q)
    return _f(ac1), _f(pe)


# --------------------------------------------------------------------------------------
# per-unit features (column sums = sufficient statistics)
# --------------------------------------------------------------------------------------


class _Features:
    """Named blocks of per-unit features; their column sums feed the formulas above.

    The point estimate uses the plain column sums; the bootstrap uses ``W @ F`` for a
    chunk of resampling weight matrices ``W`` (see :mod:`eval.bootstrap`).
    """

    def __init__(self, n_units: int, weights: np.ndarray | None = None) -> None:
        self.n_units = n_units
        self.weights = weights
        self.blocks: dict[str, np.ndarray] = {}

    def add(self, name: str, values: np.ndarray) -> None:
        values = np.asarray(values)
        if values.ndim == 1:
            values = values[:, None]
        if self.weights is not None:
            # a unit of weight w counts as w identical units in every sum
            values = values * self.weights[:, None]
        self.blocks[name] = values

    def sums(self) -> dict[str, np.ndarray]:
        return {k: v.sum(axis=0, dtype=np.float64) for k, v in self.blocks.items()}

    def bootstrap(
        self, n_replicates: int, rng: np.random.Generator, chunk_size: int | None
    ) -> Iterator[tuple[slice, dict[str, np.ndarray]]]:
        names = list(self.blocks)
        widths = [self.blocks[k].shape[1] for k in names]
        bounds = np.concatenate([[0], np.cumsum(widths)])
        matrix = np.empty((self.n_units, int(bounds[-1])), dtype=np.float64)
        for k, lo, hi in zip(names, bounds[:-1], bounds[1:], strict=True):
            matrix[:, lo:hi] = self.blocks[k]
        for sl, sums in bootstrap_sums(matrix, n_replicates, rng, chunk_size):
            yield (
                sl,
                {
                    k: sums[:, lo:hi]
                    for k, lo, hi in zip(names, bounds[:-1], bounds[1:], strict=True)
                },
            )


def _add_pair_features(
    feats: _Features, key: str, x: np.ndarray, obs: np.ndarray, i: int, j: int
) -> None:
    m = obs[i] & obs[j]
    xi = x[i] & m[:, None]
    xj = x[j] & m[:, None]
    feats.add(f"{key}:a", xi & xj)
    feats.add(f"{key}:si", xi)
    feats.add(f"{key}:sj", xj)
    feats.add(f"{key}:n", m)


def _add_multi_features(feats: _Features, x: np.ndarray, obs: np.ndarray) -> None:
    """Coincidence sums for alpha and fully-rated-unit sums for Fleiss, per code."""
    r = x.shape[0]
    m = obs.sum(axis=0)  # coders who saw each unit
    ones = x.sum(axis=0, dtype=np.int64)  # n_u1 per unit and code
    pairable = m >= 2
    feats.add("alpha:N", np.where(pairable, m, 0))
    feats.add("alpha:N1", ones * pairable[:, None])
    denom = np.where(pairable, m - 1, 1)[:, None]
    feats.add("alpha:D", (ones * (m[:, None] - ones) / denom) * pairable[:, None])
    full = m == r
    feats.add("fleiss:N", full)
    feats.add("fleiss:S1", ones * full[:, None])
    feats.add("fleiss:SQ", (ones * ones + (r - ones) ** 2) * full[:, None])


def _pair_stats(S: dict[str, np.ndarray], key: str, gold_side: str | None) -> tuple[dict, dict]:
    """Per-code and overall statistics of one pair from (possibly batched) sums."""
    a = S[f"{key}:a"]
    si = S[f"{key}:si"]
    sj = S[f"{key}:sj"]
    n = S[f"{key}:n"]
    b, c = si - a, sj - a
    d = n - si - sj + a
    kappa, po, pe = kappa_from_counts(a, b, c, d)
    ac1, pe_ac1 = ac1_from_counts(a, b, c, d)
    code = {
        "kappa": kappa,
        "po": po,
        "pe": pe,
        "pabak": 2.0 * po - 1.0,
        "ac1": ac1,
        "pe_ac1": pe_ac1,
        "alpha": alpha_from_counts(a, b, c, d),
    }
    A, B, C, D = (v.sum(axis=-1) for v in (a, b, c, d))
    k_mi, po_mi, pe_mi = kappa_from_counts(A, B, C, D)
    ac1_mi, _ = ac1_from_counts(A, B, C, D)
    overall = {
        "kappa_micro": k_mi,
        "po_micro": po_mi,
        "pe_micro": pe_mi,
        "pabak_micro": 2.0 * po_mi - 1.0,
        "ac1_micro": ac1_mi,
        "alpha_micro": alpha_from_counts(A, B, C, D),
    }
    for name in ("kappa", "ac1", "alpha", "pabak", "po"):
        overall[f"{name}_macro"], overall[f"n_{name}_defined"] = _nanmean(code[name])
    if gold_side is not None:
        fp, fn = (b, c) if gold_side == "b" else (c, b)
        code["precision"], code["recall"], code["f1"] = prf_from_counts(a, fp, fn)
        mp, mr, mf = prf_from_counts(a.sum(-1), fp.sum(-1), fn.sum(-1))
        overall.update(precision_micro=mp, recall_micro=mr, f1_micro=mf)
        for name in ("precision", "recall", "f1"):
            overall[f"{name}_macro"], overall[f"n_{name}_defined"] = _nanmean(code[name])
    return code, overall


def _multi_stats(S: dict[str, np.ndarray], r: int) -> tuple[dict, dict]:
    n_codes = S["alpha:N1"].shape[-1]
    alpha = _alpha_binary_from_sums(S["alpha:N"], S["alpha:N1"], S["alpha:D"])
    fleiss = _fleiss_binary_from_sums(S["fleiss:N"], S["fleiss:S1"], S["fleiss:SQ"], r)
    p_bar, pe, ac1 = _multi_rater_binary_from_sums(S["fleiss:N"], S["fleiss:S1"], S["fleiss:SQ"], r)
    code = {"alpha": alpha, "fleiss_kappa": fleiss, "po": p_bar, "pe": pe, "pabak": 2.0 * p_bar - 1.0,
            "ac1": ac1}
    overall = {
        "alpha_micro": _alpha_binary_from_sums(
            S["alpha:N"][..., 0] * n_codes, S["alpha:N1"].sum(-1), S["alpha:D"].sum(-1)
        ),
        "fleiss_kappa_micro": _fleiss_binary_from_sums(
            S["fleiss:N"][..., 0] * n_codes, S["fleiss:S1"].sum(-1), S["fleiss:SQ"].sum(-1), r
        ),
    }
    overall["alpha_macro"], overall["n_alpha_defined"] = _nanmean(alpha)
    overall["fleiss_kappa_macro"], overall["n_fleiss_kappa_defined"] = _nanmean(fleiss)
    return code, overall


# --------------------------------------------------------------------------------------
# low-level public functions on presence / label arrays
# --------------------------------------------------------------------------------------


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


def _multi_nominal_features(feats: _Features, lab: np.ndarray, obs: np.ndarray, q: int) -> None:
    r, n_units = lab.shape
    counts = np.zeros((n_units, q), dtype=np.int64)
    for i in range(r):  # n_coders is small; units and categories are vectorized
        counts[np.flatnonzero(obs[i]), lab[i, obs[i]]] += 1
    m = obs.sum(axis=0)
    pairable = m >= 2
    sq = np.sum(counts * counts, axis=1)
    feats.add("alpha:N", np.where(pairable, m, 0))
    feats.add("alpha:NC", counts * pairable[:, None])
    feats.add("alpha:Doff", np.where(pairable, (m * m - sq) / np.where(pairable, m - 1, 1), 0.0))
    full = m == r
    feats.add("fleiss:N", full)
    feats.add("fleiss:SC", counts * full[:, None])
    feats.add("fleiss:SQ", sq * full)


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


# --------------------------------------------------------------------------------------
# result models
# --------------------------------------------------------------------------------------

CI = tuple[float, float] | None


class _Model(BaseModel):
    # NaN (undefined) -> JSON null; the reason is in undefined_reasons.
    model_config = ConfigDict(ser_json_inf_nan="null")


class Counts(_Model):
    """2x2 table: a = both coders 1, b = coder_a 1 & coder_b 0, c = coder_a 0 & coder_b 1,
    d = both 0."""

    a: int
    b: int
    c: int
    d: int


class BinaryAgreement(_Model):
    """Agreement of two coders on one code (binary presence per unit).

    Float fields are NaN when undefined, with the reason in ``undefined_reasons``;
    ``precision``/``recall``/``f1`` are None when the pair does not include the gold coder.
    """

    code_id: str
    coder_a: str
    coder_b: str
    n_units: int = Field(description="units seen by both coders (= a+b+c+d)")
    counts: Counts
    prevalence: dict[str, float] = Field(description="share of units each coder marked")
    prevalence_mean: float
    po: float
    pe: float = Field(description="Cohen's chance agreement p_A p_B + (1-p_A)(1-p_B)")
    kappa: float
    kappa_label: str = Field(description="Landis & Koch (1977) band of kappa")
    pabak: float
    ac1: float
    pe_ac1: float
    alpha: float
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    ci: dict[str, CI] = Field(default_factory=dict)
    undefined_reasons: dict[str, str] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)


class OverallAgreement(_Model):
    """Agreement of two coders over all codes.

    ``*_macro`` = mean over codes where defined (``n_*_defined`` of ``n_codes``);
    ``*_micro`` = statistic of the 2x2 table pooled over all codes (``counts``).
    """

    coder_a: str
    coder_b: str
    n_codes: int
    n_units: int
    counts: Counts
    kappa_macro: float
    n_kappa_defined: int
    kappa_micro: float
    po_micro: float
    pe_micro: float
    pabak_micro: float
    ac1_micro: float
    alpha_micro: float
    po_macro: float
    n_po_defined: int
    pabak_macro: float
    n_pabak_defined: int
    ac1_macro: float
    n_ac1_defined: int
    alpha_macro: float
    n_alpha_defined: int
    precision_micro: float | None = None
    recall_micro: float | None = None
    f1_micro: float | None = None
    precision_macro: float | None = None
    n_precision_defined: int | None = None
    recall_macro: float | None = None
    n_recall_defined: int | None = None
    f1_macro: float | None = None
    n_f1_defined: int | None = None
    ci: dict[str, CI] = Field(default_factory=dict)
    undefined_reasons: dict[str, str] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)


class PairAgreement(_Model):
    """Everything for one pair of coders: per code and overall."""

    coder_a: str
    coder_b: str
    gold: str | None = Field(None, description="the gold coder if in this pair")
    predicted: str | None = Field(None, description="the other coder when gold is in the pair")
    per_code: dict[str, BinaryAgreement]
    overall: OverallAgreement


class MultiCoderAgreement(_Model):
    """All coders on one code: Fleiss' kappa and Krippendorff's alpha.

    ``po``, ``pe``, ``pabak`` and ``ac1`` are their multi-rater forms over the units seen by
    every coder: mean pairwise agreement P_bar, Fleiss' chance term, 2 P_bar - 1 and Gwet's
    multi-rater AC1 (see :func:`_multi_rater_binary_from_sums`).
    """

    code_id: str
    n_coders: int
    n_units_fleiss: int = Field(description="units seen by every coder")
    n_units_alpha: int = Field(description="pairable units (seen by >= 2 coders)")
    prevalence: dict[str, float]
    prevalence_mean: float
    fleiss_kappa: float
    fleiss_kappa_label: str
    alpha: float
    po: float = Field(description="mean pairwise observed agreement P_bar (units seen by all)")
    pe: float = Field(description="Fleiss' chance agreement p_1^2 + (1-p_1)^2")
    pabak: float = Field(description="2 P_bar - 1")
    ac1: float = Field(description="Gwet's multi-rater AC1")
    ci: dict[str, CI] = Field(default_factory=dict)
    undefined_reasons: dict[str, str] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)


class MultiCoderOverall(_Model):
    """All coders over all codes (macro = mean over defined codes, micro = pooled)."""

    n_coders: int
    n_codes: int
    fleiss_kappa_macro: float
    n_fleiss_kappa_defined: int
    fleiss_kappa_micro: float
    alpha_macro: float
    n_alpha_defined: int
    alpha_micro: float
    ci: dict[str, CI] = Field(default_factory=dict)
    undefined_reasons: dict[str, str] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)


class MultiCoderResult(_Model):
    per_code: dict[str, MultiCoderAgreement]
    overall: MultiCoderOverall


class AgreementResult(_Model):
    """Result of :func:`agreement_table`.

    ``pairs`` holds every coder pair (one when there are two coders); ``multi`` the
    all-coder statistics when there are three or more. The properties ``per_code`` and
    ``overall`` are shortcuts to the single pair when there are exactly two coders.
    """

    coders: list[str]
    codes: list[str]
    gold: str | None
    n_units: int
    bootstrap: int
    seed: int | None
    confidence: float
    pairs: dict[str, PairAgreement]
    multi: MultiCoderResult | None = None

    def _single_pair(self) -> PairAgreement:
        if len(self.pairs) != 1:
            raise AttributeError("per_code/overall shortcuts need exactly two coders; use .pairs")
        return next(iter(self.pairs.values()))

    @property
    def per_code(self) -> dict[str, BinaryAgreement]:
        return self._single_pair().per_code

    @property
    def overall(self) -> OverallAgreement:
        return self._single_pair().overall

    def pair(self, coder_a: str, coder_b: str) -> PairAgreement:
        """The pair result for two coders, in either order."""
        key = pair_key(coder_a, coder_b)
        return self.pairs[key] if key in self.pairs else self.pairs[pair_key(coder_b, coder_a)]


class CategoricalAgreement(_Model):
    """Two coders on a single-label (one category per unit) scheme."""

    coder_a: str
    coder_b: str
    categories: list[str]
    n_units: int
    confusion: list[list[int]] = Field(description="rows coder_a, columns coder_b")
    po: float
    pe: float
    kappa: float
    kappa_label: str
    ac1: float
    pe_ac1: float
    alpha: float
    ci: dict[str, CI] = Field(default_factory=dict)
    undefined_reasons: dict[str, str] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)


class CategoricalMultiAgreement(_Model):
    n_coders: int
    n_units_fleiss: int
    n_units_alpha: int
    fleiss_kappa: float
    fleiss_kappa_label: str
    alpha: float
    ci: dict[str, CI] = Field(default_factory=dict)
    undefined_reasons: dict[str, str] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)


class CategoricalResult(_Model):
    coders: list[str]
    categories: list[str]
    n_units: int
    bootstrap: int
    seed: int | None
    confidence: float
    pairs: dict[str, CategoricalAgreement]
    multi: CategoricalMultiAgreement | None = None


# --------------------------------------------------------------------------------------
# bootstrap driver
# --------------------------------------------------------------------------------------


def _run_bootstrap(
    feats: _Features,
    stat_fn,
    n_replicates: int,
    rng: np.random.Generator,
    chunk_size: int | None,
) -> dict[Any, np.ndarray]:
    """Evaluate ``stat_fn(sums) -> {key: array (chunk, ...)}`` on all replicates."""
    out: dict[Any, np.ndarray] = {}
    for sl, sums in feats.bootstrap(n_replicates, rng, chunk_size):
        stats = stat_fn(sums)
        for k, v in stats.items():
            v = np.asarray(v, dtype=np.float64)
            if k not in out:
                out[k] = np.empty((n_replicates,) + v.shape[1:])
            out[k][sl] = v
    return out


def _ci_table(
    boot: dict[Any, np.ndarray], confidence: float
) -> dict[Any, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return {k: percentile_interval(v, confidence) for k, v in boot.items()}


def _fill_ci(
    ci: dict[str, CI],
    notes: dict[str, str],
    name: str,
    point: float,
    interval: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    index: int | tuple = (),
    n_replicates: int = 0,
) -> None:
    if interval is None:
        return
    lo, hi, n_def = (np.asarray(v)[index] for v in interval)
    if math.isnan(point) or int(n_def) == 0:
        ci[name] = None
        if not math.isnan(point):
            notes[f"ci.{name}"] = f"{name} undefined on all {n_replicates} bootstrap replicates"
        return
    ci[name] = (float(lo), float(hi))
    if int(n_def) < n_replicates:
        notes[f"ci.{name}"] = (
            f"{n_replicates - int(n_def)} of {n_replicates} bootstrap replicates had {name} "
            "undefined and were excluded from its interval"
        )


# --------------------------------------------------------------------------------------
# reasons and notes
# --------------------------------------------------------------------------------------


def _state(count: int, n: int) -> str | None:
    """'present' / 'absent' if a coder's marks are constant over n units, else None."""
    if n > 0 and count == n:
        return "present"
    if n > 0 and count == 0:
        return "absent"
    return None


def _binary_reasons(
    A: str,
    B: str,
    counts: tuple[int, int, int, int],
    vals: dict[str, float],
    gold: str | None,
    pred: str | None,
) -> tuple[dict[str, str], dict[str, str]]:
    a, b, c, d = counts
    n = a + b + c + d
    reasons: dict[str, str] = {}
    notes: dict[str, str] = {}
    if n == 0:
        msg = f"no units coded by both {A} and {B}"
        for k in ("po", "pe", "kappa", "pabak", "ac1", "pe_ac1", "alpha", "prevalence_mean"):
            reasons[k] = msg
        if gold is not None:
            for k in ("precision", "recall", "f1"):
                reasons[k] = msg
        return reasons, notes
    sa, sb = _state(a + b, n), _state(a + c, n)
    if math.isnan(vals["kappa"]):
        reasons["kappa"] = (
            f"Pe = 1: both coders constant ({A} and {B} marked the code {sa} in every one of "
            f"the {n} units), kappa undefined; Po = {vals['po']:.3f} is still reported"
        )
    elif (sa is None) != (sb is None):
        who, state = (A, sa) if sa is not None else (B, sb)
        notes["kappa"] = (
            f"{who} marked the code {state} in every unit, so Pe = Po and kappa = 0 by "
            "construction whatever the other coder did; see Po, AC1 and PABAK"
        )
    else:
        pm = vals["prevalence_mean"]
        if vals["po"] >= 0.85 and vals["kappa"] <= 0.40 and (pm <= 0.15 or pm >= 0.85):
            notes["kappa"] = (
                f"prevalence paradox (Feinstein & Cicchetti 1990): Po = {vals['po']:.3f} but "
                f"kappa = {vals['kappa']:.3f} because the code is "
                f"{'rare' if pm <= 0.15 else 'nearly always present'} (mean prevalence "
                f"{pm:.3f}); AC1 = {vals['ac1']:.3f}, PABAK = {vals['pabak']:.3f}"
            )
    if math.isnan(vals["alpha"]):
        reasons["alpha"] = (
            f"expected disagreement De = 0: every pairable value is '{sa}', alpha undefined"
        )
    if gold is not None and pred is not None:
        if math.isnan(vals["precision"]):
            reasons["precision"] = (
                f"{pred} never marked the code (TP + FP = 0), precision undefined"
            )
        if math.isnan(vals["recall"]):
            reasons["recall"] = (
                f"gold coder {gold} never marked the code (TP + FN = 0), recall undefined"
            )
        if math.isnan(vals["f1"]):
            reasons["f1"] = (
                f"neither {pred} nor gold {gold} marked the code (TP + FP + FN = 0), F1 undefined"
            )
    return reasons, notes


def _macro_reason(name: str, n_def: int, n_codes: int) -> str:
    if n_codes == 0:
        return f"no codes: {name} macro average undefined"
    return f"{name} undefined on all {n_codes} codes, macro average undefined"


# --------------------------------------------------------------------------------------
# top-level: multi-label presence
# --------------------------------------------------------------------------------------

_PAIR_CODE_CI = ("kappa", "po", "pabak", "ac1", "alpha")
_PAIR_CODE_CI_GOLD = ("precision", "recall", "f1")
_PAIR_OVERALL_CI = (
    "kappa_macro",
    "kappa_micro",
    "po_micro",
    "pabak_micro",
    "ac1_macro",
    "ac1_micro",
    "alpha_macro",
    "alpha_micro",
)
_PAIR_OVERALL_CI_GOLD = (
    "precision_micro",
    "recall_micro",
    "f1_micro",
    "precision_macro",
    "recall_macro",
    "f1_macro",
)


def _validate_weights(unit_weights: Any | None, n_units: int) -> np.ndarray | None:
    if unit_weights is None:
        return None
    w = np.asarray(unit_weights, dtype=np.float64)
    if w.shape != (n_units,):
        raise ValueError(f"unit_weights must have shape ({n_units},); got {w.shape}")
    if not (np.all(np.isfinite(w)) and np.all(w >= 0) and np.all(w == np.round(w))):
        raise ValueError("unit_weights must be non-negative integers (unit multiplicities)")
    return w


def _names(names: Sequence[Any] | None, n: int, prefix: str, what: str) -> list[str]:
    if names is None:
        return [f"{prefix}{i}" for i in range(n)]
    out = [str(v) for v in names]
    if len(out) != n:
        raise ValueError(f"expected {n} {what}; got {len(out)}")
    if len(set(out)) != n:
        raise ValueError(f"{what} must be unique")
    return out


def agreement_table(
    presence: Any,
    observed: Any | None = None,
    code_ids: Sequence[Any] | None = None,
    coder_names: Sequence[Any] | None = None,
    gold: str | int | None = None,
    bootstrap: int = 0,
    seed: int | np.random.Generator | None = 0,
    confidence: float = 0.95,
    chunk_size: int | None = None,
    unit_weights: Any | None = None,
) -> AgreementResult:
    """All agreement statistics for a multi-label coding, per code, per pair and overall.

    Parameters
    ----------
    presence : array-like, shape (n_coders, n_units, n_codes)
        1/0 code presence; float NaN rows = unit not seen (see module docstring).
    observed : array-like of bool, shape (n_coders, n_units), optional
        False where the coder did not see the unit.
    code_ids, coder_names : sequences, optional
        Names; default ``code_0..`` and ``coder_0..``.
    gold : str or int, optional
        Gold-standard coder (name or index) for precision/recall/F1 of the other coders.
    bootstrap : int
        Number of bootstrap replicates (0 = no confidence intervals).
    seed : int, Generator or None
        Seed of the resampling (same seed, same intervals).
    confidence : float
        Level of the percentile intervals.
    chunk_size : int, optional
        Replicates per chunk (memory bound); does not change the result.
    unit_weights : array-like of non-negative int, shape (n_units,), optional
        Multiplicity of each unit: unit u counts as ``w_u`` identical units in every
        statistic (character-level agreement passes runs of identically coded characters
        with their lengths). The bootstrap then resamples the weighted units as clusters.
        ``n_units`` of the result is the total weight.

    Returns
    -------
    AgreementResult
        ``pairs["A|B"]`` (:class:`PairAgreement`: ``per_code`` of :class:`BinaryAgreement`
        and ``overall`` :class:`OverallAgreement`) for every pair; ``multi``
        (Fleiss' kappa, alpha over all coders) when there are 3+ coders.
    """
    x, obs = validate_presence(presence, observed)
    n_coders, n_units, n_codes = x.shape
    if n_coders < 2:
        raise ValueError("agreement needs at least two coders")
    coders = _names(coder_names, n_coders, "coder_", "coder names")
    codes = _names(code_ids, n_codes, "code_", "code ids")
    gold_name: str | None = None
    if gold is not None:
        if (
            isinstance(gold, int | np.integer)
            and not isinstance(gold, bool)
            and str(gold) not in coders
        ):
            if not 0 <= int(gold) < n_coders:
                raise ValueError(f"gold index {gold} out of range")
            gold_name = coders[int(gold)]
        elif str(gold) in coders:
            gold_name = str(gold)
        else:
            raise ValueError(f"gold coder {gold!r} is not one of {coders}")
    bootstrap = int(bootstrap)
    if bootstrap < 0:
        raise ValueError("bootstrap must be >= 0")
    weights = _validate_weights(unit_weights, n_units)

    pairs = list(combinations(range(n_coders), 2))
    gold_sides: dict[str, str | None] = {}
    feats = _Features(n_units, weights)
    for i, j in pairs:
        key = pair_key(coders[i], coders[j])
        _add_pair_features(feats, key, x, obs, i, j)
        gold_sides[key] = "a" if gold_name == coders[i] else "b" if gold_name == coders[j] else None
    multi = n_coders >= 3
    if multi:
        _add_multi_features(feats, x, obs)

    def all_stats(S: dict[str, np.ndarray]) -> dict[Any, np.ndarray]:
        out: dict[Any, np.ndarray] = {}
        for i, j in pairs:
            key = pair_key(coders[i], coders[j])
            code, overall = _pair_stats(S, key, gold_sides[key])
            out.update({(key, "code", k): v for k, v in code.items()})
            out.update({(key, "overall", k): v for k, v in overall.items()})
        if multi:
            code, overall = _multi_stats(S, n_coders)
            out.update({("multi", "code", k): v for k, v in code.items()})
            out.update({("multi", "overall", k): v for k, v in overall.items()})
        return out

    S = feats.sums()
    point = all_stats(S)
    cis: dict[Any, tuple] = {}
    if bootstrap > 0:
        rng = make_rng(seed)

        def boot_stats(Sb: dict[str, np.ndarray]) -> dict[Any, np.ndarray]:
            st = all_stats(Sb)
            return {k: v for k, v in st.items() if not k[2].startswith("n_") and k[2] != "pe_ac1"}

        cis = _ci_table(_run_bootstrap(feats, boot_stats, bootstrap, rng, chunk_size), confidence)

    pair_results: dict[str, PairAgreement] = {}
    for i, j in pairs:
        A, B = coders[i], coders[j]
        key = pair_key(A, B)
        side = gold_sides[key]
        pred = None if side is None else (B if side == "a" else A)
        a_arr = S[f"{key}:a"].astype(np.int64)
        si = S[f"{key}:si"].astype(np.int64)
        sj = S[f"{key}:sj"].astype(np.int64)
        n = int(S[f"{key}:n"][0])
        b_arr, c_arr = si - a_arr, sj - a_arr
        d_arr = n - si - sj + a_arr
        code_stats = {k[2]: v for k, v in point.items() if k[0] == key and k[1] == "code"}
        per_code: dict[str, BinaryAgreement] = {}
        for q, code_id in enumerate(codes):
            vals = {k: float(v[q]) for k, v in code_stats.items()}
            cnt = (int(a_arr[q]), int(b_arr[q]), int(c_arr[q]), int(d_arr[q]))
            pa = _f(_div(cnt[0] + cnt[1], n))
            pb = _f(_div(cnt[0] + cnt[2], n))
            vals["prevalence_mean"] = (pa + pb) / 2
            reasons, notes = _binary_reasons(A, B, cnt, vals, gold_name if side else None, pred)
            ci: dict[str, CI] = {}
            if bootstrap > 0:
                for name in _PAIR_CODE_CI + (_PAIR_CODE_CI_GOLD if side else ()):
                    _fill_ci(
                        ci, notes, name, vals[name], cis.get((key, "code", name)), q, bootstrap
                    )
            per_code[code_id] = BinaryAgreement(
                code_id=code_id,
                coder_a=A,
                coder_b=B,
                n_units=n,
                counts=Counts(a=cnt[0], b=cnt[1], c=cnt[2], d=cnt[3]),
                prevalence={A: pa, B: pb},
                prevalence_mean=vals["prevalence_mean"],
                po=vals["po"],
                pe=vals["pe"],
                kappa=vals["kappa"],
                kappa_label=landis_koch(vals["kappa"]),
                pabak=vals["pabak"],
                ac1=vals["ac1"],
                pe_ac1=vals["pe_ac1"],
                alpha=vals["alpha"],
                precision=vals.get("precision"),
                recall=vals.get("recall"),
                f1=vals.get("f1"),
                ci=ci,
                undefined_reasons=reasons,
                notes=notes,
            )
        ov = {k[2]: v for k, v in point.items() if k[0] == key and k[1] == "overall"}
        ov_vals = {k: (int(v) if k.startswith("n_") else _f(v)) for k, v in ov.items()}
        reasons = {}
        notes = {}
        for name in ("kappa", "ac1", "alpha", "pabak", "po") + (
            ("precision", "recall", "f1") if side else ()
        ):
            if math.isnan(ov_vals[f"{name}_macro"]):
                reasons[f"{name}_macro"] = _macro_reason(
                    name, ov_vals[f"n_{name}_defined"], n_codes
                )
        pooled = (int(a_arr.sum()), int(b_arr.sum()), int(c_arr.sum()), int(d_arr.sum()))
        for name in ("kappa", "po", "pe", "pabak", "ac1", "alpha") + (
            ("precision", "recall", "f1") if side else ()
        ):
            if math.isnan(ov_vals[f"{name}_micro"]):
                if sum(pooled) == 0:
                    why = f"no unit x code cells coded by both {A} and {B}"
                elif name in ("kappa", "alpha"):
                    why = f"pooled table has a single value throughout (Pe = 1), {name} undefined"
                elif name == "precision":
                    why = f"{pred} marked no code on any unit (TP + FP = 0)"
                elif name == "recall":
                    why = f"gold coder {gold_name} marked no code on any unit (TP + FN = 0)"
                else:
                    why = "no code marked by either coder (TP + FP + FN = 0)"
                reasons[f"{name}_micro"] = why
        ci = {}
        if bootstrap > 0:
            for name in _PAIR_OVERALL_CI + (_PAIR_OVERALL_CI_GOLD if side else ()):
                _fill_ci(
                    ci, notes, name, ov_vals[name], cis.get((key, "overall", name)), (), bootstrap
                )
        overall = OverallAgreement(
            coder_a=A,
            coder_b=B,
            n_codes=n_codes,
            n_units=n,
            counts=Counts(a=pooled[0], b=pooled[1], c=pooled[2], d=pooled[3]),
            ci=ci,
            undefined_reasons=reasons,
            notes=notes,
            **ov_vals,
        )
        pair_results[key] = PairAgreement(
            coder_a=A,
            coder_b=B,
            gold=gold_name if side else None,
            predicted=pred,
            per_code=per_code,
            overall=overall,
        )

    multi_result = None
    if multi:
        multi_result = _assemble_multi(S, point, cis, x, obs, coders, codes, bootstrap, weights)

    return AgreementResult(
        coders=coders,
        codes=codes,
        gold=gold_name,
        n_units=n_units if weights is None else int(weights.sum()),
        bootstrap=bootstrap,
        seed=seed if isinstance(seed, int) else None,
        confidence=confidence,
        pairs=pair_results,
        multi=multi_result,
    )


def _assemble_multi(
    S: dict[str, np.ndarray],
    point: dict,
    cis: dict,
    x: np.ndarray,
    obs: np.ndarray,
    coders: list[str],
    codes: list[str],
    bootstrap: int,
    weights: np.ndarray | None = None,
) -> MultiCoderResult:
    n_coders = len(coders)
    w = np.ones(obs.shape[1]) if weights is None else weights
    n_full = int(S["fleiss:N"][0])
    n_pairable = int(np.sum(w * (obs.sum(axis=0) >= 2)))
    seen = obs.astype(np.float64) @ w
    prev = _div(np.einsum("iuq,u->iq", x.astype(np.float64), w), seen[:, None])  # (n_coders, n_codes)
    code_stats = {k[2]: v for k, v in point.items() if k[0] == "multi" and k[1] == "code"}
    ones_alpha = S["alpha:N1"]
    n_alpha_values = S["alpha:N"][0]
    ones_fleiss = S["fleiss:S1"]
    per_code: dict[str, MultiCoderAgreement] = {}
    for q, code_id in enumerate(codes):
        vals = {k: float(v[q]) for k, v in code_stats.items()}
        reasons: dict[str, str] = {}
        notes: dict[str, str] = {}
        if math.isnan(vals["fleiss_kappa"]):
            if n_full == 0:
                reasons["fleiss_kappa"] = "no unit was coded by all coders"
            else:
                st = "present" if ones_fleiss[q] == n_full * n_coders else "absent"
                reasons["fleiss_kappa"] = (
                    f"Pe = 1: every coder marked the code {st} on every fully coded unit, "
                    "Fleiss' kappa undefined"
                )
        if n_full == 0:
            for name in ("po", "pe", "pabak", "ac1"):
                reasons[name] = "no unit was coded by all coders"
        if math.isnan(vals["alpha"]):
            if n_pairable == 0:
                reasons["alpha"] = "no pairable unit (seen by at least two coders)"
            else:
                st = "present" if ones_alpha[q] == n_alpha_values else "absent"
                reasons["alpha"] = (
                    f"expected disagreement De = 0: every pairable value is '{st}', alpha undefined"
                )
        ci: dict[str, CI] = {}
        if bootstrap > 0:
            for name in ("fleiss_kappa", "alpha", "po", "pabak", "ac1"):
                _fill_ci(
                    ci, notes, name, vals[name], cis.get(("multi", "code", name)), q, bootstrap
                )
        p = {coders[i]: float(prev[i, q]) for i in range(n_coders)}
        per_code[code_id] = MultiCoderAgreement(
            code_id=code_id,
            n_coders=n_coders,
            n_units_fleiss=n_full,
            n_units_alpha=n_pairable,
            prevalence=p,
            prevalence_mean=_f(_nanmean(prev[:, q], axis=0)[0]),
            fleiss_kappa=vals["fleiss_kappa"],
            fleiss_kappa_label=landis_koch(vals["fleiss_kappa"]),
            alpha=vals["alpha"],
            po=vals["po"],
            pe=vals["pe"],
            pabak=vals["pabak"],
            ac1=vals["ac1"],
            ci=ci,
            undefined_reasons=reasons,
            notes=notes,
        )
    ov = {k[2]: v for k, v in point.items() if k[0] == "multi" and k[1] == "overall"}
    ov_vals = {k: (int(v) if k.startswith("n_") else _f(v)) for k, v in ov.items()}
    reasons = {}
    notes = {}
    for name in ("fleiss_kappa", "alpha"):
        if math.isnan(ov_vals[f"{name}_macro"]):
            reasons[f"{name}_macro"] = _macro_reason(name, 0, len(codes))
        if math.isnan(ov_vals[f"{name}_micro"]):
            reasons[f"{name}_micro"] = (
                f"pooled over codes, {name} is undefined "
                "(no usable units or a single value throughout)"
            )
    ci = {}
    if bootstrap > 0:
        for name in ("fleiss_kappa_macro", "fleiss_kappa_micro", "alpha_macro", "alpha_micro"):
            _fill_ci(
                ci, notes, name, ov_vals[name], cis.get(("multi", "overall", name)), (), bootstrap
            )
    overall = MultiCoderOverall(
        n_coders=n_coders,
        n_codes=len(codes),
        ci=ci,
        undefined_reasons=reasons,
        notes=notes,
        **ov_vals,
    )
    return MultiCoderResult(per_code=per_code, overall=overall)


# --------------------------------------------------------------------------------------
# top-level: single-label
# --------------------------------------------------------------------------------------


def categorical_agreement(
    labels: Any,
    observed: Any | None = None,
    categories: Sequence[Any] | None = None,
    coder_names: Sequence[Any] | None = None,
    bootstrap: int = 0,
    seed: int | np.random.Generator | None = 0,
    confidence: float = 0.95,
    chunk_size: int | None = None,
) -> CategoricalResult:
    """Agreement for a single-label scheme (each coder gives each unit one category).

    Per pair of coders: k x k confusion matrix, Po, Pe, multi-category Cohen's kappa
    (Cohen 1960), Gwet's AC1 (Gwet 2008, q = number of categories) and Krippendorff's
    alpha (nominal); for 3+ coders also Fleiss' kappa and alpha over all coders.

    ``labels``: int array (n_coders, n_units), negative/NaN = missing (use
    :func:`encode_labels` for arbitrary labels). ``categories`` names the indices and fixes
    q (default: ``0..max``). Bootstrap as in :func:`agreement_table`.
    """
    q_in = None if categories is None else len(categories)
    lab, obs, q = validate_labels(labels, observed, q_in)
    n_coders, n_units = lab.shape
    if n_coders < 2:
        raise ValueError("agreement needs at least two coders")
    cats = [str(c) for c in categories] if categories is not None else [str(i) for i in range(q)]
    coders = _names(coder_names, n_coders, "coder_", "coder names")
    eye = np.eye(q, dtype=np.int64)
    pairs = list(combinations(range(n_coders), 2))
    feats = _Features(n_units)
    for i, j in pairs:
        key = pair_key(coders[i], coders[j])
        m = obs[i] & obs[j]
        feats.add(f"{key}:n", m)
        feats.add(f"{key}:agree", m & (lab[i] == lab[j]))
        feats.add(f"{key}:row", eye[lab[i]] * m[:, None])
        feats.add(f"{key}:col", eye[lab[j]] * m[:, None])
    multi = n_coders >= 3
    if multi:
        _multi_nominal_features(feats, lab, obs, q)

    def all_stats(S: dict[str, np.ndarray]) -> dict[Any, np.ndarray]:
        out: dict[Any, np.ndarray] = {}
        for i, j in pairs:
            key = pair_key(coders[i], coders[j])
            n = S[f"{key}:n"][..., 0]
            agree = S[f"{key}:agree"][..., 0]
            row, col = S[f"{key}:row"], S[f"{key}:col"]
            kappa, po, pe = _kappa_nominal_from_sums(n, agree, row, col)
            ac1, pe_ac1 = _ac1_nominal_from_sums(n, agree, row, col, q)
            alpha = _alpha_nominal_from_sums(2.0 * n, row + col, 2.0 * (n - agree))
            out.update(
                {
                    (key, "kappa"): kappa,
                    (key, "po"): po,
                    (key, "pe"): pe,
                    (key, "ac1"): ac1,
                    (key, "pe_ac1"): pe_ac1,
                    (key, "alpha"): alpha,
                }
            )
        if multi:
            out[("multi", "alpha")] = _alpha_nominal_from_sums(
                S["alpha:N"][..., 0], S["alpha:NC"], S["alpha:Doff"][..., 0]
            )
            out[("multi", "fleiss_kappa")] = _fleiss_nominal_from_sums(
                S["fleiss:N"][..., 0], S["fleiss:SC"], S["fleiss:SQ"][..., 0], n_coders
            )
        return out

    S = feats.sums()
    point = {k: _f(v) for k, v in all_stats(S).items()}
    cis: dict[Any, tuple] = {}
    if bootstrap > 0:
        boot = _run_bootstrap(
            feats,
            lambda Sb: {k: v for k, v in all_stats(Sb).items() if k[1] not in ("pe", "pe_ac1")},
            bootstrap,
            make_rng(seed),
            chunk_size,
        )
        cis = _ci_table(boot, confidence)

    results: dict[str, CategoricalAgreement] = {}
    for i, j in pairs:
        A, B = coders[i], coders[j]
        key = pair_key(A, B)
        m = obs[i] & obs[j]
        n = int(m.sum())
        cm = confusion_matrix_nominal(lab[i], lab[j], q, mask=m)
        vals = {
            name: point[(key, name)] for name in ("kappa", "po", "pe", "ac1", "pe_ac1", "alpha")
        }
        reasons: dict[str, str] = {}
        notes: dict[str, str] = {}
        if n == 0:
            for name in vals:
                reasons[name] = f"no units coded by both {A} and {B}"
        else:
            used = np.flatnonzero(cm.sum(0) + cm.sum(1))
            if math.isnan(vals["kappa"]):
                reasons["kappa"] = (
                    f"Pe = 1: {A} and {B} both gave every unit category "
                    f"'{cats[int(used[0])]}', kappa undefined; "
                    f"Po = {vals['po']:.3f} is still reported"
                )
            if math.isnan(vals["alpha"]):
                reasons["alpha"] = (
                    "expected disagreement De = 0: a single category throughout, alpha undefined"
                )
            if math.isnan(vals["ac1"]):
                reasons["ac1"] = "AC1 needs at least two declared categories"
                reasons["pe_ac1"] = reasons["ac1"]
        ci: dict[str, CI] = {}
        if bootstrap > 0:
            for name in ("kappa", "po", "ac1", "alpha"):
                _fill_ci(ci, notes, name, vals[name], cis.get((key, name)), (), bootstrap)
        results[key] = CategoricalAgreement(
            coder_a=A,
            coder_b=B,
            categories=cats,
            n_units=n,
            confusion=cm.tolist(),
            kappa_label=landis_koch(vals["kappa"]),
            ci=ci,
            undefined_reasons=reasons,
            notes=notes,
            **vals,
        )
    multi_result = None
    if multi:
        n_full = int(S["fleiss:N"][0])
        n_pair = int(np.sum(obs.sum(axis=0) >= 2))
        reasons = {}
        notes = {}
        fk, al = point[("multi", "fleiss_kappa")], point[("multi", "alpha")]
        if math.isnan(fk):
            reasons["fleiss_kappa"] = (
                "no unit was coded by all coders"
                if n_full == 0
                else "Pe = 1: every rating on the fully coded units is one category, "
                "Fleiss' kappa undefined"
            )
        if math.isnan(al):
            reasons["alpha"] = (
                "no pairable unit (seen by at least two coders)"
                if n_pair == 0
                else "expected disagreement De = 0: a single category throughout, alpha undefined"
            )
        ci = {}
        if bootstrap > 0:
            for name, v in (("fleiss_kappa", fk), ("alpha", al)):
                _fill_ci(ci, notes, name, v, cis.get(("multi", name)), (), bootstrap)
        multi_result = CategoricalMultiAgreement(
            n_coders=n_coders,
            n_units_fleiss=n_full,
            n_units_alpha=n_pair,
            fleiss_kappa=fk,
            fleiss_kappa_label=landis_koch(fk),
            alpha=al,
            ci=ci,
            undefined_reasons=reasons,
            notes=notes,
        )
    return CategoricalResult(
        coders=coders,
        categories=cats,
        n_units=n_units,
        bootstrap=int(bootstrap),
        seed=seed if isinstance(seed, int) else None,
        confidence=confidence,
        pairs=results,
        multi=multi_result,
    )
