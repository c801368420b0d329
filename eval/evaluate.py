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
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from eval.align import Aligned
from eval.inputs import InputSummary, Problem
from eval.metrics import (
    CI,
    AgreementResult,
    BinaryAgreement,
    MultiCoderOverall,
    MultiCoderResult,
    OverallAgreement,
    ac2_from_confusion,
    agreement_table,
    categorical_agreement,
    landis_koch,
    pair_key,
    weighted_kappa_from_confusion,
    weighted_multi_rater,
)
from eval.rollup import Level, build_level, roll_up
from pipeline.codebook import Codebook
from pipeline.errors import PrecodeError
from pipeline.models import utcnow


class _ReportModel(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="null")


class PairCode(BinaryAgreement):
    """A code's two-coder statistics as the report gives them: the metrics plus the code's place in the
    codebook. Serialized without the coder names (the pair key has them) and without P/R/F1 off gold pairs."""

    label: str
    path: str
    level: str | None
    kappa_statistic: Literal["cohen"] = "cohen"
    caveats: list[str] = Field(default_factory=list, description="what changes how kappa is read, shown beside it")

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in ("code_id", "coder_a", "coder_b"):
            data.pop(key, None)
        if self.precision is None:
            for key in ("precision", "recall", "f1"):
                data.pop(key, None)
        return data


class VsGold(_ReportModel):
    """One coder against the gold coder, over all codes."""

    kappa_macro: float
    kappa_micro: float
    precision_micro: float | None
    recall_micro: float | None
    f1_micro: float | None
    precision_macro: float | None
    recall_macro: float | None
    f1_macro: float | None
    ci: dict[str, CI]


class NominalSummary(_ReportModel):
    """Single-label schemes: the multi-category statistics over the categories of a level."""

    model_config = ConfigDict(ser_json_inf_nan="null", extra="allow")

    kappa_statistic: Literal["cohen", "fleiss"]
    kappa: float
    kappa_label: str
    alpha: float
    n_units: int
    categories: list[str]
    ci: dict[str, CI]
    undefined_reasons: dict[str, str]


class PairOverall(OverallAgreement):
    """A pair's overall statistics (statistics that do not apply, e.g. P/R/F1 off gold, are left out)."""

    nominal: NominalSummary | None = None

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None and k not in ("coder_a", "coder_b")}


class MultiCode(_ReportModel):
    """A code's all-coder statistics as the report gives them (three or more coders).

    ``kappa`` is Fleiss' kappa in the form the report uses (``kappa_form``): Gwet's generalised form
    over every unit rated by two or more coders (default), or the classical form over the units every
    coder rated (``complete``); ``ac1``, ``po`` and ``pe`` follow the same form. ``n`` gives the units
    behind each statistic.
    """

    label: str
    path: str
    level: str | None
    kappa_statistic: Literal["fleiss"] = "fleiss"
    kappa_form: Literal["generalised", "complete"]
    kappa: float
    kappa_label: str
    fleiss_kappa: float
    n_units: int | float
    n_units_alpha: int | float
    n: dict[str, int | float]
    counts: dict[str, int | float]
    po: float
    pe: float
    pabak: float
    ac1: float
    alpha: float
    prevalence: dict[str, float]
    prevalence_mean: float
    notes: dict[str, str]
    ci: dict[str, CI]
    undefined_reasons: dict[str, str]
    precision: dict[str, float | None] | None = None
    recall: dict[str, float | None] | None = None
    f1: dict[str, float | None] | None = None
    caveats: list[str] = Field(default_factory=list, description="what changes how kappa is read, shown beside it")

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.precision is None:
            for key in ("precision", "recall", "f1"):
                data.pop(key, None)
        return data


class MultiOverall(MultiCoderOverall):
    """All coders over all codes, with each coder against gold and the single-label statistics."""

    kappa_form: Literal["generalised", "complete"] = "generalised"
    vs_gold: dict[str, VsGold] | None = None
    nominal: NominalSummary | None = None

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in ("vs_gold", "nominal"):
            if data.get(key) is None:
                data.pop(key, None)
        return data

    def headline(self) -> tuple[float, float, str]:
        """(kappa macro, kappa micro, CI key of the macro) of Fleiss' kappa in the report's form."""
        if self.kappa_form == "generalised":
            return self.gen_fleiss_kappa_macro, self.gen_fleiss_kappa_micro, "gen_fleiss_kappa_macro"
        return self.fleiss_kappa_macro, self.fleiss_kappa_micro, "fleiss_kappa_macro"


CodeEntry = PairCode | MultiCode


class PairBlock(_ReportModel):
    """Everything for one pair of coders at one level."""

    coder_a: str
    coder_b: str
    gold: str | None
    predicted: str | None
    codes: dict[str, PairCode]
    overall: PairOverall


class OrdinalPair(_ReportModel):
    """Two coders on an ordinal single-label scheme: weighted kappa and AC2 over the units both rated."""

    weighted_kappa: float
    ac2: float
    n_units: int


class OrdinalAll(_ReportModel):
    """Three or more coders on an ordinal single-label scheme: weighted Fleiss' kappa and multi-rater AC2 over the
    units rated by two or more coders (Gwet 2014, generalised form)."""

    fleiss_kappa: float
    ac2: float
    pa: float
    n_units: int


class OrdinalSummary(_ReportModel):
    """`--ordinal`: the categories in their order, the weights, every pair's weighted figures and, with three or
    more coders, the all-coder ones."""

    categories: list[str]
    weights: Literal["linear", "quadratic"]
    pairs: dict[str, OrdinalPair]
    all_coders: OrdinalAll | None = None


class LevelReport(_ReportModel):
    """Agreement on the codes of one level of the codebook."""

    codes: dict[str, PairCode] | dict[str, MultiCode]
    overall: PairOverall | MultiOverall
    pairs: dict[str, PairBlock] | None = None
    ordinal: OrdinalSummary | None = None

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("ordinal") is None:
            data.pop("ordinal", None)
        return data


class StabilityPair(_ReportModel):
    n_units: int
    kappa_macro: float
    kappa_micro: float
    po_micro: float
    ac1_micro: float
    alpha_micro: float
    ci: dict[str, CI]
    undefined_reasons: dict[str, str]


class Stability(_ReportModel):
    """Run-vs-run agreement of repeated machine runs at one level."""

    level: str
    runs: list[str]
    pairs: dict[str, StabilityPair]
    codes: dict[str, dict[str, float]]
    overall: MultiCoderOverall | None = None

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("overall") is None:
            data.pop("overall", None)
        return data


class EvalReport(_ReportModel):
    """Everything `report.json` holds (see module docstring and docs/eval.md)."""

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
    codes: dict[str, PairCode] | dict[str, MultiCode]
    overall: PairOverall | MultiOverall
    pairs: dict[str, PairBlock] | None = None
    by_level: dict[str, LevelReport]
    disagreements: dict[str, Any]
    stability: Stability | None = None
    groups: dict[str, Any] | None = None
    problems: list[Problem]
    machine_coders: list[str] = Field(default_factory=list, description="coders that are coding runs or "
                                      "reviewed machine codes; the others are people")
    reference: str | None = Field(None, description="--reference: every other coder is compared with this coder "
                                  "only (`pairs` are REFERENCE|X)")
    ordinal: OrdinalSummary | None = Field(None, description="--ordinal: weighted kappa and AC2 at the main level")


class CodeMeta(_ReportModel):
    label: str
    path: str
    level: str | None


def _code_meta(codebook: Codebook | None, code: str) -> CodeMeta:
    if codebook is None or code not in codebook.by_id:
        return CodeMeta(label=code, path=code, level=None)
    c = codebook.by_id[code]
    return CodeMeta(label=c.label, path=codebook.path(code), level=c.level)


#: Fewer applications than this by a coder make a code's kappa and its interval unstable.
FEW_POSITIVES = 5


def _replicate_caveat(notes: dict[str, str], stat: str) -> list[str]:
    note = notes.get(f"ci.{stat}")
    if not note:
        return []
    return [f"CI: {note.split(' had ')[0]} dropped (undefined)" if " had " in note else f"CI: {note}"]


def _pair_caveats(e: BinaryAgreement) -> list[str]:
    out = _replicate_caveat(e.notes, "kappa")
    marked = {e.coder_a: e.counts.a + e.counts.b, e.coder_b: e.counts.a + e.counts.c}
    if e.n_units and min(marked.values()) < FEW_POSITIVES:
        out.append("few positives (" + ", ".join(f"{c}: {v}" for c, v in marked.items()) + f" of {e.n_units} units)")
    if "prevalence paradox" in e.notes.get("kappa", ""):
        out.append("prevalence paradox: high Po, low κ — read AC1 and PABAK")
    return out


def _pair_code(entry: BinaryAgreement, meta: CodeMeta) -> PairCode:
    return PairCode(**dict(entry), **dict(meta), caveats=_pair_caveats(entry))


def _pair_block(result: AgreementResult, key: str, metas: dict[str, CodeMeta]) -> PairBlock:
    pair = result.pairs[key]
    return PairBlock(
        coder_a=pair.coder_a, coder_b=pair.coder_b, gold=pair.gold, predicted=pair.predicted,
        codes={code: _pair_code(entry, metas[code]) for code, entry in pair.per_code.items()},
        overall=PairOverall(**dict(pair.overall)),
    )


def _marked(aligned: Aligned, presence: np.ndarray, all_seen: bool = True) -> np.ndarray:
    """(n_coders, n_codes): units (characters in char mode) each coder marked among those all coders saw
    (or, with `all_seen` False, among all it saw)."""
    w = aligned.units.weights if aligned.units.weights is not None else np.ones(presence.shape[1])
    if all_seen:
        w = w * aligned.observed.all(axis=0)
    return np.asarray(np.einsum("iuk,u->ik", presence.astype(np.float64), w))


def _count(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _multi_code(result: AgreementResult, multi: MultiCoderResult, code: str, meta: CodeMeta,
                marked: dict[str, int | float], form: str, marked_seen: dict[str, int | float]) -> MultiCode:
    m = multi.per_code[code]
    reasons = dict(m.undefined_reasons)
    ci = dict(m.ci)
    gen = form == "generalised"
    src = "gen_fleiss_kappa" if gen else "fleiss_kappa"
    if src in reasons:
        reasons["kappa"] = reasons[src]
    if src in ci:
        ci["kappa"] = ci[src]
    kappa = m.gen_fleiss_kappa if gen else m.fleiss_kappa
    n_kappa = m.n_units_alpha if gen else m.n_units_fleiss
    if gen:  # the multi-rater Po, Pe, PABAK and AC1 follow the generalised form too
        for name, source in (("po", "gen_po"), ("pe", "gen_pe"), ("pabak", "gen_po"), ("ac1", "gen_ac1")):
            if source in reasons:
                reasons[name] = reasons[source]
            else:
                reasons.pop(name, None)
        for name in ("ac1", "po"):
            if f"gen_{name}" in ci:
                ci[name] = ci[f"gen_{name}"]
            else:
                ci.pop(name, None)
        po_ci = ci.get("po")
        if "po" in ci:
            ci["pabak"] = None if po_ci is None else (2.0 * po_ci[0] - 1.0, 2.0 * po_ci[1] - 1.0)
    stats: dict[str, Any] = dict(po=m.gen_po if gen else m.po, pe=m.gen_pe if gen else m.pe,
                                 ac1=m.gen_ac1 if gen else m.ac1)
    stats["pabak"] = 2.0 * stats["po"] - 1.0
    prf: dict[str, Any] = {}
    if result.gold is not None:
        for stat in ("precision", "recall", "f1"):
            prf[stat] = {p.predicted: getattr(p.per_code[code], stat) for p in result.pairs.values()
                         if p.gold and p.predicted}
    caveats = _replicate_caveat(m.notes, src)
    shown = marked_seen if gen else marked
    if any(v < FEW_POSITIVES for v in shown.values()) and n_kappa:
        caveats.append("few positives (" + ", ".join(f"{c}: {v}" for c, v in shown.items()) + ")")
    if not gen and m.n_units_fleiss < m.n_units_alpha:
        caveats.append(f"complete units only: {_count(m.n_units_fleiss)} of the {_count(m.n_units_alpha)} units "
                       "rated by two or more coders")
    if stats["po"] >= 0.85 and kappa <= 0.40 and (m.prevalence_mean <= 0.15 or m.prevalence_mean >= 0.85):
        caveats.append("prevalence paradox: high Po, low κ — read AC1 and PABAK")
    return MultiCode(
        caveats=caveats, **dict(meta), kappa_form="generalised" if gen else "complete", kappa=kappa, kappa_label=landis_koch(kappa),
        fleiss_kappa=kappa, n_units=n_kappa, n_units_alpha=m.n_units_alpha,
        n={"kappa": n_kappa, "po": n_kappa, "ac1": n_kappa, "alpha": m.n_units_alpha}, counts=marked,
        alpha=m.alpha, prevalence=m.prevalence, prevalence_mean=m.prevalence_mean, notes=m.notes, ci=ci,
        undefined_reasons=reasons, **stats, **prf,
    )


def _multi_overall(result: AgreementResult, multi: MultiCoderResult, form: str) -> MultiOverall:
    vs_gold = None
    if result.gold is not None:
        vs_gold = {
            p.predicted: VsGold(**{k: getattr(p.overall, k) for k in VsGold.model_fields if k != "ci"},
                                ci=p.overall.ci)
            for p in result.pairs.values() if p.gold and p.predicted
        }
    return MultiOverall(**dict(multi.overall), kappa_form="generalised" if form == "generalised" else "complete",
                        vs_gold=vs_gold)


def single_label_labels(presence: np.ndarray, observed: np.ndarray) -> np.ndarray | None:
    """Category index per coder and unit (-1 = not seen) if every coder gave every seen unit exactly one code."""
    per_unit = presence.sum(axis=2)
    if presence.shape[2] < 2 or not observed.any() or np.any(per_unit[observed] != 1):
        return None
    return np.where(observed, presence.argmax(axis=2), -1)


def _nominal(presence: np.ndarray, aligned: Aligned, codes: list[str], bootstrap: int,
             seed: int, kappa_form: str = "generalised", clusters: list[str] | None = None) -> NominalSummary | None:
    """Multi-category kappa and alpha for single-label schemes (not in char mode, whose units are weighted)."""
    if aligned.units.weights is not None:
        return None
    labels = single_label_labels(presence, aligned.observed)
    if labels is None:
        return None
    res = categorical_agreement(labels, aligned.observed, categories=codes, coder_names=aligned.coders,
                                bootstrap=bootstrap, seed=seed, clusters=clusters)
    pairs = {k: v.model_dump(exclude={"coder_a", "coder_b"}) for k, v in res.pairs.items()}
    if res.multi is None:
        return NominalSummary(kappa_statistic="cohen", **next(iter(pairs.values())))
    m = res.multi
    gen = kappa_form == "generalised"
    kappa = m.gen_fleiss_kappa if gen else m.fleiss_kappa
    ci = dict(m.ci)
    reasons = dict(m.undefined_reasons)
    src = "gen_fleiss_kappa" if gen else "fleiss_kappa"
    if src in ci:
        ci["kappa"] = ci[src]
    if src in reasons:
        reasons["kappa"] = reasons[src]
    return NominalSummary(kappa_statistic="fleiss", kappa_form="generalised" if gen else "complete", kappa=kappa,
                          kappa_label=landis_koch(kappa), fleiss_kappa_complete=m.fleiss_kappa, ac1=m.gen_ac1,
                          alpha=m.alpha, n_units=m.n_units_alpha if gen else m.n_units_fleiss,
                          n_units_alpha=m.n_units_alpha, n_units_complete=m.n_units_fleiss,
                          categories=res.categories, ci=ci, undefined_reasons=reasons, pairs=pairs)


def clusters_of(aligned: Aligned, resampling: str) -> list[str] | None:
    """The bootstrap clusters: each unit's transcript under the cluster bootstrap, else None (units)."""
    if resampling != "cluster" or not aligned.units.transcript or any(t is None for t in aligned.units.transcript):
        return None
    return [str(t) for t in aligned.units.transcript]


def level_report(aligned: Aligned, level: Level, codebook: Codebook | None, gold: str | None, bootstrap: int,
                 seed: int, kappa_form: str = "generalised",
                 resampling: str = "cluster") -> tuple[LevelReport, np.ndarray]:
    """Agreement at one level, and the rolled-up presence it was computed on."""
    presence = roll_up(aligned.presence, level)
    clusters = clusters_of(aligned, resampling)
    result = agreement_table(presence, aligned.observed, code_ids=level.codes, coder_names=aligned.coders,
                             gold=gold, bootstrap=bootstrap, seed=seed, unit_weights=aligned.units.weights,
                             clusters=clusters)
    metas = {code: _code_meta(codebook, code) for code in level.codes}
    nominal = _nominal(presence, aligned, level.codes, bootstrap, seed, kappa_form, clusters)
    if result.multi is None:
        block = _pair_block(result, next(iter(result.pairs)), metas)
        block.overall.nominal = nominal
        return LevelReport(codes=block.codes, overall=block.overall), presence
    marked = _marked(aligned, presence)
    seen = _marked(aligned, presence, all_seen=False)
    codes = {code: _multi_code(result, result.multi, code, metas[code],
                               {c: _count(marked[i, q]) for i, c in enumerate(aligned.coders)}, kappa_form,
                               {c: _count(seen[i, q]) for i, c in enumerate(aligned.coders)})
             for q, code in enumerate(level.codes)}
    overall = _multi_overall(result, result.multi, kappa_form)
    overall.nominal = nominal
    pairs = {key: _pair_block(result, key, metas) for key in result.pairs}
    return LevelReport(codes=codes, overall=overall, pairs=pairs), presence


def disagreement_between(said: dict[str, bool | None], machines: set[str]) -> str:
    """Who disagrees on a unit: 'humans' when the people who saw it disagree among themselves (whatever the
    machine said), 'machine-human' when the people agree (or one person saw it) and a machine differs,
    'machines' when only machines disagree."""
    human = {v for c, v in said.items() if v is not None and c not in machines}
    if len(human) == 2:
        return "humans"
    machine = {v for c, v in said.items() if v is not None and c in machines}
    if human and machine - human:
        return "machine-human"
    return "machines"


def disagreements(aligned: Aligned, presence: np.ndarray, codes: list[str], machines: list[str] | None = None,
                  reference: str | None = None) -> dict[str, Any]:
    """Per code, the units where the coders who saw them disagree, which coder said what, and between whom
    (`between`: see `disagreement_between`). With a reference coder, only the units where some coder differs
    from the reference.

    In char mode adjacent runs with the same pattern are merged into one passage.
    """
    units = aligned.units
    obs = aligned.observed
    seen = obs.sum(axis=0)
    machine_set = set(machines or [])
    ref = aligned.coders.index(reference) if reference is not None else None
    out: dict[str, list[dict[str, Any]]] = {}
    described: dict[str, dict[str, Any]] = {}
    for q, code in enumerate(codes):
        marks = presence[:, :, q] & obs
        n_marked = marks.sum(axis=0)
        disagree = (seen >= 2) & (n_marked > 0) & (n_marked < seen)
        if ref is not None:  # the reference saw the unit and another coder who saw it said otherwise
            differs = obs & (presence[:, :, q] != presence[ref, :, q][None, :])
            disagree &= obs[ref] & differs.any(axis=0)
        rows = np.flatnonzero(disagree)
        entries: list[dict[str, Any]] = []
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
            listed.append({"unit": uid, "coders": e["coders"], "between": disagreement_between(e["coders"], machine_set)})
            if uid not in described:
                text = None if units.text[first] is None else "".join(units.text[r] for r in e["_runs"])
                described[uid] = {"transcript": e["_transcript"], "start": e["_start"], "end": e["_end"],
                                  "text": text, "question": units.context[first]}
        out[code] = listed
    return {"codes": out, "units": described}


def stability(aligned: Aligned, presence: np.ndarray, level: Level, run_coders: list[str], bootstrap: int,
              seed: int, resampling: str = "cluster") -> Stability | None:
    """Run-vs-run agreement of repeated machine runs (two or more), at one level."""
    idx = [aligned.coders.index(c) for c in run_coders if c in aligned.coders]
    if len(idx) < 2:
        return None
    result = agreement_table(presence[idx], aligned.observed[idx], code_ids=level.codes,
                             coder_names=[aligned.coders[i] for i in idx], bootstrap=bootstrap, seed=seed,
                             unit_weights=aligned.units.weights, clusters=clusters_of(aligned, resampling))
    return Stability(
        level=level.name, runs=[aligned.coders[i] for i in idx],
        pairs={k: StabilityPair(**{f: getattr(p.overall, f) for f in StabilityPair.model_fields})
               for k, p in result.pairs.items()},
        codes={code: {k: p.per_code[code].kappa for k, p in result.pairs.items()} for code in level.codes},
        overall=None if result.multi is None else result.multi.overall,
    )


def ordinal_summary(aligned: Aligned, presence: np.ndarray, codes: list[str], categories: list[str],
                    weights: Literal["linear", "quadratic"], reference: str | None = None) -> OrdinalSummary:
    """`--ordinal`: each pair's weighted kappa (Cohen 1968) and AC2 (Gwet 2014) over the units both rated, the
    categories in the order given. The scheme must be single-label at this level (one category per unit)."""
    labels = single_label_labels(presence, aligned.observed)
    if labels is None:
        raise PrecodeError("--ordinal needs a single-label scheme: every coder gives every unit it rated exactly one "
                           "code (e.g. an intensity rating low, medium, high)",
                           hint="drop --ordinal, or choose the --level at which the codes are single-label")
    used = sorted({codes[k] for k in np.unique(labels[labels >= 0]).tolist()})
    missing = [c for c in used if c not in categories]
    if missing:
        raise PrecodeError(f"--ordinal: code(s) {', '.join(repr(c) for c in missing)} are used but not in the order "
                           f"given ({', '.join(categories)})", hint="list every category, lowest first")
    position = np.array([categories.index(c) if c in categories else -1 for c in codes])
    q = len(categories)
    pairs: dict[str, OrdinalPair] = {}
    for i in range(len(aligned.coders)):
        for j in range(i + 1, len(aligned.coders)):
            if reference is not None and reference not in (aligned.coders[i], aligned.coders[j]):
                continue
            both = aligned.observed[i] & aligned.observed[j]
            confusion = np.zeros((q, q), dtype=np.int64)
            np.add.at(confusion, (position[labels[i, both]], position[labels[j, both]]), 1)
            pairs[pair_key(aligned.coders[i], aligned.coders[j])] = OrdinalPair(
                weighted_kappa=weighted_kappa_from_confusion(confusion, weights),
                ac2=ac2_from_confusion(confusion, weights), n_units=int(both.sum()))
    all_coders = None
    if len(aligned.coders) >= 3 and reference is None:
        ranks = np.where(aligned.observed, position[np.maximum(labels, 0)], -1)
        w = weighted_multi_rater(ranks, aligned.observed, n_categories=q, weights=weights)
        all_coders = OrdinalAll(fleiss_kappa=w["fleiss_kappa"], ac2=w["ac2"], pa=w["pa"], n_units=int(w["n_units"]))
    return OrdinalSummary(categories=categories, weights=weights, pairs=pairs, all_coders=all_coders)


def _bootstrap_block(aligned: Aligned, bootstrap: int, seed: int, resampling: str) -> dict[str, Any]:
    """How the intervals were computed; for transcript-based units also whether whole transcripts were
    resampled (`cluster`: "transcript", the default) or single units (`cluster`: null, `--resample unit`)."""
    block: dict[str, Any] = {
        "replicates": bootstrap, "seed": seed, "confidence": 0.95,
        "resampling": "runs of identically coded characters" if aligned.units.kind == "char" else "units"}
    if aligned.units.kind != "unit":
        clusters = clusters_of(aligned, resampling)
        block["cluster"] = "transcript" if clusters is not None else None
        block["n_clusters"] = len(set(clusters)) if clusters is not None else None
        block["n_transcripts"] = len({t for t in aligned.units.transcript if t})
    return block


def build_report(aligned: Aligned, *, codebook: Codebook | None, levels: list[str], primary: str, gold: str | None,
                 bootstrap: int, seed: int, inputs: list[InputSummary], problems: list[Problem],
                 run_coders: list[str], groups: dict[str, Any] | None = None,
                 unit_extra: dict[str, Any] | None = None, kappa_form: str = "generalised",
                 resampling: str = "cluster", reference: str | None = None, ordinal: list[str] | None = None,
                 ordinal_weights: Literal["linear", "quadratic"] = "quadratic") -> EvalReport:
    """Compute every level and assemble the report (nothing is written here).

    With a `reference` coder (put first among the coders, so pair keys read REFERENCE|X) only the pairs
    with the reference are kept, and the disagreements are those with the reference."""
    by_level: dict[str, LevelReport] = {}
    primary_presence = None
    primary_level = None
    for name in levels:
        level = build_level(aligned.codes, codebook, name)
        by_level[name], presence = level_report(aligned, level, codebook, gold, bootstrap, seed, kappa_form, resampling)
        if reference is not None and by_level[name].pairs is not None:
            by_level[name].pairs = {k: v for k, v in (by_level[name].pairs or {}).items()
                                    if reference in (v.coder_a, v.coder_b)}
        if name == primary:
            primary_presence, primary_level = presence, level
    assert primary_presence is not None and primary_level is not None
    main = by_level[primary]
    machines = [c for c in aligned.coders if c in run_coders or c.startswith("reviewed")]
    if ordinal:
        main.ordinal = ordinal_summary(aligned, primary_presence, primary_level.codes, ordinal, ordinal_weights,
                                       reference)
    unit = {"kind": aligned.units.kind, "description": aligned.description, "n_units": aligned.units.size(),
            "missing": aligned.missing, **({"min_overlap": aligned.min_overlap} if aligned.min_overlap else {}),
            **(unit_extra or {})}
    return EvalReport(
        unit=unit, inputs=inputs, coders=aligned.coders, gold=gold,
        codebook=None if codebook is None else {"id": codebook.id, "name": codebook.name,
                                                "version": codebook.version, "hash": codebook.content_hash},
        level=primary, levels=levels,
        bootstrap=_bootstrap_block(aligned, bootstrap, seed, resampling),
        codes=main.codes, overall=main.overall, pairs=main.pairs, by_level=by_level,
        disagreements={"level": primary, **disagreements(aligned, primary_presence, primary_level.codes, machines,
                                                          reference)},
        stability=stability(aligned, primary_presence, primary_level, run_coders, bootstrap, seed, resampling),
        machine_coders=machines, groups=groups, problems=problems, reference=reference, ordinal=main.ordinal,
    )
