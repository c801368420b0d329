"""Vectorized unit-resampling bootstrap for agreement statistics.

Every agreement statistic in :mod:`eval.metrics` is a (non-linear) function of a few
*sums over units* of per-unit features (for example, for two coders and one code:
the number of units both marked, the number each marked, the number both saw).
Resampling units with replacement therefore only changes the weight each unit gets in
those sums, and a whole batch of replicates is one matrix product::

    idx  = rng.integers(0, n_units, size=(B, n_units))   # the (B, n_units) index matrix
    W    = per-replicate counts of each unit in idx       # (B, n_units), W[r].sum() == n_units
    sums = W @ F                                           # F: (n_units, n_features)

after which the statistic is evaluated on ``sums`` with numpy broadcasting over the
leading replicate axis. No Python loop runs over replicates; the replicates are processed
in chunks so that the index and weight matrices stay small (a few tens of MB) whatever B is.

The confidence interval is the plain percentile interval (Efron & Tibshirani 1993,
ch. 13): the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles (numpy's
default linear interpolation) of the replicate values. Replicates on which a statistic is
undefined (NaN, e.g. a rare code absent from a resample so that kappa's Pe = 1) are
excluded and counted, so the caller can report how many were dropped.

Reproducibility: the index matrix is drawn chunk after chunk from one
``numpy.random.Generator``; numpy draws bounded integers element by element, so the
replicates do not depend on the chunk size (tested in ``tests/eval``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: Upper bound, in bytes, for the per-chunk index + weight matrices.
DEFAULT_CHUNK_BYTES = 48 * 2**20


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return ``seed`` if it is a Generator, else ``np.random.default_rng(seed)``."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def resample_weights(rng: np.random.Generator, n_units: int, n_replicates: int) -> np.ndarray:
    """Draw ``n_replicates`` bootstrap resamples of ``n_units`` units as a weight matrix.

    Draws the ``(n_replicates, n_units)`` index matrix ``idx`` (units drawn with
    replacement) and returns ``W`` with ``W[r, u]`` = number of times unit ``u`` occurs in
    replicate ``r`` (float64, so ``W @ F`` goes through BLAS). ``W.sum(axis=1) == n_units``.
    """
    if n_units == 0:
        return np.zeros((n_replicates, 0))
    idx = rng.integers(0, n_units, size=(n_replicates, n_units))
    idx += (np.arange(n_replicates, dtype=idx.dtype) * n_units)[:, None]
    counts = np.bincount(idx.ravel(), minlength=n_replicates * n_units)
    return counts.reshape(n_replicates, n_units).astype(np.float64)


def default_chunk_size(n_units: int, n_features: int, max_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Replicates per chunk so that index, counts, weights and sums fit in ``max_bytes``."""
    per_replicate = 8 * (3 * max(n_units, 1) + max(n_features, 1))
    return int(max(1, max_bytes // per_replicate))


def bootstrap_sums(
    features: np.ndarray,
    n_replicates: int,
    rng: np.random.Generator,
    chunk_size: int | None = None,
) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(replicate_slice, W_chunk @ features)`` chunk by chunk.

    Parameters
    ----------
    features : ndarray of shape (n_units, n_features)
        Per-unit features whose column sums are the sufficient statistics.
    n_replicates : int
        Number of bootstrap replicates ``B``.
    rng : numpy.random.Generator
        Source of the resampling indices (consumed sequentially).
    chunk_size : int, optional
        Replicates per chunk; default from :func:`default_chunk_size`.
    """
    features = np.asarray(features, dtype=np.float64)
    n_units = features.shape[0]
    if chunk_size is None:
        chunk_size = default_chunk_size(n_units, features.shape[1])
    for start in range(0, n_replicates, chunk_size):
        stop = min(start + chunk_size, n_replicates)
        weights = resample_weights(rng, n_units, stop - start)
        yield slice(start, stop), weights @ features


def percentile_interval(
    replicates: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along axis 0, ignoring NaN replicates.

    Vectorized over the trailing axes (one sort; no ``apply_along_axis``).

    Returns
    -------
    low, high : ndarray
        The ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the defined
        replicates (linear interpolation, as ``numpy.quantile``); NaN where no replicate
        is defined.
    n_defined : ndarray of int
        Number of replicates on which the statistic was defined.
    """
    values = np.asarray(replicates, dtype=np.float64)
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    ordered = np.sort(values, axis=0)  # NaN sort last
    n_defined = np.sum(~np.isnan(values), axis=0)
    if values.shape[0] == 0:
        nan = np.full(values.shape[1:], np.nan)
        return nan, nan.copy(), n_defined

    def quantile(q: float) -> np.ndarray:
        pos = q * np.maximum(n_defined - 1, 0)
        lo = np.floor(pos).astype(np.intp)
        hi = np.minimum(lo + 1, np.maximum(n_defined - 1, 0))
        frac = pos - lo
        v_lo = np.take_along_axis(ordered, lo[None, ...], axis=0)[0]
        v_hi = np.take_along_axis(ordered, hi[None, ...], axis=0)[0]
        with np.errstate(invalid="ignore"):
            out = v_lo + frac * (v_hi - v_lo)
        # exact hit: avoid inf*0 style artefacts and keep the order statistic itself
        out = np.where(frac == 0, v_lo, out)
        return np.where(n_defined > 0, out, np.nan)

    alpha = (1.0 - confidence) / 2.0
    return quantile(alpha), quantile(1.0 - alpha), n_defined
