"""Agreement formulas on counts and sufficient statistics (each with its formula and reference).

Every function broadcasts over leading axes (bootstrap replicates) and returns NaN where the
formula divides by zero (undefined, never replaced by 0 or 1). See :mod:`eval.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

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
    return np.asarray(a), np.asarray(sx - a), np.asarray(sy - a), np.asarray(n - sx - sy + a)


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


def _generalized_binary_from_sums(
    n_rated: Any, n_pairable: Any, pa_sum: Any, pi_sum: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fleiss' kappa and AC1 in Gwet's generalised form for missing ratings, one binary code.

    Gwet (2014, *Handbook of Inter-Rater Reliability*, 4th ed., ch. 2 and 5; as irrCAC's
    ``fleiss.kappa.raw`` and ``gwet.ac1.raw`` and AgreeStat compute them). With r_u the coders who
    rated unit u and n_u1 of them marking the code (n_u0 = r_u - n_u1):

    * ``Pa = (1/n2) sum_{u: r_u >= 2} [n_u1 (n_u1 - 1) + n_u0 (n_u0 - 1)] / (r_u (r_u - 1))`` over the
      n2 units rated by at least two coders (``pa_sum`` is the sum);
    * ``pi = (1/n1) sum_{u: r_u >= 1} n_u1 / r_u`` over the n1 units rated by anyone (``pi_sum``);
    * Fleiss: ``Pe = pi^2 + (1 - pi)^2``, ``kappa = (Pa - Pe) / (1 - Pe)``;
    * AC1: ``Pe = 2 pi (1 - pi)`` (``sum_k pi_k (1 - pi_k) / (q - 1)`` with q = 2),
      ``AC1 = (Pa - Pe) / (1 - Pe)``.

    With every unit rated by all coders both equal the classical Fleiss (1971) kappa and
    Gwet's (2008) multi-rater AC1. Returns ``(kappa, ac1, Pa, Pe_fleiss)``; NaN where undefined
    (no unit rated by two coders, or for kappa a single value throughout: ``1 - Pe = 0``).
    """
    n1 = np.asarray(n_rated, dtype=np.float64)
    pi_s = np.asarray(pi_sum, dtype=np.float64)
    pa = _div(pa_sum, n_pairable)
    pi = _div(pi_s, n1)
    pe = pi * pi + (1.0 - pi) * (1.0 - pi)
    one_minus_pe = _div(2.0 * pi_s * (n1 - pi_s), n1 * n1)
    kappa = _div(pa - pe, one_minus_pe)
    pe_g = 2.0 * pi * (1.0 - pi)
    ac1 = _div(pa - pe_g, 1.0 - pe_g)
    return kappa, ac1, pa, pe


def _generalized_nominal_from_sums(
    n_rated: Any, n_pairable: Any, pa_sum: Any, pi_sums: Any, q: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gwet's (2014) generalised Fleiss' kappa and AC1 over q categories with missing ratings.

    ``Pa = (1/n2) sum_{u: r_u >= 2} sum_k n_uk (n_uk - 1) / (r_u (r_u - 1))``,
    ``pi_k = (1/n1) sum_{u: r_u >= 1} n_uk / r_u`` (``pi_sums``, last axis = category);
    Fleiss ``Pe = sum_k pi_k^2``; AC1 ``Pe = sum_k pi_k (1 - pi_k) / (q - 1)``. Returns
    ``(kappa, ac1, Pa)``. Reproduces irrCAC's ``fleiss.kappa.raw`` / ``gwet.ac1.raw`` (tests).
    """
    n1 = np.asarray(n_rated, dtype=np.float64)
    pis = np.asarray(pi_sums, dtype=np.float64)
    pa = _div(pa_sum, n_pairable)
    pi = _div(pis, n1[..., None])
    sq = np.sum(pis * pis, axis=-1)
    pe = _div(sq, n1 * n1)
    kappa = _div(pa - pe, _div(n1 * n1 - sq, n1 * n1))
    if q < 2:
        nan = np.full(np.shape(pa), np.nan)
        return kappa, nan, pa
    pe_g = np.sum(pi * (1.0 - pi), axis=-1) / (q - 1)
    return kappa, _div(pa - pe_g, 1.0 - pe_g), pa


def scott_pi_from_counts(a: Any, b: Any, c: Any, d: Any) -> np.ndarray:
    """Scott's (1955) pi for two coders and a binary code.

    ``pi = (2a + b + c) / (2n)`` (the coders' pooled prevalence), ``Pe = pi^2 + (1 - pi)^2``,
    ``Scott's pi = (Po - Pe) / (1 - Pe)``; ``1 - Pe = 2 pi (1 - pi)`` is used so that the denominator
    is exactly 0 when the code is absent (or present) throughout. NaN where undefined.
    """
    a, b, c, d = (np.asarray(v, dtype=np.float64) for v in (a, b, c, d))
    n = a + b + c + d
    ones, zeros = 2.0 * a + b + c, 2.0 * d + b + c
    po = _div(a + d, n)
    pi = _div(ones, 2.0 * n)
    pe = pi * pi + (1.0 - pi) * (1.0 - pi)
    return _div(po - pe, _div(2.0 * ones * zeros, 4.0 * n * n))


def prevalence_index_from_counts(a: Any, b: Any, c: Any, d: Any) -> np.ndarray:
    """Prevalence index ``PI = (a - d) / n`` (Byrt, Bishop & Carlin 1993): how far the code is from
    being applied to half the units; |PI| near 1 is where kappa is depressed (prevalence paradox)."""
    a, b, c, d = (np.asarray(v, dtype=np.float64) for v in (a, b, c, d))
    return _div(a - d, a + b + c + d)


def bias_index_from_counts(a: Any, b: Any, c: Any, d: Any) -> np.ndarray:
    """Bias index ``BI = (b - c) / n`` (Byrt, Bishop & Carlin 1993): how much more often coder A marks
    the code than coder B (the difference of their prevalences)."""
    a, b, c, d = (np.asarray(v, dtype=np.float64) for v in (a, b, c, d))
    return _div(b - c, a + b + c + d)


def scott_pi_from_confusion(confusion: Any) -> float:
    """Scott's (1955) pi for a k x k confusion matrix: ``pi_k = (row_k + col_k) / (2n)``,
    ``Pe = sum_k pi_k^2``, ``(Po - Pe) / (1 - Pe)``; NaN if undefined."""
    cm = np.asarray(confusion, dtype=np.float64)
    n = cm.sum()
    pi = _div(cm.sum(0) + cm.sum(1), 2.0 * n)
    pe = float(np.sum(pi * pi))
    return _f(_div(_div(np.trace(cm), n) - pe, 1.0 - pe))


def _conger_binary_from_sums(pa: Any, marks: Any, seen: Any) -> tuple[np.ndarray, np.ndarray]:
    """Conger's (1980) kappa for r coders and a binary code, generalised to missing ratings (Gwet 2014,
    as irrCAC's ``conger.kappa.raw``).

    ``marks`` (..., r, n_codes): units each coder marked; ``seen`` (..., r, 1): units each coder rated.
    ``p_g = marks_g / seen_g``; ``p̄`` and ``s^2`` are their mean and sample variance over coders; the
    chance agreement is ``Pe = sum_k (p̄_k^2 - s_k^2 / r)`` over the two categories, i.e.
    ``p̄^2 + (1 - p̄)^2 - 2 s^2 / r``; ``kappa = (Pa - Pe) / (1 - Pe)`` with Pa the generalised
    observed agreement (see :func:`_generalized_binary_from_sums`). Returns ``(kappa, Pe)``.
    """
    p = _div(marks, seen)
    r = p.shape[-2]
    p_bar = p.mean(axis=-2)
    s2 = p.var(axis=-2, ddof=1) if r > 1 else np.zeros_like(p_bar)
    pe = p_bar * p_bar + (1.0 - p_bar) * (1.0 - p_bar) - 2.0 * s2 / r
    return _div(np.asarray(pa, dtype=np.float64) - pe, 1.0 - pe), pe


def _conger_nominal_from_sums(pa: Any, counts: Any, seen: Any) -> tuple[np.ndarray, np.ndarray]:
    """Conger's (1980) kappa over q categories with missing ratings (Gwet 2014; irrCAC ``conger.kappa.raw``).

    ``counts`` (..., r, q): units each coder put in each category; ``seen`` (..., r, 1);
    ``Pe = sum_k (p̄_k^2 - s_k^2 / r)`` with ``p_gk = counts_gk / seen_g``. Returns ``(kappa, Pe)``.
    """
    p = _div(counts, seen)
    r = p.shape[-2]
    p_bar = p.mean(axis=-2)
    s2 = p.var(axis=-2, ddof=1) if r > 1 else np.zeros_like(p_bar)
    pe = np.sum(p_bar * p_bar - s2 / r, axis=-1)
    return _div(np.asarray(pa, dtype=np.float64) - pe, 1.0 - pe), pe


def brennan_prediger(pa: Any, q: int) -> np.ndarray:
    """Brennan & Prediger (1981): ``(Pa - 1/q) / (1 - 1/q)`` with q categories (chance = uniform); for a
    binary code it is PABAK, ``2 Pa - 1`` (Byrt et al. 1993)."""
    return (np.asarray(pa, dtype=np.float64) - 1.0 / q) / (1.0 - 1.0 / q)


def ordinal_weights(q: int, kind: str = "quadratic") -> np.ndarray:
    """Agreement weights for q ordered categories (Gwet 2014, ch. 3; Cohen 1968):
    linear ``w_kl = 1 - |k - l| / (q - 1)``, quadratic ``w_kl = 1 - (k - l)^2 / (q - 1)^2``."""
    if q < 2:
        return np.ones((q, q))
    d = np.abs(np.subtract.outer(np.arange(q), np.arange(q))) / (q - 1)
    if kind == "linear":
        return 1.0 - d
    if kind == "quadratic":
        return 1.0 - d * d
    raise ValueError(f"unknown weights '{kind}' (linear | quadratic)")


def weighted_kappa_from_confusion(confusion: Any, weights: str = "quadratic") -> float:
    """Cohen's (1968) weighted kappa for ordinal codes (e.g. intensity ratings), two coders.

    With ``p_kl`` the confusion proportions and ``w`` from :func:`ordinal_weights`:
    ``Pa = sum_kl w_kl p_kl``, ``Pe = sum_kl w_kl p_k+ p_+l``, ``kappa_w = (Pa - Pe) / (1 - Pe)``.
    """
    cm = np.asarray(confusion, dtype=np.float64)
    w = ordinal_weights(cm.shape[0], weights)
    p = _div(cm, cm.sum())
    pa = float(np.sum(w * p))
    pe = float(np.sum(w * np.outer(p.sum(1), p.sum(0))))
    return _f(_div(pa - pe, 1.0 - pe))


def ac2_from_confusion(confusion: Any, weights: str = "quadratic") -> float:
    """Gwet's AC2, the weighted AC1 for ordinal codes (Gwet 2014, ch. 3), two coders.

    ``Pa = sum_kl w_kl p_kl``; ``pi_k = (p_k+ + p_+k) / 2``; ``Pe = T_w / (q (q - 1)) sum_k pi_k (1 - pi_k)``
    with ``T_w = sum_kl w_kl``; ``AC2 = (Pa - Pe) / (1 - Pe)``.
    """
    cm = np.asarray(confusion, dtype=np.float64)
    q = cm.shape[0]
    w = ordinal_weights(q, weights)
    p = _div(cm, cm.sum())
    pa = float(np.sum(w * p))
    pi = (p.sum(1) + p.sum(0)) / 2.0
    pe = float(w.sum() / (q * (q - 1)) * np.sum(pi * (1.0 - pi)))
    return _f(_div(pa - pe, 1.0 - pe))


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


def _kappa_nominal_from_sums(n: Any, agree: Any, row: Any, col: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = np.asarray(n, dtype=np.float64)
    agree = np.asarray(agree, dtype=np.float64)
    chance = np.sum(np.asarray(row, dtype=np.float64) * np.asarray(col, dtype=np.float64), axis=-1)
    po = _div(agree, n)
    pe = _div(chance, n * n)
    kappa = _div(n * agree - chance, n * n - chance)
    return kappa, po, pe


def _ac1_nominal_from_sums(n: Any, agree: Any, row: Any, col: Any, q: int) -> tuple[np.ndarray, np.ndarray]:
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


