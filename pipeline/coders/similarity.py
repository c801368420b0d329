"""The offline baseline coder: embedding similarity between segment sentences and code descriptions.

What it is: for every quote unit (a sentence or a few short ones) of a segment, the cosine
similarity to each code's vector (the mean of the code's label+definition, inclusion criteria and
examples, and those of the codes below it). Two decision rules (`[similarity] rule`):

* **calibrated** (the default): the rule is calibrated on the codebook itself. Each description
  text of a code (its label+definition, each inclusion criterion and example) is held out in turn
  and scored against every code's vector, its own code's built from the code's other texts. A
  temperature `T` is fitted to those held-out texts (maximum likelihood, Platt-smoothed targets),
  and a unit's cosines become a probability over the codes, p = softmax(cosine / T): "how likely
  this is the right code of this codebook, judged as the codebook's own held-out texts would be".
  A unit supports a code when p >= `p_min`, the cut that agrees best with the held-out texts' own
  codes (macro kappa, at the run's `top_k`; the middle of the best cuts when several tie). The rule
  depends on how a code stands out among the codebook's codes, not on an absolute cosine, so it
  adapts to the codebook's wording and to talk worded unlike it; for the same reason it cannot tell
  that a sentence is about none of the codes (small talk gets the code that stands out, if one
  does). The suggestion's score is p. A codebook with too few texts to hold out (fewer than two
  codes with two or more texts, or fewer than `MIN_CALIBRATION_TEXTS` texts in all: definitions
  only) keeps the cosine rule, and the run's params say why.
* **cosine** (the rule before; `rule = "cosine"`, or any explicit `--threshold`): a unit supports
  a code when its cosine is at least `threshold` and at least `margin` above the unit's mean over
  all candidate codes. The suggestion's score is the cosine.

A code's score for the segment is its best supporting unit's; at most `top_k` codes are proposed
per segment, each with that best unit as its verbatim quote (exact offsets, never invented).
Measured against human codes (docs/benchmarks.md, "Coding quality"), the calibrated rule agrees
better than the cosine defaults on both the coded-chat messages and the bundled sample's gold.

What it is not: it does not read meaning, negation or exclusion rules; it finds text that talks
about similar things to a code's description. It needs no LLM and no network, which makes it a
fair floor to compare an LLM coder against, and a way to try the pipeline end to end.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.codebook import LEAF_LEVEL, Codebook
from pipeline.coders.base import CodedBatch, CodingContext, suggestion_id
from pipeline.models import Code, Grounding, Segment, Suggestion
from pipeline.project import Project
from pipeline.store.runs import RunTotals

if TYPE_CHECKING:
    from pipeline.indexing import EmbeddingIndex

BATCH_SEGMENTS = 512
RULES = ("calibrated", "cosine")
MIN_CALIBRATION_TEXTS = 6  # held-out codebook texts the calibrated rule needs (else the cosine rule)
TEMPERATURES = np.geomspace(0.003, 1.0, 241)  # the grid the temperature is fitted on
P_MIN_GRID = np.round(np.arange(0.0, 0.901, 0.01), 2)


@dataclass(frozen=True)
class Calibration:
    """The calibrated rule of one codebook at one level: temperature, cut, and what it was fitted on."""

    temperature: float
    p_min: float
    texts: int  # held-out codebook texts
    codes: int  # codes that had texts to hold out
    top1: float  # share of held-out texts whose nearest code was their own
    kappa: float  # macro kappa of the rule on the held-out texts (at the chosen p_min)

    def as_params(self) -> dict[str, Any]:
        return {"temperature": round(self.temperature, 5), "p_min": self.p_min, "texts": self.texts,
                "codes": self.codes, "top1": round(self.top1, 3), "kappa": round(self.kappa, 3)}


def description_texts(codebook: Codebook, codes: list[Code]) -> list[list[str]]:
    """Per code, the texts its vector is the mean of (as `pipeline.indexing.index_codes` builds it)."""
    from pipeline.indexing import code_text

    return [[t for c in [code, *codebook.descendants(code.id)] for t in code_text(c)] for code in codes]


def _normalize(v: np.ndarray) -> np.ndarray:
    return np.asarray(v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12), dtype=np.float64)


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise softmax of cosines / temperature: each row sums to 1 over the codes."""
    z = (scores - scores.max(axis=1, keepdims=True)) / temperature
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


def macro_kappa(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean over codes of Cohen's kappa of code presence (codes constant in both left out, as eval does)."""
    values = []
    for t, p in zip(truth.T.astype(bool), predicted.T.astype(bool), strict=True):
        po = float(np.mean(t == p))
        pe = float(t.mean() * p.mean() + (1 - t.mean()) * (1 - p.mean()))
        if pe < 1:
            values.append((po - pe) / (1 - pe))
    return float(np.mean(values)) if values else float("nan")


def top_k_rule(probabilities: np.ndarray, p_min: float, top_k: int) -> np.ndarray:
    """(n, c) bool: per row, at most `top_k` codes with the highest probability, each at least `p_min`."""
    out = np.zeros(probabilities.shape, dtype=bool)
    order = np.argsort(-probabilities, axis=1)[:, :top_k]
    rows = np.arange(len(probabilities))[:, None]
    out[rows, order] = probabilities[rows, order] >= p_min
    return out


def held_out_scores(text_vectors: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each codebook text's cosine to every code, its own code's vector built without it: (scores, code index).

    A code with a single text cannot lose it (its vector would be empty): such a code is a
    candidate for the others' texts but has no held-out text of its own.
    """
    matrix = _normalize(np.stack([v.mean(axis=0) for v in text_vectors]))
    rows: list[np.ndarray] = []
    truth: list[int] = []
    for j, vectors in enumerate(text_vectors):
        if len(vectors) < 2:
            continue
        total = vectors.sum(axis=0)
        for vector in vectors:
            own = _normalize(total - vector)
            row = matrix @ vector
            row[j] = float(own @ vector)
            rows.append(row)
            truth.append(j)
    return (np.array(rows), np.array(truth, dtype=int)) if rows else (np.zeros((0, len(text_vectors))), np.zeros(0, int))


def calibrate(text_vectors: list[np.ndarray], top_k: int) -> Calibration | None:
    """The calibrated rule from the codebook's own texts (None when there are too few to hold out)."""
    scores, truth = held_out_scores(text_vectors)
    n_codes = len(set(truth.tolist()))
    if len(truth) < MIN_CALIBRATION_TEXTS or n_codes < 2:
        return None
    # The temperature maximizes the held-out texts' log-likelihood of their own code, with targets
    # smoothed as in Platt scaling (1 - 1/(n+2) for the own code): a codebook whose texts are all
    # told apart would otherwise drive T to 0 and every probability to 0 or 1.
    n, n_all = len(truth), scores.shape[1]
    smoothing = 1.0 / (n + 2)
    targets = np.full(scores.shape, smoothing / max(n_all - 1, 1))
    targets[np.arange(n), truth] = 1.0 - smoothing
    shifted = scores - scores.max(axis=1, keepdims=True)
    likelihood = [float(np.mean(np.sum(targets * (shifted / t - np.log(np.exp(shifted / t).sum(axis=1, keepdims=True))),
                                       axis=1))) for t in TEMPERATURES]
    temperature = float(TEMPERATURES[int(np.argmax(likelihood))])
    probabilities = softmax(scores, temperature)
    labels = np.eye(n_all, dtype=bool)[truth]
    kappas = np.array([macro_kappa(labels, top_k_rule(probabilities, float(p), top_k)) for p in P_MIN_GRID])
    plateau = np.flatnonzero(kappas >= np.nanmax(kappas) - 1e-9)  # the middle of the best cuts
    best = int(plateau[len(plateau) // 2])
    return Calibration(temperature, float(P_MIN_GRID[best]), len(truth), n_codes,
                       float(np.mean(scores.argmax(axis=1) == truth)), float(kappas[best]))


def code_text_vectors(embeddings: EmbeddingIndex, codebook: Codebook, codes: list[Code]) -> list[np.ndarray]:
    """Per code, its description texts' vectors (each text encoded once, kept in the project's vector cache)."""
    from pipeline.learn.vectors import embed_cached

    texts = description_texts(codebook, codes)
    flat = [t for group in texts for t in group]
    vectors = embed_cached(flat, embeddings.embedder, embeddings.texts)
    bounds = np.cumsum([0, *(len(group) for group in texts)])
    return [vectors[bounds[j]:bounds[j + 1]] for j in range(len(texts))]


def calibrate_codebook(embeddings: EmbeddingIndex, codebook: Codebook, codes: list[Code], top_k: int) -> Calibration | None:
    return calibrate(code_text_vectors(embeddings, codebook, codes), top_k)


def rule_unsupported_reason(codes: int, texts: int) -> str:
    return (f"the codebook has {texts} description text(s) to hold out over {codes} code(s); the calibrated rule "
            f"needs {MIN_CALIBRATION_TEXTS} over two or more codes (add include criteria or examples)")


class SimilarityCoder:
    name = "similarity"
    prompt_hash: str | None = None
    batch_segments = BATCH_SEGMENTS
    embeds_quote_units = True

    def __init__(self, threshold: float, margin: float, top_k: int, embedder: str, rule: str = "cosine"):
        if rule not in RULES:
            raise ValueError(f"unknown similarity rule {rule!r}")
        self.threshold = threshold
        self.margin = margin
        self.top_k = top_k
        self.model = embedder
        self.rule = rule
        self._run_id = ""
        self._units = 0
        self._calibrations: dict[tuple[str, tuple[str, ...]], Calibration | None] = {}
        self._calibrated: Calibration | None = None  # set by `prepare` (recorded in the params)
        self._why_cosine: str | None = None

    def prepare(self, embeddings: EmbeddingIndex, codebook: Codebook, codes: list[Code]) -> None:
        """Calibrate the rule on `codebook` now, so the run's params record the calibration."""
        if self.rule == "calibrated":
            self._calibrated = self._calibration(embeddings, codebook, codes)
            if self._calibrated is None:
                scores, truth = held_out_scores(code_text_vectors(embeddings, codebook, codes))
                self._why_cosine = rule_unsupported_reason(len(set(truth.tolist())), len(truth))

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"threshold": self.threshold, "margin": self.margin, "top_k": self.top_k,
                               "embedder": self.model, "rule": self.rule}
        if self._calibrated is not None:
            out["calibration"] = self._calibrated.as_params()
        elif self._why_cosine is not None:
            out["calibration"] = {"fallback": "cosine", "why": self._why_cosine}
        return out

    def counts(self, totals: RunTotals) -> dict[str, int]:
        return {"quote_units": self._units}

    def _calibration(self, embeddings: EmbeddingIndex, codebook: Codebook, codes: list[Code]) -> Calibration | None:
        key = (codebook.content_hash, tuple(c.id for c in codes))
        if key not in self._calibrations:
            self._calibrations[key] = calibrate_codebook(embeddings, codebook, codes, self.top_k)
        return self._calibrations[key]

    def code(self, segments: Sequence[Segment], context: CodingContext) -> Iterator[CodedBatch]:
        if context.run_id != self._run_id:  # counters are per run
            self._run_id, self._units = context.run_id, 0
        code_matrix = context.embeddings.codes(context.codebook, context.codes)
        code_ids = [c.id for c in context.codes]
        k = min(self.top_k, len(code_ids))
        batch = list(segments)
        sv = context.embeddings.segments(batch)
        self._units += len(sv.units)
        scores = sv.vectors @ code_matrix.T  # (units, codes)
        calibration = (self._calibration(context.embeddings, context.codebook, context.codes)
                       if self.rule == "calibrated" and len(code_ids) > 1 and len(scores) else None)
        if calibration is not None:
            probabilities = softmax(scores, calibration.temperature)
            scores = np.where(probabilities >= calibration.p_min, probabilities, -np.inf)
        else:
            margins = scores - scores.mean(axis=1, keepdims=True)
            scores = np.where((scores >= self.threshold) & (margins >= self.margin), scores, -np.inf)
        suggestions: list[Suggestion] = []
        for i, segment in enumerate(batch):
            lo, hi = sv.offsets[i], sv.offsets[i + 1]
            if hi == lo:
                continue
            block = scores[lo:hi]
            best_unit = block.argmax(axis=0)
            best_score = block.max(axis=0)
            order = np.argsort(-best_score)[:k]
            for j in order:
                if not np.isfinite(best_score[j]):
                    break
                unit = sv.units[lo + best_unit[j]]
                suggestions.append(Suggestion(
                    id=suggestion_id(context.run_id, segment.id, code_ids[j]), run_id=context.run_id,
                    segment_id=segment.id, transcript_id=segment.transcript_id, code_id=code_ids[j],
                    quote=unit.text, quote_start=unit.start, quote_end=unit.end, grounding=Grounding.exact,
                    score=round(float(best_score[j]), 4),
                ))
        yield CodedBatch(suggestions, done=[s.id for s in batch])


def create(project: Project, threshold: float | None = None, top_k: int | None = None,
           codebook: Codebook | None = None, level: str | None = None, **_: Any) -> SimilarityCoder:
    """The registry's factory: settings from `[similarity]`, the embedder from `[embedding]`.

    An explicit `threshold` is a cosine threshold: it selects the cosine rule. Given the codebook
    (and level), the calibrated rule is calibrated now and recorded in the run's params.
    """
    settings = project.settings.similarity
    coder = SimilarityCoder(threshold=threshold if threshold is not None else settings.threshold,
                            margin=settings.margin, top_k=top_k or settings.top_k,
                            embedder=project.embeddings.embedder.name,
                            rule="cosine" if threshold is not None else settings.rule)
    if codebook is not None:
        coder.prepare(project.embeddings, codebook, codebook.at_level(level or LEAF_LEVEL))
    return coder
