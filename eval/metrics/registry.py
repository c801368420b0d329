"""The metric registries: one entry per statistic, so adding a metric touches one place.

A *pair metric* is a function of the 2x2 table of two coders (broadcast over codes and bootstrap
replicates); an *all-coder metric* is a function of the all-coder sums of :mod:`eval.metrics.features`.
Registering a metric is all it takes for :func:`eval.metrics.agreement_table` to compute it per code,
its macro average and its micro (pooled) value if asked, their bootstrap intervals, and to put it in
the result models (which accept registered extra statistics) and in ``report.json``. Give the
result model a typed field too if code reads it by attribute.

Each entry carries its formula's reference; the formula itself is in the docstring of the function
it calls (:mod:`eval.metrics.formulas`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from eval.metrics.features import conger_sums, generalized_sums
from eval.metrics.formulas import (
    _alpha_binary_from_sums,
    _conger_binary_from_sums,
    _fleiss_binary_from_sums,
    _generalized_binary_from_sums,
    _multi_rater_binary_from_sums,
    _nanmean,
    ac1_from_counts,
    alpha_from_counts,
    bias_index_from_counts,
    kappa_from_counts,
    prevalence_index_from_counts,
    prf_from_counts,
    scott_pi_from_counts,
)

Sums = dict[str, np.ndarray]


@dataclass(frozen=True)
class PairTable:
    """The 2x2 table(s) of one pair (any leading axes); ``gold_side`` is 'a'/'b' when a coder is gold."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    gold_side: str | None = None

    @property
    def fp(self) -> np.ndarray:
        return self.b if self.gold_side == "b" else self.c

    @property
    def fn(self) -> np.ndarray:
        return self.c if self.gold_side == "b" else self.b


@dataclass(frozen=True)
class PairMetric:
    """A two-coder statistic of the 2x2 table.

    ``macro``: report ``<name>_macro`` (mean over codes where defined) and ``n_<name>_defined``;
    ``micro``: report ``<name>_micro`` on the table pooled over codes; ``ci``: per-code bootstrap
    interval; ``ci_overall``: which of ``macro``/``micro`` get an interval; ``gold``: only on pairs
    with the gold coder (precision, recall, F1).
    """

    name: str
    formula: Callable[[PairTable], np.ndarray]
    reference: str
    macro: bool = True
    micro: bool = True
    ci: bool = True
    ci_overall: tuple[str, ...] = ("macro", "micro")
    gold: bool = False


@dataclass(frozen=True)
class MultiMetric:
    """An all-coder statistic per code from the all-coder sums and the number of coders r."""

    name: str
    formula: Callable[[Sums, int], np.ndarray]
    reference: str
    macro: bool = False
    micro: bool = False
    ci: bool = True


PAIR_METRICS: dict[str, PairMetric] = {}
MULTI_METRICS: dict[str, MultiMetric] = {}


def register_pair_metric(metric: PairMetric) -> PairMetric:
    PAIR_METRICS[metric.name] = metric
    return metric


def register_multi_metric(metric: MultiMetric) -> MultiMetric:
    MULTI_METRICS[metric.name] = metric
    return metric


COHEN = "Cohen, J. (1960). Educational and Psychological Measurement, 20(1), 37-46."
BYRT = "Byrt, Bishop & Carlin (1993). Journal of Clinical Epidemiology, 46(5), 423-429."
GWET_2008 = "Gwet, K. L. (2008). British Journal of Mathematical and Statistical Psychology, 61(1), 29-48."
GWET_2014 = "Gwet, K. L. (2014). Handbook of Inter-Rater Reliability, 4th ed., ch. 2 and 5 (missing ratings)."
KRIPP = "Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability. https://repository.upenn.edu/asc_papers/43"
FLEISS = "Fleiss, J. L. (1971). Psychological Bulletin, 76(5), 378-382."
PRF = "van Rijsbergen, C. J. (1979). Information Retrieval, 2nd ed., ch. 7."
SCOTT = "Scott, W. A. (1955). Public Opinion Quarterly, 19(3), 321-325."
CONGER = "Conger, A. J. (1980). Psychological Bulletin, 88(2), 322-328; missing ratings: Gwet (2014)."

for _metric in (
    PairMetric("kappa", lambda t: kappa_from_counts(t.a, t.b, t.c, t.d)[0], COHEN),
    PairMetric("po", lambda t: kappa_from_counts(t.a, t.b, t.c, t.d)[1], COHEN, ci_overall=("micro",)),
    PairMetric("pe", lambda t: kappa_from_counts(t.a, t.b, t.c, t.d)[2], COHEN, macro=False, ci=False,
               ci_overall=()),
    PairMetric("pabak", lambda t: 2.0 * kappa_from_counts(t.a, t.b, t.c, t.d)[1] - 1.0, BYRT, ci_overall=("micro",)),
    PairMetric("ac1", lambda t: ac1_from_counts(t.a, t.b, t.c, t.d)[0], GWET_2008),
    PairMetric("pe_ac1", lambda t: ac1_from_counts(t.a, t.b, t.c, t.d)[1], GWET_2008, macro=False, micro=False,
               ci=False, ci_overall=()),
    PairMetric("alpha", lambda t: alpha_from_counts(t.a, t.b, t.c, t.d), KRIPP),
    PairMetric("scott_pi", lambda t: scott_pi_from_counts(t.a, t.b, t.c, t.d), SCOTT, ci_overall=("macro",)),
    PairMetric("prevalence_index", lambda t: prevalence_index_from_counts(t.a, t.b, t.c, t.d), BYRT, macro=False,
               ci=False, ci_overall=()),
    PairMetric("bias_index", lambda t: bias_index_from_counts(t.a, t.b, t.c, t.d), BYRT, macro=False, ci=False,
               ci_overall=()),
    PairMetric("precision", lambda t: prf_from_counts(t.a, t.fp, t.fn)[0], PRF, gold=True),
    PairMetric("recall", lambda t: prf_from_counts(t.a, t.fp, t.fn)[1], PRF, gold=True),
    PairMetric("f1", lambda t: prf_from_counts(t.a, t.fp, t.fn)[2], PRF, gold=True),
):
    register_pair_metric(_metric)

for _multi in (
    MultiMetric("alpha", lambda S, r: _alpha_binary_from_sums(S["alpha:N"], S["alpha:N1"], S["alpha:D"]), KRIPP,
                macro=True, micro=True),
    MultiMetric("fleiss_kappa", lambda S, r: _fleiss_binary_from_sums(S["fleiss:N"], S["fleiss:S1"], S["fleiss:SQ"], r),
                FLEISS, macro=True, micro=True),
    MultiMetric("po", lambda S, r: _multi_rater_binary_from_sums(S["fleiss:N"], S["fleiss:S1"], S["fleiss:SQ"], r)[0],
                FLEISS),
    MultiMetric("pe", lambda S, r: _multi_rater_binary_from_sums(S["fleiss:N"], S["fleiss:S1"], S["fleiss:SQ"], r)[1],
                FLEISS, ci=False),
    MultiMetric("pabak", lambda S, r: 2.0 * _multi_rater_binary_from_sums(
        S["fleiss:N"], S["fleiss:S1"], S["fleiss:SQ"], r)[0] - 1.0, BYRT),
    MultiMetric("ac1", lambda S, r: _multi_rater_binary_from_sums(S["fleiss:N"], S["fleiss:S1"], S["fleiss:SQ"], r)[2],
                GWET_2008),
    MultiMetric("gen_fleiss_kappa", lambda S, r: _generalized_binary_from_sums(
        *generalized_sums(S))[0], GWET_2014, macro=True, micro=True),
    MultiMetric("gen_ac1", lambda S, r: _generalized_binary_from_sums(
        *generalized_sums(S))[1], GWET_2014, macro=True, micro=True),
    MultiMetric("gen_po", lambda S, r: _generalized_binary_from_sums(
        *generalized_sums(S))[2], GWET_2014),
    MultiMetric("gen_conger_kappa", lambda S, r: _conger_binary_from_sums(
        _generalized_binary_from_sums(*generalized_sums(S))[2], *conger_sums(S))[0], CONGER, macro=True),
    MultiMetric("gen_pe", lambda S, r: _generalized_binary_from_sums(
        *generalized_sums(S))[3], GWET_2014, ci=False),
):
    register_multi_metric(_multi)


def pool(S: Sums, prefix: str, n_codes: int) -> Sums:
    """Sums pooled over codes (every unit x code cell one item): per-code blocks are summed, per-unit
    blocks (one column) count once per code."""
    out: Sums = {}
    for name, v in S.items():
        if not name.startswith(prefix):
            continue
        out[name] = v.sum(axis=-1, keepdims=True) if v.shape[-1] == n_codes else v * n_codes
    return out


def pair_table(S: Sums, key: str, gold_side: str | None) -> PairTable:
    a, si, sj, n = S[f"{key}:a"], S[f"{key}:si"], S[f"{key}:sj"], S[f"{key}:n"]
    return PairTable(a=a, b=si - a, c=sj - a, d=n - si - sj + a, gold_side=gold_side)


def pair_stats(S: Sums, key: str, gold_side: str | None, n_codes: int) -> tuple[Sums, Sums]:
    """Per-code and overall statistics of one pair from (possibly batched) sums, by the registry."""
    table = pair_table(S, key, gold_side)
    pooled = pair_table(pool(S, f"{key}:", n_codes), key, gold_side)
    code: Sums = {}
    overall: Sums = {}
    for m in PAIR_METRICS.values():
        if m.gold and gold_side is None:
            continue
        code[m.name] = m.formula(table)
        if m.micro:
            overall[f"{m.name}_micro"] = m.formula(pooled)[..., 0]
        if m.macro:
            overall[f"{m.name}_macro"], overall[f"n_{m.name}_defined"] = _nanmean(code[m.name])
    return code, overall


MULTI_PREFIXES = ("alpha:", "fleiss:", "gen:", "conger:")


def multi_stats(S: Sums, r: int, n_codes: int) -> tuple[Sums, Sums]:
    """Per-code and overall all-coder statistics, by the registry."""
    pooled: Sums = {}
    for prefix in MULTI_PREFIXES:
        pooled.update(pool(S, prefix, n_codes))
    code: Sums = {}
    overall: Sums = {}
    for m in MULTI_METRICS.values():
        code[m.name] = m.formula(S, r)
        if m.micro:
            overall[f"{m.name}_micro"] = m.formula(pooled, r)[..., 0]
        if m.macro:
            overall[f"{m.name}_macro"], overall[f"n_{m.name}_defined"] = _nanmean(code[m.name])
    return code, overall


def pair_ci_names(gold: bool) -> tuple[list[str], list[str]]:
    """(per-code, overall) statistics of a pair that get bootstrap intervals."""
    metrics = [m for m in PAIR_METRICS.values() if gold or not m.gold]
    per_code = [m.name for m in metrics if m.ci]
    overall = [f"{m.name}_{kind}" for m in metrics for kind in ("macro", "micro") if kind in m.ci_overall
               and getattr(m, kind)]
    return per_code, overall


def multi_ci_names() -> tuple[list[str], list[str]]:
    per_code = [m.name for m in MULTI_METRICS.values() if m.ci]
    overall = [f"{m.name}_{kind}" for m in MULTI_METRICS.values() for kind in ("macro", "micro") if getattr(m, kind)]
    return per_code, overall
