"""`precode eval`: parse options into an EvalRequest, run it, print the headline figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from pipeline.errors import PrecodeError
from pipeline.project import find_project
from pipeline.terminal import console

if TYPE_CHECKING:
    from eval.harness import EvalRequest

_OPTION_NAMES = {"units_file": "units", "runs": "run", "reviewers": "reviewer", "coders": "coder", "select": "coders",
                 "transcripts": "transcript", "ordinal_weights": "weights"}


def _request(**options: Any) -> EvalRequest:
    from eval.harness import (
        EvalRequest,  # matplotlib and friends load only when eval runs
    )

    try:
        return EvalRequest(**options)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{_OPTION_NAMES.get(str(e['loc'][0]), str(e['loc'][0])).replace('_', '-')}: {e['msg']}"
            for e in exc.errors())
        raise PrecodeError(f"invalid option(s): {problems}", hint="see 'precode eval --help'") from None


def _fmt(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def eval_command(
    inputs: Annotated[list[Path] | None, typer.Argument(
        help="Coder files: segment-level CSV/JSONL (unit,coder,code), span-level CSV/JSONL "
             "(transcript,start,end,coder,code or transcript,quote,coder,code), or .qdpx.")] = None,
    run: Annotated[list[str] | None, typer.Option(
        "--run", help="A coding run as a coder: id, unique prefix or 'latest' (repeat for run-vs-run stability).")] = None,
    include_ungrounded: Annotated[bool, typer.Option(
        help="Also count run suggestions whose quote was not found in the text.")] = False,
    reviewed: Annotated[bool, typer.Option(
        help="The run's suggestions accepted in review (latest decision of any reviewer) as a coder.")] = False,
    reviewer: Annotated[list[str] | None, typer.Option(
        help="The suggestions this reviewer accepted, as a coder of its own (repeatable).")] = None,
    annotations: Annotated[bool, typer.Option(
        help="Every coder of the project's human annotations (e.g. REFI-QDA users) as coders.")] = False,
    coder: Annotated[list[str] | None, typer.Option(
        help="Only these annotation coders (repeatable; implies --annotations).")] = None,
    coders: Annotated[str | None, typer.Option(
        "--coders", help="Compare only these coders, comma-separated (from any input), e.g. --coders coder_A,coder_B.")] = None,
    gold: Annotated[str | None, typer.Option(
        help="The gold coder: adds precision, recall and F1 of every other coder.")] = None,
    reference: Annotated[str | None, typer.Option(
        help="Compare every other coder with this coder only (pairs REFERENCE|X) instead of all pairs.")] = None,
    ordinal: Annotated[str | None, typer.Option(
        help="The codes are ordinal categories of a single-label scheme, in this order, lowest first "
             "(comma-separated, e.g. low,medium,high): adds weighted kappa and AC2 per pair.")] = None,
    weights: Annotated[str, typer.Option(
        help="Weights for --ordinal: quadratic | linear.")] = "quadratic",
    unit: Annotated[str, typer.Option(
        help="segment (participant segments) | char (every character, NVivo style).")] = "segment",
    min_overlap: Annotated[float, typer.Option(
        help="A span counts for a segment when the overlap covers this share of the span or of the segment.")] = 0.5,
    units: Annotated[Path | None, typer.Option(
        "--units", help="Segment-level files: the unit universe (one id per line, or a 'unit' column).")] = None,
    missing: Annotated[str | None, typer.Option(
        help="absent | missing: a unit (transcript) a coder never saw counts as 'no code' or is left out of its "
             "pairs. Default: absent for segment-level files, missing for transcripts.")] = None,
    codebook: Annotated[str | None, typer.Option(
        "--codebook", "-c", help="nasss | qif | FILE.yaml (default: the run's codebook).")] = None,
    level: Annotated[str | None, typer.Option(
        help="domain | subdomain | theme | leaf (QIF: phase | step | activity | leaf) | all (the default).")] = None,
    group_by: Annotated[str | None, typer.Option(
        help="Transcript metadata field for the group comparison (default: group).")] = None,
    transcript: Annotated[list[str] | None, typer.Option(
        help="Only these transcripts (names; repeatable).")] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for 95% CIs (0: none).")] = 1000,
    resample: Annotated[str, typer.Option(
        help="cluster: resample whole transcripts (segments of one interview together; the default) | "
             "unit: resample single units, as if independent.")] = "cluster",
    complete_units: Annotated[bool, typer.Option(
        help="Fleiss' kappa and multi-rater AC1 over the units every coder saw only (classical form) instead of "
             "Gwet's generalised form over every unit two or more coders saw.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap resampling.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for report.json, report.md, report.html.")] = Path("eval-report"),
    project: Annotated[Path | None, typer.Option(
        "--project", "-p", envvar="PRECODE_PROJECT", help="Project directory (default: the nearest enclosing one).")] = None,
) -> None:
    """Agreement between coders (human and machine): per code, per level, with CIs, disagreements and groups."""
    request = _request(
        inputs=inputs or [], runs=run or [], include_ungrounded=include_ungrounded, reviewed=reviewed,
        reviewers=reviewer or [], annotations=annotations, coders=coder or [], gold=gold, unit=unit,
        min_overlap=min_overlap, units_file=units, missing=missing, codebook=codebook, level=level,
        group_by=group_by, transcripts=transcript or [], bootstrap=bootstrap, seed=seed, out=out,
        resample=resample, complete_units=complete_units, reference=reference, ordinal_weights=weights,
        ordinal=[c.strip() for c in (ordinal or "").split(",") if c.strip()],
        select=[c.strip() for c in (coders or "").split(",") if c.strip()],
    )
    from eval.evaluate import MultiOverall, PairOverall
    from eval.harness import run_evaluation

    outcome = run_evaluation(request, lambda: find_project(project))
    report = outcome.report
    console.print(report.unit["description"], highlight=False)
    table = Table("level", "comparison", "κ macro", "κ micro", "α micro", "F1 micro" if report.gold else "Po micro")
    for name in report.levels:
        level_report = report.by_level[name]
        overall = level_report.overall
        overalls: dict[str, PairOverall] = {" | ".join(report.coders): overall} if isinstance(overall, PairOverall) \
            else {key: pair.overall for key, pair in (level_report.pairs or {}).items()}
        if isinstance(overall, MultiOverall) and not report.reference:
            macro, micro, _ = overall.headline()
            table.add_row(name, "all coders (Fleiss)", _fmt(macro), _fmt(micro), _fmt(overall.alpha_micro), "")
        for key, o in overalls.items():
            last = o.f1_micro if report.gold else o.po_micro
            table.add_row(name, key, _fmt(o.kappa_macro), _fmt(o.kappa_micro), _fmt(o.alpha_micro), _fmt(last))
    console.print(table)
    if report.problems:
        console.print(f"[yellow]{len(report.problems)} problem(s) in the inputs[/] (listed in the report), e.g. "
                      f"{report.problems[0].source}: {report.problems[0].message}", highlight=False)
    console.print(f"Wrote {', '.join(p.name for p in outcome.files)} to [bold]{request.out}[/]")
