"""Honest zero-shot runs: when a run leaves most segments without a suggestion, say so and why.

The similarity coder's default rule is calibrated on the codebook itself (a probability over the
codes, cut where the codebook's own held-out texts agree best; `pipeline.coders.similarity`); its
older cosine rule (threshold and margin) stays available. Measured on real human-coded data
(docs/benchmarks.md, benchmarks/quality.py), talk worded unlike the codebook's descriptions rarely
reaches the cosine rule's default threshold: on the coded-chat messages it leaves about 80% of
messages without a code, the calibrated rule none. A run that suggests nothing for most segments
is not evidence that most segments need no code, so the command line prints this explanation,
computed from the run's own scores (the stored vectors; nothing is encoded again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipeline.codebook import Codebook
from pipeline.coders.similarity import Calibration, softmax
from pipeline.models import Run, Segment
from pipeline.project import Project

SPARSE_SHARE = 0.5  # a run is "sparse" when at least this share of its segments got no suggestion


@dataclass
class SimilarityDiagnosis:
    """Why segments got no similarity suggestion: no unit reached the threshold, or none stood out by the margin."""

    segments: int
    without: int
    below_threshold: int
    within_margin: int
    median_best: float  # median over the segments without a suggestion of their best unit's cosine (or probability)
    calibration: Calibration | None = None  # the calibrated rule's, when the run used it


def _run_calibration(run: Run) -> Calibration | None:
    c = run.params.get("calibration") or {}
    if run.params.get("rule") != "calibrated" or "p_min" not in c:
        return None
    return Calibration(float(c["temperature"]), float(c["p_min"]), int(c.get("texts", 0)), int(c.get("codes", 0)),
                       float(c.get("top1", float("nan"))), float(c.get("kappa", float("nan"))))


def diagnose_similarity(project: Project, run: Run, codebook: Codebook, segments: list[Segment]) -> SimilarityDiagnosis:
    """Recompute the similarity rule's scores for `segments` from the stored vectors."""
    threshold = float(run.params.get("threshold", 0.4))
    margin = float(run.params.get("margin", 0.1))
    codes = codebook.at_level(run.level or "leaf")
    suggested = {s.segment_id for s in project.db.suggestions(run.id)}
    todo = [s for s in segments if s.id not in suggested]
    if not todo or not codes:
        return SimilarityDiagnosis(len(segments), len(todo), 0, 0, float("nan"), _run_calibration(run))
    code_matrix = project.embeddings.codes(codebook, codes)
    sv = project.embeddings.segments(todo)
    scores = sv.vectors @ code_matrix.T
    margins = scores - scores.mean(axis=1, keepdims=True)
    calibration = _run_calibration(run)
    if calibration is not None:  # the calibrated rule: a probability cut, no margin
        scores, threshold = softmax(scores, calibration.temperature), calibration.p_min
        margins = np.full_like(scores, np.inf)
    below = within = 0
    best: list[float] = []
    for i in range(len(todo)):
        lo, hi = int(sv.offsets[i]), int(sv.offsets[i + 1])
        if hi == lo:
            continue
        block, block_margin = scores[lo:hi], margins[lo:hi]
        best.append(float(block.max()))
        if not (block >= threshold).any():
            below += 1
        elif not ((block >= threshold) & (block_margin >= margin)).any():
            within += 1
    return SimilarityDiagnosis(len(segments), len(todo), below, within, float(np.median(best)) if best else float("nan"),
                               calibration)


def sparse_run_note(project: Project, run: Run, codebook: Codebook, segments: Callable[[], list[Segment]]) -> list[str]:
    """Lines to print when most of the run's segments got no suggestion (none otherwise).

    `segments` reads the run's segments; it is called only for a sparse similarity run (the
    diagnosis), so a run with enough suggestions reads none.
    """
    n = int(run.counts.get("segments", 0))
    covered = int(run.counts.get("segments_with_suggestions", 0))
    if n == 0 or (n - covered) / n < SPARSE_SHARE:
        return []
    head = (f"Note: {n - covered} of {n} segments ({(n - covered) / n:.0%}) got no suggestion. That does not mean "
            "they need no code.")
    if run.coder == "similarity":
        d = diagnose_similarity(project, run, codebook, segments())
        if d.calibration is not None:
            c = d.calibration
            return [head,
                    f"Why: the similarity coder suggests a code when its probability among the codebook's codes is >= "
                    f"{c.p_min} (the cut that agreed best with the codebook's own {c.texts} held-out texts). In "
                    f"{d.below_threshold} of these segments no sentence's best code reached it (median best "
                    f"{d.median_best:.2f}): no code stands out from the others.",
                    "What to do: --single keeps only the likeliest code of each segment; or code a few transcripts by "
                    "hand (or review a run) and use --coder learned, which learns your coding (README: 'Which coder').",
                    ]
        threshold, margin = run.params.get("threshold"), run.params.get("margin")
        fallback = (run.params.get("calibration") or {}).get("why")
        return [head, *([f"The calibrated rule was not used: {fallback}."] if fallback else []),
                f"Why: the similarity coder needs a sentence with cosine >= {threshold} to a code's description and "
                f">= {margin} above that sentence's mean over all codes. In {d.below_threshold} of these segments no "
                f"sentence reached {threshold} (median best {d.median_best:.2f}); in {d.within_margin} the best did not "
                "stand out by the margin. The talk is worded unlike the codebook's descriptions.",
                f"What to do: --threshold {d.median_best:.2f} would let about half of these through (add --single to "
                "keep only the nearest code); or code a few transcripts by hand (or review a run) and use "
                "--coder learned, which learns your coding (README: 'Which coder').",
                ]
    if run.coder == "learned":
        few = (run.params.get("training") or {}).get("few_examples") or []
        return [head, "Why: for them no code's model found the code more likely than not under its class-balanced "
                      f"rule{f'; {len(few)} codes have too few examples to learn' if few else ''}. More human "
                      "examples (--from-coder, or review decisions) help; --single gives each segment its likeliest code."]
    return [head]
