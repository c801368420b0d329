"""Per-unit features whose column sums are the sufficient statistics, and the bootstrap driver."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from eval.bootstrap import bootstrap_sums, percentile_interval
from eval.metrics.models import CI

#: A bootstrap interval table entry: (low, high, replicates defined), each broadcast over codes.
Interval = tuple[np.ndarray, np.ndarray, np.ndarray]
StatFn = Callable[[dict[str, np.ndarray]], dict[Any, np.ndarray]]



class _Features:
    """Named blocks of per-unit features; their column sums feed the formulas above.

    The point estimate uses the plain column sums; the bootstrap uses ``W @ F`` for a
    chunk of resampling weight matrices ``W`` (see :mod:`eval.bootstrap`). With ``clusters``
    (a cluster index per unit, e.g. the unit's transcript) the bootstrap is a cluster bootstrap:
    the features are first summed per cluster and whole clusters are resampled (Field & Welsh
    2007; Davison & Hinkley 1997, sec. 3.8), so units of one interview stay together.
    """

    def __init__(self, n_units: int, weights: np.ndarray | None = None,
                 clusters: np.ndarray | None = None) -> None:
        self.n_units = n_units
        self.weights = weights
        self.clusters = clusters
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
        if self.clusters is not None:
            per_cluster = np.zeros((int(self.clusters.max(initial=-1)) + 1, matrix.shape[1]))
            np.add.at(per_cluster, self.clusters, matrix)
            matrix = per_cluster
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
    # Gwet's generalised form: units rated by >= 1 and >= 2 coders and, per number of raters r, the
    # agreement numerators and the marks (integers, so sums are exact whatever the bootstrap chunks)
    zeros = m[:, None] - ones
    for i in range(r):  # Conger: what each coder marked and saw
        feats.add(f"conger:M{i}", x[i] & obs[i][:, None])
        feats.add(f"conger:S{i}", obs[i])
    feats.add("gen:N1", m >= 1)
    feats.add("gen:N2", pairable)
    agree = ones * (ones - 1) + zeros * (zeros - 1)
    for k in range(1, r + 1):
        at_k = (m == k)[:, None]
        feats.add(f"gen:PI{k}", ones * at_k)
        if k >= 2:
            feats.add(f"gen:PA{k}", agree * at_k)


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
    eye = np.eye(q, dtype=np.int64)
    for i in range(r):
        feats.add(f"conger:M{i}", eye[lab[i]] * obs[i][:, None])
        feats.add(f"conger:S{i}", obs[i])
    feats.add("gen:N1", m >= 1)
    feats.add("gen:N2", pairable)
    for k in range(1, r + 1):
        at_k = m == k
        feats.add(f"gen:PI{k}", counts * at_k[:, None])
        if k >= 2:
            feats.add(f"gen:PA{k}", (sq - m) * at_k)





def _run_bootstrap(
    feats: _Features,
    stat_fn: StatFn,
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
) -> dict[Any, Interval]:
    return {k: percentile_interval(v, confidence) for k, v in boot.items()}


def _fill_ci(
    ci: dict[str, CI],
    notes: dict[str, str],
    name: str,
    point: float,
    interval: Interval | None,
    index: int | tuple[()] = (),
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




def conger_sums(S: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(marks, seen) stacked over coders on axis -2: (..., r, width) and (..., r, 1)."""
    r = sum(1 for k in S if k.startswith("conger:M"))
    return (np.stack([S[f"conger:M{i}"] for i in range(r)], axis=-2),
            np.stack([S[f"conger:S{i}"] for i in range(r)], axis=-2))


def generalized_sums(S: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(n1, n2, pa_sum, pi_sum) of Gwet's generalised form from the per-r integer sums above:
    ``pa_sum = sum_r PA_r / (r (r - 1))``, ``pi_sum = sum_r PI_r / r``."""
    r_max = max(int(k[len("gen:PI"):]) for k in S if k.startswith("gen:PI"))
    pi_sum = sum(S[f"gen:PI{k}"] / k for k in range(1, r_max + 1))
    pa_sum = sum(S[f"gen:PA{k}"] / (k * (k - 1)) for k in range(2, r_max + 1))
    return S["gen:N1"], S["gen:N2"], np.asarray(pa_sum), np.asarray(pi_sum)
