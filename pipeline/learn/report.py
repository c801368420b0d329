"""What `precode code --coder learned` prints after a run: what it learned from, and what it could not learn."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from pipeline.models import Run


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}"


def training_lines(run: Run) -> list[str]:
    """Plain lines: examples used, cross-validated agreement, and the codes with too few examples."""
    training: dict[str, Any] = run.params.get("training") or {}
    if not training:
        return []
    examples = training.get("examples", {})
    codes: dict[str, dict[str, Any]] = training.get("codes", {})
    lines = [f"Learned from {training.get('labelled_segments', 0)} human-coded segments "
             f"({examples.get('annotations', 0)} annotations, {examples.get('review_positive', 0)} accepted and "
             f"{examples.get('review_negative', 0)} rejected review decisions)."]
    cv = training.get("cv") or {}
    if cv.get("kappa_macro") is not None:
        lines.append(f"Cross-validated on those codes: macro kappa {cv['kappa_macro']:.2f} over "
                     f"{int(cv.get('codes_with_cv', 0))} codes (per code in the run's params).")
    few = training.get("few_examples", [])
    if few:
        counts = ", ".join(f"{c} ({codes.get(c, {}).get('positives', 0)})" for c in few)
        lines.append(f"{len(few)} of {len(codes)} codes have fewer than {training.get('min_examples')} examples and are "
                     f"coded mostly from their codebook description: {counts}.")
    if not training.get("labelled_segments"):
        lines.append("No human codes were found: pass --from-coder NAME (an imported coder), or review a run first.")
    left = training.get("left_out") or {}
    if left:
        lines.append("Left out (not a code of this codebook at this level): "
                     + ", ".join(f"{c} ({n})" for c, n in sorted(left.items())))
    return lines


def print_training_report(console: Console, run: Run) -> None:
    for line in training_lines(run):
        console.print(escape(line), highlight=False)
