"""Table assembly: every statistic for every code, pair and all coders, with CIs, reasons and notes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from eval.bootstrap import make_rng
from eval.metrics.arrays import confusion_matrix_nominal
from eval.metrics.features import (
    Interval,
    _add_multi_features,
    _add_pair_features,
    _ci_table,
    _Features,
    _fill_ci,
    _multi_nominal_features,
    _run_bootstrap,
    generalized_sums,
)
from eval.metrics.formulas import (
    _ac1_nominal_from_sums,
    _alpha_nominal_from_sums,
    _div,
    _f,
    _fleiss_nominal_from_sums,
    _generalized_nominal_from_sums,
    _kappa_nominal_from_sums,
    _nanmean,
    landis_koch,
    pair_key,
    validate_labels,
    validate_presence,
)
from eval.metrics.models import (
    CI,
    AgreementResult,
    BinaryAgreement,
    CategoricalAgreement,
    CategoricalMultiAgreement,
    CategoricalResult,
    Counts,
    MultiCoderAgreement,
    MultiCoderOverall,
    MultiCoderResult,
    OverallAgreement,
    PairAgreement,
)
from eval.metrics.registry import MULTI_METRICS, PAIR_METRICS, multi_ci_names, multi_stats, pair_ci_names, pair_stats


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

def _validate_weights(unit_weights: Any | None, n_units: int) -> np.ndarray | None:
    if unit_weights is None:
        return None
    w = np.asarray(unit_weights, dtype=np.float64)
    if w.shape != (n_units,):
        raise ValueError(f"unit_weights must have shape ({n_units},); got {w.shape}")
    if not (np.all(np.isfinite(w)) and np.all(w >= 0) and np.all(w == np.round(w))):
        raise ValueError("unit_weights must be non-negative integers (unit multiplicities)")
    return w


def cluster_indices(clusters: Any | None, n_units: int) -> np.ndarray | None:
    """Cluster labels per unit -> integer index per unit (0..n_clusters-1), or None."""
    if clusters is None:
        return None
    labels = np.asarray(clusters, dtype=object)
    if labels.shape != (n_units,):
        raise ValueError(f"clusters must have shape ({n_units},); got {labels.shape}")
    _, index = np.unique(labels.astype(str), return_inverse=True)
    return np.asarray(index, dtype=np.intp)


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
    clusters: Any | None = None,
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
    clusters : array-like of hashable, shape (n_units,), optional
        A cluster label per unit (e.g. its transcript): the bootstrap then resamples whole
        clusters (cluster bootstrap) instead of units. Point estimates do not change.

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
    cluster_index = cluster_indices(clusters, n_units)

    pairs = list(combinations(range(n_coders), 2))
    gold_sides: dict[str, str | None] = {}
    feats = _Features(n_units, weights, cluster_index)
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
            code, overall = pair_stats(S, key, gold_sides[key], n_codes)
            out.update({(key, "code", k): v for k, v in code.items()})
            out.update({(key, "overall", k): v for k, v in overall.items()})
        if multi:
            code, overall = multi_stats(S, n_coders, n_codes)
            out.update({("multi", "code", k): v for k, v in code.items()})
            out.update({("multi", "overall", k): v for k, v in overall.items()})
        return out

    S = feats.sums()
    point = all_stats(S)
    cis: dict[Any, Interval] = {}
    wanted = {(kind, name) for gold_pair in (False, True)
              for kind, names in zip(("code", "overall"), pair_ci_names(gold_pair), strict=True) for name in names}
    wanted |= {(kind, name) for kind, names in zip(("code", "overall"), multi_ci_names(), strict=True) for name in names}
    if bootstrap > 0:
        rng = make_rng(seed)

        def boot_stats(Sb: dict[str, np.ndarray]) -> dict[Any, np.ndarray]:
            return {k: v for k, v in all_stats(Sb).items() if (k[1], k[2]) in wanted}

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
                for name in pair_ci_names(side is not None)[0]:
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
                kappa_label=landis_koch(vals["kappa"]),
                ci=ci,
                undefined_reasons=reasons,
                notes=notes,
                **vals,
            )
        ov = {k[2]: v for k, v in point.items() if k[0] == key and k[1] == "overall"}
        ov_vals = {k: (int(v) if k.startswith("n_") else _f(v)) for k, v in ov.items()}
        reasons = {}
        notes = {}
        for name in [m.name for m in PAIR_METRICS.values() if m.macro and (side or not m.gold)]:
            if math.isnan(ov_vals[f"{name}_macro"]):
                reasons[f"{name}_macro"] = _macro_reason(name, int(ov_vals[f"n_{name}_defined"]), n_codes)
        pooled = (int(a_arr.sum()), int(b_arr.sum()), int(c_arr.sum()), int(d_arr.sum()))
        for name in ("kappa", "po", "pe", "pabak", "ac1", "alpha") + (
            ("precision", "recall", "f1") if side else ()
        ):
            if f"{name}_micro" in ov_vals and math.isnan(ov_vals[f"{name}_micro"]):
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
            for name in pair_ci_names(side is not None)[1]:
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
    point: dict[Any, np.ndarray],
    cis: dict[Any, Interval],
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
        if n_pairable == 0:
            for name in ("gen_fleiss_kappa", "gen_ac1", "gen_po", "gen_pe"):
                reasons[name] = "no unit was rated by two or more coders"
        elif math.isnan(vals["gen_fleiss_kappa"]):
            st = "present" if ones_alpha[q] == n_alpha_values else "absent"
            reasons["gen_fleiss_kappa"] = (
                f"Pe = 1: every coder marked the code {st} on every unit they rated, Fleiss' kappa undefined"
            )
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
            for name in multi_ci_names()[0]:
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
            fleiss_kappa_label=landis_koch(vals["fleiss_kappa"]),
            gen_fleiss_kappa_label=landis_koch(vals["gen_fleiss_kappa"]),
            ci=ci,
            undefined_reasons=reasons,
            notes=notes,
            **vals,
        )
    ov = {k[2]: v for k, v in point.items() if k[0] == "multi" and k[1] == "overall"}
    ov_vals = {k: (int(v) if k.startswith("n_") else _f(v)) for k, v in ov.items()}
    reasons = {}
    notes = {}
    for name in [m.name for m in MULTI_METRICS.values() if m.macro]:
        if math.isnan(ov_vals[f"{name}_macro"]):
            reasons[f"{name}_macro"] = _macro_reason(name, 0, len(codes))
        if f"{name}_micro" in ov_vals and math.isnan(ov_vals[f"{name}_micro"]):
            reasons[f"{name}_micro"] = (
                f"pooled over codes, {name} is undefined "
                "(no usable units or a single value throughout)"
            )
    ci = {}
    if bootstrap > 0:
        for name in multi_ci_names()[1]:
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
    clusters: Any | None = None,
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
    feats = _Features(n_units, clusters=cluster_indices(clusters, n_units))
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
            n1, n2, pa_sum, pi_sums = generalized_sums(S)
            gk, gac1, _ = _generalized_nominal_from_sums(n1[..., 0], n2[..., 0], pa_sum[..., 0], pi_sums, q)
            out[("multi", "gen_fleiss_kappa")] = gk
            out[("multi", "gen_ac1")] = gac1
        return out

    S = feats.sums()
    point = {k: _f(v) for k, v in all_stats(S).items()}
    cis: dict[Any, Interval] = {}
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
        if n_pair == 0:
            reasons["gen_fleiss_kappa"] = reasons["gen_ac1"] = "no unit was rated by two or more coders"
        elif math.isnan(point[("multi", "gen_fleiss_kappa")]):
            reasons["gen_fleiss_kappa"] = "Pe = 1: every rating is one category, Fleiss' kappa undefined"
        ci = {}
        if bootstrap > 0:
            for name, v in (("fleiss_kappa", fk), ("alpha", al), ("gen_fleiss_kappa", point[("multi", "gen_fleiss_kappa")]),
                            ("gen_ac1", point[("multi", "gen_ac1")])):
                _fill_ci(ci, notes, name, v, cis.get(("multi", name)), (), bootstrap)
        multi_result = CategoricalMultiAgreement(
            n_coders=n_coders,
            n_units_fleiss=n_full,
            n_units_alpha=n_pair,
            fleiss_kappa=fk,
            fleiss_kappa_label=landis_koch(fk),
            gen_fleiss_kappa=point[("multi", "gen_fleiss_kappa")],
            gen_fleiss_kappa_label=landis_koch(point[("multi", "gen_fleiss_kappa")]),
            gen_ac1=point[("multi", "gen_ac1")],
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

