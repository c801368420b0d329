"""From aligned codings to the report's content: agreement per level, disagreements, stability, groups.

`report.json` is `EvalReport` as JSON. With two coders `codes` and `overall` are that pair's
two-coder statistics (Cohen's kappa and friends). With three or more, `codes` and `overall` hold
the all-coder statistics (Fleiss' kappa as `kappa`, Krippendorff's alpha, and the multi-rater Po,
Pe, PABAK and AC1), `precision`/`recall`/`f1` become per-coder maps against the gold coder, and
`pairs["A|B"]` holds the two-coder structure for every pair. Undefined values are JSON null with
the reason in `undefined_reasons`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from eval.align import Aligned
from eval.inputs import InputSummary, Problem
from eval.metrics import AgreementResult, agreement_table, categorical_agreement
from eval.rollup import Level, build_level, roll_up
from pipeline.codebook import Codebook
from pipeline.models import utcnow

# all-coder fields copied as they are into a code's entry
_MULTI_KEYS = ("po", "pe", "pabak", "ac1", "alpha", "prevalence", "prevalence_mean", "notes")


class LevelReport(BaseModel):
    """Agreement on the codes of one level of the codebook."""

    model_config = ConfigDict(ser_json_inf_nan="null")

    codes: dict[str, dict[str, Any]]
    overall: dict[str, Any]
    pairs: dict[str, dict[str, Any]] | None = None


class EvalReport(BaseModel):
    """Everything `report.json` holds (see module docstring and docs/eval.md)."""

    model_config = ConfigDict(ser_json_inf_nan="null")

    tool: str = "precode eval"
    generated_at: datetime = Field(default_factory=utcnow)
    unit: dict[str, Any]
    inputs: list[InputSummary]
    coders: list[str]
    gold: str | None
    codebook: dict[str, str] | None
    level: str = Field(description="the level of `codes`, `overall` and `pairs`")
    levels: list[str]
    bootstrap: dict[str, Any]
    codes: dict[str, dict[str, Any]]
    overall: dict[str, Any]
    pairs: dict[str, dict[str, Any]] | None = None
    by_level: dict[str, LevelReport]
    disagreements: dict[str, Any]
    stability: dict[str, Any] | None = None
    groups: dict[str, Any] | None = None
    problems: list[Problem]


def _code_meta(codebook: Codebook | None, code: str) -> dict[str, Any]:
    if codebook is None or code not in codebook.by_id:
        return {"label": code, "path": code, "level": None}
    c = codebook.by_id[code]
    return {"label": c.label, "path": codebook.path(code), "level": c.level}


def _pair_code(entry: Any, meta: dict[str, Any]) -> dict[str, Any]:
    data = entry.model_dump(exclude={"code_id", "coder_a", "coder_b"})
    if data["precision"] is None:
        for key in ("precision", "recall", "f1"):
            data.pop(key)
    return {**meta, "kappa_statistic": "cohen", **data}


def _pair_overall(overall: Any) -> dict[str, Any]:
    return {k: v for k, v in overall.model_dump(exclude={"coder_a", "coder_b"}).items() if v is not None}


def _pair_block(result: AgreementResult, key: str, metas: dict[str, dict]) -> dict[str, Any]:
    pair = result.pairs[key]
    return {
        "coder_a": pair.coder_a, "coder_b": pair.coder_b, "gold": pair.gold, "predicted": pair.predicted,
        "codes": {code: _pair_code(entry, metas[code]) for code, entry in pair.per_code.items()},
        "overall": _pair_overall(pair.overall),
    }


def _marked(aligned: Aligned, presence: np.ndarray) -> np.ndarray:
    """(n_coders, n_codes): units (characters in char mode) each coder marked among those all coders saw."""
    w = aligned.units.weights if aligned.units.weights is not None else np.ones(presence.shape[1])
    w = w * aligned.observed.all(axis=0)
    return np.einsum("iuk,u->ik", presence.astype(np.float64), w)


def _count(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _multi_code(result: AgreementResult, code: str, meta: dict, marked: dict[str, float]) -> dict[str, Any]:
    m = result.multi.per_code[code]
    reasons = dict(m.undefined_reasons)
    if "fleiss_kappa" in reasons:
        reasons["kappa"] = reasons["fleiss_kappa"]
    ci = dict(m.ci)
    if "fleiss_kappa" in ci:
        ci["kappa"] = ci["fleiss_kappa"]
    entry = {**meta, "kappa_statistic": "fleiss", "kappa": m.fleiss_kappa, "kappa_label": m.fleiss_kappa_label,
             "fleiss_kappa": m.fleiss_kappa, "n_units": m.n_units_fleiss, "n_units_alpha": m.n_units_alpha,
             "counts": marked, **{k: getattr(m, k) for k in _MULTI_KEYS}, "ci": ci, "undefined_reasons": reasons}
    if result.gold is not None:
        for stat in ("precision", "recall", "f1"):
            entry[stat] = {p.predicted: getattr(p.per_code[code], stat) for p in result.pairs.values() if p.gold}
    return entry


def _multi_overall(result: AgreementResult) -> dict[str, Any]:
    data = result.multi.overall.model_dump()
    if result.gold is not None:
        data["vs_gold"] = {
            p.predicted: {k: getattr(p.overall, k) for k in (
                "kappa_macro", "kappa_micro", "precision_micro", "recall_micro", "f1_micro", "precision_macro",
                "recall_macro", "f1_macro")} | {"ci": p.overall.ci}
            for p in result.pairs.values() if p.gold
        }
    return data


def single_label_labels(presence: np.ndarray, observed: np.ndarray) -> np.ndarray | None:
    """Category index per coder and unit (-1 = not seen) if every coder gave every seen unit exactly one code."""
    per_unit = presence.sum(axis=2)
    if presence.shape[2] < 2 or not observed.any() or np.any(per_unit[observed] != 1):
        return None
    return np.where(observed, presence.argmax(axis=2), -1)


def _nominal(presence: np.ndarray, aligned: Aligned, codes: list[str], bootstrap: int, seed: int) -> dict | None:
    """Multi-category kappa and alpha for single-label schemes (not in char mode, whose units are weighted)."""
    if aligned.units.weights is not None:
        return None
    labels = single_label_labels(presence, aligned.observed)
    if labels is None:
        return None
    res = categorical_agreement(labels, aligned.observed, categories=codes, coder_names=aligned.coders,
                                bootstrap=bootstrap, seed=seed)
    pairs = {k: v.model_dump(exclude={"coder_a", "coder_b"}) for k, v in res.pairs.items()}
    if res.multi is None:
        return {"kappa_statistic": "cohen", **next(iter(pairs.values()))}
    m = res.multi
    return {"kappa_statistic": "fleiss", "kappa": m.fleiss_kappa, "kappa_label": m.fleiss_kappa_label,
            "alpha": m.alpha, "n_units": m.n_units_fleiss, "n_units_alpha": m.n_units_alpha,
            "categories": res.categories, "ci": m.ci, "undefined_reasons": m.undefined_reasons, "pairs": pairs}


def level_report(aligned: Aligned, level: Level, codebook: Codebook | None, gold: str | None, bootstrap: int,
                 seed: int) -> tuple[LevelReport, np.ndarray]:
    """Agreement at one level, and the rolled-up presence it was computed on."""
    presence = roll_up(aligned.presence, level)
    result = agreement_table(presence, aligned.observed, code_ids=level.codes, coder_names=aligned.coders,
                             gold=gold, bootstrap=bootstrap, seed=seed, unit_weights=aligned.units.weights)
    metas = {code: _code_meta(codebook, code) for code in level.codes}
    if len(aligned.coders) == 2:
        key = next(iter(result.pairs))
        block = _pair_block(result, key, metas)
        codes, overall, pairs = block["codes"], block["overall"], None
    else:
        marked = _marked(aligned, presence)
        codes = {code: _multi_code(result, code, metas[code],
                                   {c: _count(marked[i, q]) for i, c in enumerate(aligned.coders)})
                 for q, code in enumerate(level.codes)}
        overall = _multi_overall(result)
        pairs = {key: _pair_block(result, key, metas) for key in result.pairs}
    nominal = _nominal(presence, aligned, level.codes, bootstrap, seed)
    if nominal is not None:
        overall["nominal"] = nominal
    return LevelReport(codes=codes, overall=overall, pairs=pairs), presence


def disagreements(aligned: Aligned, presence: np.ndarray, codes: list[str]) -> dict[str, Any]:
    """Per code, the units where the coders who saw them disagree, and which coder said what.

    In char mode adjacent runs with the same pattern are merged into one passage.
    """
    units = aligned.units
    obs = aligned.observed
    seen = obs.sum(axis=0)
    out: dict[str, list[dict]] = {}
    described: dict[str, dict] = {}
    for q, code in enumerate(codes):
        marks = presence[:, :, q] & obs
        n_marked = marks.sum(axis=0)
        rows = np.flatnonzero((seen >= 2) & (n_marked > 0) & (n_marked < seen))
        entries: list[dict] = []
        for u in rows.tolist():
            said = {c: (bool(marks[i, u]) if obs[i, u] else None) for i, c in enumerate(aligned.coders)}
            last = entries[-1] if entries else None
            if (units.kind == "char" and last is not None and last["coders"] == said
                    and last["_transcript"] == units.transcript[u] and last["_end"] == units.start[u]):
                last["_end"] = units.end[u]
                last["_runs"].append(u)
                continue
            entries.append({"_runs": [u], "_transcript": units.transcript[u], "_start": units.start[u],
                            "_end": units.end[u], "coders": said})
        listed = []
        for e in entries:
            first = e["_runs"][0]
            uid = f"{e['_transcript']}:{e['_start']}-{e['_end']}" if units.kind == "char" else units.ids[first]
            listed.append({"unit": uid, "coders": e["coders"]})
            if uid not in described:
                text = None if units.text[first] is None else "".join(units.text[r] for r in e["_runs"])
                described[uid] = {"transcript": e["_transcript"], "start": e["_start"], "end": e["_end"],
                                  "text": text, "question": units.context[first]}
        out[code] = listed
    return {"codes": out, "units": described}


def stability(aligned: Aligned, presence: np.ndarray, level: Level, run_coders: list[str], bootstrap: int,
              seed: int) -> dict[str, Any] | None:
    """Run-vs-run agreement of repeated machine runs (two or more), at one level."""
    idx = [aligned.coders.index(c) for c in run_coders if c in aligned.coders]
    if len(idx) < 2:
        return None
    result = agreement_table(presence[idx], aligned.observed[idx], code_ids=level.codes,
                             coder_names=[aligned.coders[i] for i in idx], bootstrap=bootstrap, seed=seed,
                             unit_weights=aligned.units.weights)
    keep = ("n_units", "kappa_macro", "kappa_micro", "po_micro", "ac1_micro", "alpha_micro", "ci",
            "undefined_reasons")
    block: dict[str, Any] = {
        "level": level.name, "runs": [aligned.coders[i] for i in idx],
        "pairs": {k: {f: getattr(p.overall, f) for f in keep} for k, p in result.pairs.items()},
        "codes": {code: {k: p.per_code[code].kappa for k, p in result.pairs.items()} for code in level.codes},
    }
    if result.multi is not None:
        block["overall"] = result.multi.overall.model_dump()
    return block


def build_report(aligned: Aligned, *, codebook: Codebook | None, levels: list[str], primary: str, gold: str | None,
                 bootstrap: int, seed: int, inputs: list[InputSummary], problems: list[Problem],
                 run_coders: list[str], groups: dict[str, Any] | None = None,
                 unit_extra: dict[str, Any] | None = None) -> EvalReport:
    """Compute every level and assemble the report (nothing is written here)."""
    by_level: dict[str, LevelReport] = {}
    primary_presence = None
    primary_level = None
    for name in levels:
        level = build_level(aligned.codes, codebook, name)
        by_level[name], presence = level_report(aligned, level, codebook, gold, bootstrap, seed)
        if name == primary:
            primary_presence, primary_level = presence, level
    assert primary_presence is not None and primary_level is not None
    main = by_level[primary]
    unit = {"kind": aligned.units.kind, "description": aligned.description, "n_units": aligned.units.size(),
            "missing": aligned.missing, **({"min_overlap": aligned.min_overlap} if aligned.min_overlap else {}),
            **(unit_extra or {})}
    return EvalReport(
        unit=unit, inputs=inputs, coders=aligned.coders, gold=gold,
        codebook=None if codebook is None else {"id": codebook.id, "name": codebook.name,
                                                "version": codebook.version, "hash": codebook.content_hash},
        level=primary, levels=levels,
        bootstrap={"replicates": bootstrap, "seed": seed, "confidence": 0.95,
                   "resampling": "runs of identically coded characters" if aligned.units.kind == "char" else "units"},
        codes=main.codes, overall=main.overall, pairs=main.pairs, by_level=by_level,
        disagreements={"level": primary, **disagreements(aligned, primary_presence, primary_level.codes)},
        stability=stability(aligned, primary_presence, primary_level, run_coders, bootstrap, seed),
        groups=groups, problems=problems,
    )
