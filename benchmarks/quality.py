"""Coding quality, not speed: how well each coder agrees with human coders, measured with eval's metrics.

Two datasets of real or realistic human codes:

1. **coded-chat** (`../shared/fixtures/coded-chat`, 897+ book-club discussion messages coded by
   trained coders; `Discussion` scheme, one code per message). The codebook is built from the
   dataset's own `codebook.xlsx` (each term's definition and examples). A *learning curve*: for
   k = 0, 5, 10, 20, 50 human examples per code (at most half of a code's messages), drawn at
   random `--repeats` times, the learned coder (`pipeline.learn`, single-label mode, the previous
   message as context) is trained on the drawn messages and scored on all the others; the
   similarity coder's rules are scored on the same held-out messages: the cosine rule with the
   old defaults (threshold 0.40, margin 0.10, top_k 3), the nearest code (top-1), and the default
   rule calibrated on the codebook's own texts (`pipeline.coders.similarity.calibrate`) at top_k 3
   and at top_k 1 (`--single`); with the share of messages each leaves without a code, and how
   well the calibrated probability of the chosen code matches how often it is right (ECE). Macro kappa = mean over codes of Cohen's kappa of code
   presence (`eval.metrics.agreement_table`, as `precode eval` reports it); mean and standard
   deviation over the repeats. Calibration: the learned coder's probabilities at k = 20 against
   how often the code was right, in 10 bins (ECE), and the accuracy of its most confident half.
2. **The bundled sample's gold** (`data/sample/gold/gold.csv`, codes written for the project by its
   developers, not by real coders; NASSS leaf level): a project with the nine sample transcripts;
   for each way of splitting the four gold transcripts 2 + 2, the learned coder is trained on
   coder_A's codes of two (`--from-coder`) and both coders code the other two through the real
   pipeline (`run_coder`); pooled over the two directions of a pairing every segment is scored once.
   The similarity coder runs with its default (calibrated) rule and with the cosine rule at the old
   defaults. Segment-level agreement with coder_A (eval's overlap rule), with 95% bootstrap CIs.

Messages are embedded once with the project's embedder and cached under the precode cache folder.

Run:  .venv/bin/python benchmarks/quality.py [--repeats 10] [--bootstrap 1000] [--plots docs/benchmarks]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.embed import cache_dir, go_offline, make_embedder  # noqa: E402

go_offline()

from eval.metrics import agreement_table, categorical_agreement, pair_key  # noqa: E402
from pipeline.codebook import Codebook, load_codebook  # noqa: E402
from pipeline.coders.similarity import Calibration, calibrate, description_texts, softmax, top_k_rule  # noqa: E402
from pipeline.learn.model import LearnOptions, features, fit  # noqa: E402
from pipeline.learn.prior import build_prior  # noqa: E402
from pipeline.models import Code  # noqa: E402
from pipeline.settings import EmbeddingSettings, SimilaritySettings  # noqa: E402

CHAT = ROOT.parent / "shared" / "fixtures" / "coded-chat"
KS = (0, 5, 10, 20, 50)


# -- coded-chat --------------------------------------------------------------------------------------
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def chat_codebook(scheme: str = "Discussion") -> Codebook:
    """The dataset's codebook.xlsx terms of one scheme as a precode codebook (definition + examples)."""
    from openpyxl import load_workbook

    sheet = load_workbook(CHAT / "codebook.xlsx", read_only=True).worksheets[0]
    codes = []
    for term, definition, example in list(sheet.iter_rows(values_only=True))[1:]:
        if not term or not str(term).startswith(f"{scheme}:"):
            continue
        label = str(term).split(":", 1)[1].strip()
        examples = [e.strip(" \n\u201c\u201d\"") for e in re.split(r"\n\s*\n|\u201d\s*\u201c", str(example or ""))]
        codes.append(Code(id=_slug(label), label=label, definition=" ".join(str(definition or "").split()),
                          include=[], exclude=[], examples=[" ".join(e.split()) for e in examples if len(e) > 3]))
    return Codebook(id=f"coded-chat-{scheme.lower()}", name=f"coded-chat {scheme}", version="1", levels=[], codes=codes)


def chat_messages(scheme: str = "Discussion") -> tuple[list[str], list[str], list[str]]:
    """(messages, code label of each, conversation key of each) for the messages coded in `scheme`."""
    with (CHAT / "cleaned_data.csv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get(scheme, "").strip()]
    keys = [f"{r['course']}|{r['book_id']}|{r['bookclub']}|{r['chat_crew']}" for r in rows]
    return [r["message"] for r in rows], [r[scheme].strip() for r in rows], keys


def cached_embed(texts: list[str], settings: EmbeddingSettings) -> np.ndarray:
    embedder = make_embedder(settings)
    key = hashlib.sha256(json.dumps([embedder.name, texts]).encode()).hexdigest()[:16]
    path = cache_dir() / f"quality-{key}.npy"
    if path.is_file():
        return np.asarray(np.load(path))
    vectors = embedder.embed(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def previous_in_conversation(x: np.ndarray, keys: list[str]) -> np.ndarray:
    """Each message's preceding message in the same conversation (zero for the first)."""
    prev = np.zeros_like(x)
    for i in range(1, len(x)):
        if keys[i] == keys[i - 1]:
            prev[i] = x[i - 1]
    return prev


def macro_kappa(truth: np.ndarray, predicted: np.ndarray, codes: list[str], bootstrap: int = 0) -> Any:
    result = agreement_table(np.stack([truth, predicted]).astype(float), code_ids=codes,
                             coder_names=["human", "machine"], gold="human", bootstrap=bootstrap)
    return result.pairs[pair_key("human", "machine")].overall


def similarity_rule(scores: np.ndarray, settings: SimilaritySettings, top1: bool = False) -> np.ndarray:
    """The similarity coder's decision on one-unit segments: threshold and margin, at most top_k (or the best code)."""
    out = np.zeros(scores.shape, dtype=bool)
    if top1:
        out[np.arange(len(scores)), scores.argmax(axis=1)] = True
        return out
    margins = scores - scores.mean(axis=1, keepdims=True)
    ok = (scores >= settings.threshold) & (margins >= settings.margin)
    masked = np.where(ok, scores, -np.inf)
    for i, row in enumerate(masked):
        for j in np.argsort(-row)[:settings.top_k]:
            if np.isfinite(row[j]):
                out[i, j] = True
    return out


def code_text_vectors(codebook: Codebook, settings: EmbeddingSettings) -> list[np.ndarray]:
    """Per code, its description texts' vectors (the texts the similarity coder's code vector is the mean of)."""
    embedder = make_embedder(settings)
    return [np.asarray(embedder.embed(texts), dtype=np.float64) for texts in description_texts(codebook, codebook.codes)]


def code_matrix(text_vectors: list[np.ndarray]) -> np.ndarray:
    """One vector per code as the similarity coder builds it (normalized mean of its description texts)."""
    rows = np.stack([v.mean(axis=0) for v in text_vectors])
    return np.asarray(rows / np.linalg.norm(rows, axis=1, keepdims=True))


def calibrated_rule(scores: np.ndarray, calibration: Calibration, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """The similarity coder's calibrated rule on one-unit segments: (applied, probabilities)."""
    p = softmax(scores, calibration.temperature)
    return top_k_rule(p, calibration.p_min, top_k), p


def chat_benchmark(repeats: int, ks: tuple[int, ...], seed: int = 0, options: LearnOptions | None = None) -> dict[str, Any]:
    settings = EmbeddingSettings()
    codebook = chat_codebook()
    code_ids = [c.id for c in codebook.codes]
    messages, labels, keys = chat_messages()
    by_label = {c.label: c.id for c in codebook.codes}
    y = np.array([code_ids.index(by_label[label]) for label in labels])
    truth = np.eye(len(code_ids))[y]
    start = time.perf_counter()
    x = cached_embed(messages, settings)
    embed_s = time.perf_counter() - start
    prior = build_prior(codebook, codebook.codes, make_embedder(settings))
    options = options or LearnOptions(single=True)
    feats = features(x, previous_in_conversation(x, keys), options)
    text_vectors = code_text_vectors(codebook, settings)
    scores = x @ code_matrix(text_vectors).T
    sim = SimilaritySettings(rule="cosine")
    calibrations = {k: calibrate(text_vectors, k) for k in (sim.top_k, 1)}
    sim_p: list[np.ndarray] = []
    sim_ok: list[np.ndarray] = []

    curve: dict[int, dict[str, list[float]]] = {}
    calib_p: list[np.ndarray] = []
    calib_t: list[np.ndarray] = []
    top_p: list[np.ndarray] = []
    top_ok: list[np.ndarray] = []
    fit_seconds: list[float] = []
    for k in ks:
        stats: dict[str, list[float]] = {"learned": [], "learned_nominal": [], "learned_no_blend": [],
                                         "similarity_default": [],
                                         "similarity_top1": [], "similarity_default_none": [],
                                         "similarity_calibrated": [], "similarity_calibrated_none": [],
                                         "similarity_calibrated_single": [], "similarity_calibrated_single_none": []}
        for rep in range(repeats):
            rng = np.random.default_rng(seed + 1000 * k + rep)
            train: list[int] = []
            for j in range(len(code_ids)):
                members = np.flatnonzero(y == j)
                rng.shuffle(members)
                train += members[:min(k, len(members) // 2)].tolist()
            train_idx = np.array(sorted(train), dtype=int)
            test = np.setdiff1d(np.arange(len(y)), train_idx)
            t0 = time.perf_counter()
            model = fit(feats[train_idx], truth[train_idx], code_ids, prior, options)
            fit_seconds.append(time.perf_counter() - t0)
            applied, proba = model.predict(feats[test])
            stats["learned"].append(macro_kappa(truth[test], applied, code_ids).kappa_macro)
            chosen = applied.argmax(axis=1)
            nominal = categorical_agreement(np.stack([y[test], chosen]), categories=code_ids)
            stats["learned_nominal"].append(next(iter(nominal.pairs.values())).kappa)
            plain = fit(feats[train_idx], truth[train_idx], code_ids, prior, replace(options, prior_strength=0))
            stats["learned_no_blend"].append(macro_kappa(truth[test], plain.predict(feats[test])[0], code_ids).kappa_macro)
            default = similarity_rule(scores[test], sim)
            stats["similarity_default"].append(macro_kappa(truth[test], default, code_ids).kappa_macro)
            stats["similarity_default_none"].append(float((default.sum(axis=1) == 0).mean()))
            stats["similarity_top1"].append(macro_kappa(truth[test], similarity_rule(scores[test], sim, True),
                                                        code_ids).kappa_macro)
            for name, top_k in (("similarity_calibrated", sim.top_k), ("similarity_calibrated_single", 1)):
                calibration = calibrations[top_k]
                if calibration is None:
                    continue
                rule, p_sim = calibrated_rule(scores[test], calibration, top_k)
                stats[name].append(macro_kappa(truth[test], rule, code_ids).kappa_macro)
                stats[f"{name}_none"].append(float((rule.sum(axis=1) == 0).mean()))
                if top_k == 1 and rep == 0 and k == ks[0]:  # the chosen code's probability vs right or not
                    sim_p.append(p_sim.max(axis=1))
                    sim_ok.append(p_sim.argmax(axis=1) == y[test])
            if k == 20:
                calib_p.append(proba.ravel())
                calib_t.append(truth[test].ravel())
                top_p.append(proba[np.arange(len(test)), chosen])
                top_ok.append(chosen == y[test])
        curve[k] = stats
    if not calib_p:  # calibration is measured at k = 20
        calib_p, calib_t, top_p, top_ok = [np.zeros(1)], [np.zeros(1)], [np.zeros(1)], [np.zeros(1, dtype=bool)]
    p, t = np.concatenate(calib_p), np.concatenate(calib_t)
    tp, tok = np.concatenate(top_p), np.concatenate(top_ok)
    confident = tp >= np.median(tp)
    sp = np.concatenate(sim_p) if sim_p else np.zeros(1)
    sok = (np.concatenate(sim_ok) if sim_ok else np.zeros(1, dtype=bool)).astype(float)
    return {
        "messages": len(messages), "codes": code_ids, "counts": {c: int((y == j).sum()) for j, c in enumerate(code_ids)},
        "embed_seconds": round(embed_s, 1), "fit_seconds_median": round(float(np.median(fit_seconds)), 2),
        "curve": {k: {name: {"mean": float(np.nanmean(v)) if v else float("nan"),
                             "sd": float(np.nanstd(v)) if v else float("nan"), "n": len(v)}
                      for name, v in stats.items()} for k, stats in curve.items()},
        "similarity_calibration": {k: (c.as_params() if c else None) for k, c in calibrations.items()},
        "similarity_probability": {"ece": ece(sp, sok), "mean_p": float(sp.mean()), "accuracy": float(sok.mean()),
                                   "bins": reliability(sp, sok)},
        "calibration": {"bins": reliability(p, t), "ece": ece(p, t),
                        "top_bins": reliability(tp, tok.astype(float)), "top_ece": ece(tp, tok.astype(float)),
                        "accuracy_all": float(tok.mean()), "accuracy_confident_half": float(tok[confident].mean())},
    }


def reliability(p: np.ndarray, truth: np.ndarray, n_bins: int = 10) -> list[dict[str, float]]:
    bins = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    return [{"lo": b / n_bins, "mean_p": float(p[bins == b].mean()), "observed": float(truth[bins == b].mean()),
             "n": int((bins == b).sum())} for b in range(n_bins) if (bins == b).any()]


def ece(p: np.ndarray, truth: np.ndarray, n_bins: int = 10) -> float:
    return float(sum(abs(b["mean_p"] - b["observed"]) * b["n"] for b in reliability(p, truth, n_bins)) / len(p))


# -- the bundled sample's gold --------------------------------------------------------------------------
GOLD_TRANSCRIPTS = ("int03_radiologist", "int06_product_manager", "int07_pharmacist", "int09_informatics_lead")


def sample_benchmark(bootstrap: int, options: LearnOptions | None = None) -> dict[str, Any]:
    from eval.inputs import read_span_file
    from pipeline.coders import make_coder
    from pipeline.coding import run_coder
    from pipeline.ingest import ingest_paths
    from pipeline.learn.examples import examples_at_level, human_codes
    from pipeline.models import utcnow
    from pipeline.project import init_project
    from pipeline.store.annotations import Annotation, upsert_annotation

    codebook = load_codebook("nasss")
    codes = codebook.at_level("leaf")
    code_ids = [c.id for c in codes]
    results: dict[str, Any] = {"pairings": []}
    sim_scores: list[tuple[float, float]] = []  # (the calibrated similarity score, did coder_A apply the code)
    with tempfile.TemporaryDirectory() as tmp:
        project, _ = init_project(Path(tmp) / "sample")
        ingest_paths(project, [ROOT / "data" / "sample"])
        transcripts = {t.name: t for t in project.db.current_transcripts()}
        spans = read_span_file(ROOT / "data" / "sample" / "gold" / "gold.csv", transcripts)
        names = {t.id: name for name, t in transcripts.items()}
        with project.db.transaction() as conn:  # coder_A's codes, one annotation coder per transcript
            for i, c in enumerate(spans.codings):
                if c.coder == "coder_A" and c.code:
                    upsert_annotation(conn, Annotation(f"gold{i}", f"coder_A@{names[c.transcript_id]}", "csv:gold.csv",
                                                       c.transcript_id, c.start, c.end, c.code, None, None, utcnow()))
        first = GOLD_TRANSCRIPTS[0]
        for partner in GOLD_TRANSCRIPTS[1:]:
            a = [first, partner]
            b = [t for t in GOLD_TRANSCRIPTS if t not in a]
            truth_rows: list[np.ndarray] = []
            learned_rows: list[np.ndarray] = []
            plain_rows: list[np.ndarray] = []
            sim_rows: list[np.ndarray] = []
            cosine_rows: list[np.ndarray] = []
            for train, test in ((a, b), (b, a)):
                learned = make_coder("learned", project, from_coder=[f"coder_A@{t}" for t in train],
                                     codebook=codebook, level="leaf", reviews=False, learn_options=options)
                learned_run = run_coder(project, learned, codebook, "leaf", test)
                plain = make_coder("learned", project, from_coder=[f"coder_A@{t}" for t in train], codebook=codebook,
                                   level="leaf", reviews=False,
                                   learn_options=replace(options or LearnOptions(), prior_strength=0))
                plain_run = run_coder(project, plain, codebook, "leaf", test)
                sim_run = run_coder(project, make_coder("similarity", project, codebook=codebook, level="leaf"),
                                    codebook, "leaf", test)
                cosine = make_coder("similarity", project, threshold=project.settings.similarity.threshold)
                cosine_run = run_coder(project, cosine, codebook, "leaf", test)
                results["similarity_params"] = sim_run.params
                gold = examples_at_level(human_codes(project, [f"coder_A@{t}" for t in test], reviews=False),
                                         codebook, codes)
                index = {s.id: i for i, s in enumerate(gold.segments)}
                for run, rows in ((learned_run, learned_rows), (sim_run, sim_rows), (cosine_run, cosine_rows),
                                  (plain_run, plain_rows)):
                    presence = np.zeros((len(index), len(code_ids)))
                    for s in project.db.suggestions(run.id):
                        if s.segment_id in index:
                            presence[index[s.segment_id], code_ids.index(s.code_id)] = 1
                            if run is sim_run and partner == GOLD_TRANSCRIPTS[1]:  # each segment once
                                sim_scores.append((s.score or 0.0, float(gold.labels[index[s.segment_id],
                                                                                     code_ids.index(s.code_id)] == 1)))
                    rows.append(presence)
                truth_rows.append(gold.labels)
            truth = np.vstack(truth_rows)
            entry: dict[str, Any] = {"train_first": a, "units": len(truth),
                                     "difference": paired_difference(truth, np.vstack(learned_rows), np.vstack(sim_rows),
                                                                     code_ids, bootstrap)}
            entry["calibrated_minus_cosine"] = paired_difference(truth, np.vstack(sim_rows), np.vstack(cosine_rows),
                                                                 code_ids, bootstrap)
            entry["no_blend_minus_similarity"] = paired_difference(truth, np.vstack(plain_rows), np.vstack(sim_rows),
                                                                   code_ids, bootstrap)
            for name, rows in (("learned", learned_rows), ("similarity", sim_rows), ("similarity_cosine", cosine_rows),
                               ("learned_no_blend", plain_rows)):
                overall = macro_kappa(truth, np.vstack(rows), code_ids, bootstrap)
                entry[name] = {"kappa_macro": overall.kappa_macro, "ci": _ci(overall, "kappa_macro"),
                               "kappa_micro": overall.kappa_micro, "ci_micro": _ci(overall, "kappa_micro"),
                               "f1_micro": overall.f1_micro, "suggested_per_unit": float(np.vstack(rows).sum() / len(truth)),
                               "none": float((np.vstack(rows).sum(axis=1) == 0).mean())}
            results["pairings"].append(entry)
    if sim_scores:
        p, right = np.array(sim_scores).T
        results["similarity_probability"] = {"suggestions": len(p), "mean_p": float(p.mean()),
                                             "share_right": float(right.mean()), "bins": reliability(p, right, 5)}
    for name in ("learned", "similarity", "similarity_cosine", "learned_no_blend"):
        results[f"{name}_mean_kappa_macro"] = float(np.mean([p[name]["kappa_macro"] for p in results["pairings"]]))
    return results


def paired_difference(truth: np.ndarray, a: np.ndarray, b: np.ndarray, codes: list[str], reps: int,
                      seed: int = 0) -> dict[str, Any]:
    """Macro kappa of `a` minus that of `b` against `truth`, with a paired bootstrap CI (the same segments resampled)."""
    def diff(rows: np.ndarray) -> float:
        return float(macro_kappa(truth[rows], a[rows], codes).kappa_macro - macro_kappa(truth[rows], b[rows], codes).kappa_macro)

    rng = np.random.default_rng(seed)
    everything = np.arange(len(truth))
    values = [diff(rng.integers(0, len(truth), len(truth))) for _ in range(reps)]
    values = [v for v in values if np.isfinite(v)]
    low, high = (np.percentile(values, [2.5, 97.5]) if values else (np.nan, np.nan))
    return {"difference": diff(everything), "ci": [round(float(low), 3), round(float(high), 3)]}


def _ci(overall: Any, field: str) -> list[float] | None:
    ci = overall.ci.get(field)  # (low, high) percentile interval
    return None if ci is None else [round(float(ci[0]), 3), round(float(ci[1]), 3)]


# -- plots and output ---------------------------------------------------------------------------------
def plot(chat: dict[str, Any], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    ks = sorted(chat["curve"])
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, label, style in (("learned", "learned (single-label)", "o-"), ("similarity_top1", "similarity, top-1", "s--"),
                               ("similarity_default", "similarity, cosine rule (old defaults)", "^:"),
                               ("similarity_calibrated", "similarity, calibrated (default)", "v-.")):
        mean = np.array([chat["curve"][k][name]["mean"] for k in ks])
        sd = np.array([chat["curve"][k][name]["sd"] for k in ks])
        ax.errorbar(ks, mean, yerr=sd, fmt=style, capsize=3, label=label)
    ax.axhline(0.33, color="grey", lw=0.8, ls="-.", label="acceptance (k = 20)")
    ax.set_xlabel("human examples per code (k)")
    ax.set_ylabel("macro kappa vs human coder (held-out)")
    ax.set_title("coded-chat, Discussion scheme: learning curve")
    ax.legend(fontsize=8)
    fig.tight_layout()
    curve_png = folder / "quality_learning_curve.png"
    fig.savefig(curve_png, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 5))
    for key, label in (("bins", f"every code (ECE {chat['calibration']['ece']:.3f})"),
                       ("top_bins", f"chosen code (ECE {chat['calibration']['top_ece']:.3f})")):
        bins = chat["calibration"][key]
        ax.plot([b["mean_p"] for b in bins], [b["observed"] for b in bins], "o-", label=label)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set_xlabel("learned coder's probability")
    ax.set_ylabel("observed share correct")
    ax.set_title("calibration, k = 20 examples per code")
    ax.legend(fontsize=8)
    fig.tight_layout()
    calib_png = folder / "quality_calibration.png"
    fig.savefig(calib_png, dpi=120)
    plt.close(fig)
    return [curve_png, calib_png]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--ks", default=",".join(map(str, KS)))
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--skip-sample", action="store_true")
    parser.add_argument("--plots", type=Path, default=None, help="write the PNGs into this folder")
    parser.add_argument("--json", type=Path, default=None, help="write all figures as JSON")
    args = parser.parse_args()
    ks = tuple(int(k) for k in args.ks.split(","))
    started = time.perf_counter()
    out: dict[str, Any] = {"chat": chat_benchmark(args.repeats, ks)}
    chat = out["chat"]
    print(f"coded-chat Discussion: {chat['messages']} messages, codes {chat['counts']}; "
          f"embedding {chat['embed_seconds']} s (cached after the first run), median fit {chat['fit_seconds_median']} s")
    print("| k per code | learned macro kappa | learned nominal kappa | learned without the zero-shot blend | similarity top-1 | similarity cosine (old "
          "defaults) | cosine: share with no code | similarity calibrated (default) | calibrated: no code "
          "| calibrated --single | --single: no code |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for k, s in chat["curve"].items():
        cells = [f"{s[n]['mean']:.3f} ± {s[n]['sd']:.3f}" for n in (
            "learned", "learned_nominal", "learned_no_blend", "similarity_top1", "similarity_default", "similarity_default_none",
            "similarity_calibrated", "similarity_calibrated_none", "similarity_calibrated_single",
            "similarity_calibrated_single_none")]
        print(f"| {k} | " + " | ".join(cells) + " |")
    sp = chat["similarity_probability"]
    print(f"similarity calibration on the codebook: {chat['similarity_calibration']}; chosen code's probability: "
          f"mean {sp['mean_p']:.3f}, right {sp['accuracy']:.3f}, ECE {sp['ece']:.3f}")
    c = chat["calibration"]
    print(f"calibration at k=20: ECE {c['ece']:.3f} (every code), {c['top_ece']:.3f} (chosen code); accuracy "
          f"{c['accuracy_all']:.3f}, most confident half {c['accuracy_confident_half']:.3f}")
    if not args.skip_sample:
        out["sample"] = sample = sample_benchmark(args.bootstrap)
        print("| sample, trained on coder_A of | units | learned macro kappa [95% CI] | similarity (calibrated) [95% CI] "
              "| learned - similarity [95% CI, paired] | similarity cosine (old defaults) [95% CI] "
              "| calibrated - cosine [95% CI, paired] | no code: calibrated / cosine |")
        print("|---|---|---|---|---|---|---|---|")
        for p in sample["pairings"]:
            print(f"| {' + '.join(p['train_first'])} (and the reverse) | {p['units']} | "
                  f"{p['learned']['kappa_macro']:.3f} {p['learned']['ci']} | {p['similarity']['kappa_macro']:.3f} "
                  f"{p['similarity']['ci']} | {p['difference']['difference']:+.3f} {p['difference']['ci']} | "
                  f"{p['similarity_cosine']['kappa_macro']:.3f} {p['similarity_cosine']['ci']} | "
                  f"{p['calibrated_minus_cosine']['difference']:+.3f} {p['calibrated_minus_cosine']['ci']} | "
                  f"{p['similarity']['none']:.0%} / {p['similarity_cosine']['none']:.0%} |")
        for p in sample["pairings"]:
            print(f"learned without the zero-shot blend, trained on {' + '.join(p['train_first'])}: "
                  f"{p['learned_no_blend']['kappa_macro']:.3f} {p['learned_no_blend']['ci']}; minus similarity "
                  f"{p['no_blend_minus_similarity']['difference']:+.3f} {p['no_blend_minus_similarity']['ci']}")
        print(f"mean macro kappa: learned {sample['learned_mean_kappa_macro']:.3f} (without the blend "
              f"{sample['learned_no_blend_mean_kappa_macro']:.3f}), similarity calibrated "
              f"{sample['similarity_mean_kappa_macro']:.3f}, similarity cosine {sample['similarity_cosine_mean_kappa_macro']:.3f}; "
              f"similarity params {sample.get('similarity_params')}")
        if "similarity_probability" in sample:
            sp = sample["similarity_probability"]
            print(f"calibrated similarity scores: {sp['suggestions']} suggestions, mean score {sp['mean_p']:.3f}, "
                  f"coder_A applied {sp['share_right']:.3f} of them; by score: "
                  + "; ".join(f"{b['mean_p']:.2f}: {b['observed']:.2f} (n={b['n']})" for b in sp["bins"]))
    if args.plots:
        for path in plot(chat, args.plots):
            print(f"wrote {path}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
