"""Does `precode review --learn`'s order teach the learned model faster? A simulated review on real codes.

Data: coded-chat (../shared/fixtures/coded-chat, real human codes), `Discussion` scheme: every
message has one of 8 codes. The conversations are split in two at random: the messages of one half
are the run under review, the other half is held out.

The run under review suggests every code on every message (the case where the order matters
most: most suggestions are wrong). A simulated reviewer decides one suggestion at a time as the
human coders coded: accept when the message has that code, reject when not, so each decision
reveals one (message, code) label, as in the review (`pipeline.learn.examples.human_codes`).
Orders compared:

* `learned`: what `review --learn` does: the model (the learned coder's, codebook prior included)
  is retrained every `--every` decisions and the pending suggestions are ordered by |p - 0.5|,
  smallest first;
* `reading`: message by message, every code of a message in a row (the default order);
* `random`: suggestions in random order.

After each budget of decisions the model trained on the labels revealed so far is scored on the
held-out messages in single-label mode (each message gets its most likely code) with `precode
eval`'s macro kappa (eval.metrics.agreement_table); mean and spread over `--repeats` splits.

    .venv/bin/python benchmarks/review_learn.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.embed import go_offline, make_embedder  # noqa: E402

go_offline()

from quality import chat_codebook, chat_messages  # noqa: E402  (the same coded-chat reading as the quality benchmark)

from eval.metrics import agreement_table, pair_key  # noqa: E402
from pipeline.learn.model import LearnOptions, Prior, decide, fit  # noqa: E402
from pipeline.learn.prior import build_prior  # noqa: E402
from pipeline.review.active import DEFAULT_PROPOSE_MIN  # noqa: E402
from pipeline.settings import EmbeddingSettings  # noqa: E402

BUDGETS = (40, 80, 160, 320, 640)


def macro_kappa(truth: np.ndarray, predicted: np.ndarray, codes: list[str]) -> float:
    result = agreement_table(np.stack([truth, predicted]).astype(float), code_ids=codes,
                             coder_names=["human", "machine"], gold="human", bootstrap=0)
    return float(result.pairs[pair_key("human", "machine")].overall.kappa_macro)


def score(x_pool: np.ndarray, y_known: np.ndarray, prior: Prior, codes: list[str], x_test: np.ndarray,
          y_test: np.ndarray, options: LearnOptions, propose_min: float) -> dict[str, float]:
    """Macro kappa (single-label) on the held-out messages, and what `review --learn` would propose there:
    the codes its (multi-label) rule applies with probability >= propose_min, how many per message, how
    many of them the human coders applied."""
    rows = ~np.isnan(y_known).all(axis=1)
    model = fit(x_pool[rows], y_known[rows], codes, prior, options)
    applied, _ = model.predict(x_test)
    d = model.decision(x_test)
    p = model.proba(x_test, d)
    proposed = decide(d, p, model.fitted.constant, False, False) & (p >= propose_min)
    return {"kappa": macro_kappa(y_test, applied.astype(float), codes),
            "proposal_precision": float(y_test[proposed].mean()) if proposed.any() else float("nan"),
            "proposals_per_message": float(proposed.sum() / len(x_test))}


def simulate(order: str, x_pool: np.ndarray, y_pool: np.ndarray, prior: Prior, codes: list[str], x_test: np.ndarray,
             y_test: np.ndarray, every: int, rng: np.random.Generator, options: LearnOptions,
             propose_min: float) -> dict[int, dict[str, float]]:
    n, c = y_pool.shape
    known = np.full(y_pool.shape, np.nan)
    out: dict[int, dict[str, float]] = {}
    if order == "reading":
        sequence = list(range(n * c))
    elif order == "random":
        sequence = rng.permutation(n * c).tolist()
    decided = 0
    while decided < max(BUDGETS):
        if order == "learned":  # retrain on what is known, take the `every` least certain pending suggestions
            rows = ~np.isnan(known).all(axis=1)
            model = fit(x_pool[rows], known[rows], codes, prior, options, cross_validate=rows.sum() >= 10)
            u = np.abs(model.proba(x_pool) - 0.5).ravel()
            u[~np.isnan(known.ravel())] = np.inf
            batch = np.lexsort((np.arange(n * c), u))[:every].tolist()
        else:
            batch = sequence[decided:decided + every]
        for flat in batch:
            i, j = divmod(int(flat), c)
            known[i, j] = y_pool[i, j]
        decided += len(batch)
        if decided in BUDGETS:
            out[decided] = score(x_pool, known, prior, codes, x_test, y_test, options, propose_min)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--every", type=int, default=20, help="retrain after this many decisions (learned order)")
    parser.add_argument("--propose-min", type=float, default=DEFAULT_PROPOSE_MIN)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "review_learn.json")
    args = parser.parse_args()
    began = time.perf_counter()
    codebook = chat_codebook()
    codes = [c.id for c in codebook.codes]
    messages, labels, keys = chat_messages()
    by_label = {c.label: j for j, c in enumerate(codebook.codes)}
    y = np.zeros((len(messages), len(codes)))
    for i, label in enumerate(labels):
        y[i, by_label[label]] = 1.0
    embedder = make_embedder(EmbeddingSettings())
    x = np.asarray(embedder.embed(messages), dtype=np.float64)
    prior = build_prior(codebook, codebook.codes, embedder)
    options = LearnOptions(single=True, context_weight=0.0)
    conversations = sorted(set(keys))
    results: dict[str, list[dict[int, dict[str, float]]]] = {"learned": [], "reading": [], "random": []}
    for rep in range(args.repeats):
        rng = np.random.default_rng(rep)
        pool_keys = set(rng.permutation(conversations)[: len(conversations) // 2].tolist())
        pool = np.array([k in pool_keys for k in keys])
        for order in results:
            results[order].append(simulate(order, x[pool], y[pool], prior, codes, x[~pool], y[~pool], args.every,
                                           np.random.default_rng(1000 + rep), options, args.propose_min))
        print(f"split {rep + 1}: " + "; ".join(f"{o} {r[-1]}" for o, r in results.items()), flush=True)

    def stats(values: list[float]) -> dict[str, float]:
        v = [x for x in values if np.isfinite(x)]
        if not v:
            return {"mean": float("nan"), "min": float("nan"), "max": float("nan")}
        return {"mean": round(float(np.mean(v)), 3), "min": round(float(np.min(v)), 3), "max": round(float(np.max(v)), 3)}

    summary = {order: {str(b): stats([r[b]["kappa"] for r in runs]) for b in BUDGETS} for order, runs in results.items()}
    proposals = {order: {str(b): {"precision": stats([r[b]["proposal_precision"] for r in runs]),
                                  "per_message": stats([r[b]["proposals_per_message"] for r in runs])} for b in BUDGETS}
                 for order, runs in results.items()}
    report: dict[str, Any] = {"data": "coded-chat Discussion", "messages": len(messages), "codes": len(codes),
                              "repeats": args.repeats, "retrain_every": args.every, "budgets": list(BUDGETS),
                              "macro_kappa_on_held_out": summary, "propose_min": args.propose_min,
                              "proposals_on_held_out": proposals, "seconds": round(time.perf_counter() - began, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"decisions   {'  '.join(f'{b:>15}' for b in BUDGETS)}")
    for order, rows in summary.items():
        print(f"{order:<10}  " + "  ".join(f"{rows[str(b)]['mean']:.3f} [{rows[str(b)]['min']:.2f},{rows[str(b)]['max']:.2f}]"
                                           for b in BUDGETS))
    for order, rows2 in proposals.items():
        print(f"{order:<10}  proposals: " + "  ".join(
            f"{rows2[str(b)]['precision']['mean']:.2f} precise, {rows2[str(b)]['per_message']['mean']:.2f}/msg"
            for b in BUDGETS))
    print(f"wrote {args.out} ({report['seconds']} s)")


if __name__ == "__main__":
    main()
