"""The evaluation as one library call: gather the inputs, align them, compute, write the report.

`precode eval` parses its options into an `EvalRequest` and calls `run_evaluation`. Inputs come
in two families that cannot be mixed: segment-level files with free unit ids (no project needed),
and everything placed on a project's transcripts (span files, runs, review decisions, annotations,
.qdpx), whose units are the project's segments or characters.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from eval.align import (
    DEFAULT_MIN_OVERLAP,
    Aligned,
    align_chars,
    align_segments,
    align_units,
    case_variant_problems,
    select_coders,
)
from eval.evaluate import EvalReport, build_report
from eval.groups import GroupRow, group_rows, groups_block, groups_csv, heatmap, unit_groups
from eval.inputs import (
    InputSummary,
    Problem,
    SpanInput,
    UnitTable,
    input_kind,
    read_span_file,
    read_unit_file,
    read_units_list,
)
from eval.report import write_report
from eval.rollup import AS_CODED, build_level, codebook_problems, levels_of, roll_up
from eval.sources import (
    annotation_codings,
    current_transcripts,
    qdpx_codings,
    reviewed_codings,
    run_coder_name,
    run_codings,
)
from pipeline.codebook import LEAF_LEVEL, Codebook, load_codebook
from pipeline.errors import PrecodeError
from pipeline.models import Run, SegmentRole
from pipeline.project import Project

DEFAULT_GROUP_FIELD = "group"


class EvalRequest(BaseModel):
    """Everything `precode eval` can be asked (see docs/eval.md)."""

    inputs: list[Path] = Field(default_factory=list)
    runs: list[str] = Field(default_factory=list)
    include_ungrounded: bool = False
    reviewed: bool = False
    reviewers: list[str] = Field(default_factory=list)
    annotations: bool = False
    coders: list[str] = Field(default_factory=list)
    gold: str | None = None
    unit: Literal["segment", "char"] = "segment"
    min_overlap: float = DEFAULT_MIN_OVERLAP
    units_file: Path | None = None
    missing: Literal["absent", "missing"] | None = None
    codebook: str | None = None
    level: str | None = None
    group_by: str | None = None
    transcripts: list[str] = Field(default_factory=list)
    select: list[str] = Field(default_factory=list, description="--coders: compare only these coders")
    bootstrap: int = Field(1000, ge=0)
    resample: Literal["cluster", "unit"] = "cluster"
    complete_units: bool = False
    reference: str | None = Field(None, description="--reference: compare every other coder with this one only")
    ordinal: list[str] = Field(default_factory=list, description="--ordinal: the categories in order, lowest first")
    ordinal_weights: Literal["linear", "quadratic"] = "quadratic"
    seed: int = 0
    out: Path = Path("eval-report")


class EvalOutcome(BaseModel):
    report: EvalReport
    files: list[Path]


def _needs_project(request: EvalRequest, kinds: dict[Path, str]) -> bool:
    return bool(request.runs or request.reviewed or request.reviewers or request.annotations or request.coders
                or any(k != "unit" for k in kinds.values()))


def _unit_inputs(request: EvalRequest, kinds: dict[Path, str]) -> tuple[Aligned, list[InputSummary]]:
    if request.unit == "char":
        raise PrecodeError("--unit char needs transcript-based inputs (span files, runs, annotations)",
                           hint="segment-level files have no characters; drop --unit char")
    tables: list[UnitTable] = []
    summaries: list[InputSummary] = []
    for path in kinds:
        table, summary = read_unit_file(path)
        tables.append(table)
        summaries.append(summary)
    universe = read_units_list(request.units_file) if request.units_file else None
    return align_units(tables, universe, request.missing or "absent"), summaries


def _span_inputs(request: EvalRequest, project: Project, kinds: dict[Path, str]) -> tuple[SpanInput, list[Run]]:
    spans = SpanInput()
    for path in [p for p, k in kinds.items() if k == "qdpx"]:  # first: an import may add transcripts
        spans.extend(qdpx_codings(project, path, request.codebook))
    transcripts = current_transcripts(project)
    for path in [p for p, k in kinds.items() if k == "span"]:
        spans.extend(read_span_file(path, transcripts))
    if request.annotations or request.coders:
        spans.extend(annotation_codings(project, request.coders or None))
    runs: list[Run] = []
    for run_id in request.runs:
        run, codings = run_codings(project, run_id, request.include_ungrounded)
        if not any(s.rows for s in codings.summaries):
            if run_id == "latest":
                raise PrecodeError(f"--run latest is run {run.id} ({run.coder}), which has no suggestions",
                                   hint="give the run to evaluate by id (--run ID; 'precode status' lists the runs)")
            codings.problems.append(Problem(source=f"run {run.id}", message="the run has no suggestions: its coder "
                                            "counts as having applied no code anywhere"))
        runs.append(run)
        spans.extend(codings)
    if request.reviewed or request.reviewers:
        for run in runs or [project.db.run(None)]:
            if request.reviewed:
                spans.extend(reviewed_codings(project, run))
            for reviewer in request.reviewers:
                spans.extend(reviewed_codings(project, run, reviewer))
    if request.transcripts:
        unknown = sorted(set(request.transcripts) - set(transcripts))
        if unknown:
            raise PrecodeError(f"no transcript named {', '.join(unknown)} in this project",
                               hint="see 'precode status' for the names")
        keep = {transcripts[n].id for n in request.transcripts}
        spans.coverage = {c: ids & keep for c, ids in spans.coverage.items()}
        spans.codings = [c for c in spans.codings if c.transcript_id in keep]
    sources: dict[str, list[str]] = {}
    for summary in spans.summaries:
        for coder in summary.coders:
            sources.setdefault(coder, []).append(summary.source)
    spans.problems += [Problem(source=", ".join(where), message=f"coder '{coder}' appears in {len(where)} inputs; "
                               "their codes are combined as one coder's")
                       for coder, where in sources.items() if len(where) > 1]
    return spans, runs


def _align_project(request: EvalRequest, project: Project, spans: SpanInput) -> Aligned:
    coded = set().union(*spans.coverage.values()) if spans.coverage else set()
    if not coded:
        raise PrecodeError("the inputs code no transcript of this project",
                           hint="check the transcript names, --transcript, and that the run has suggestions")
    by_id = {t.id: t for t in project.db.current_transcripts() if t.id in coded}
    missing = request.missing or "missing"
    if request.unit == "char":
        return align_chars(spans, by_id, missing)
    role = None if project.settings.segment.code_interviewer else SegmentRole.participant
    segments = project.db.segments(list(by_id), role=role)
    return align_segments(spans, segments, by_id, request.min_overlap, missing)


def _codebook(request: EvalRequest, project: Project | None, runs: list[Run],
              problems: list[Problem]) -> Codebook | None:
    if request.codebook:
        return load_codebook(request.codebook)
    if not runs or project is None:
        return None
    if len({r.codebook_hash for r in runs}) > 1:
        problems.append(Problem(source="runs", message=(
            f"the runs used different codebooks; codes are compared against the first run's "
            f"({runs[0].codebook_id}); pass --codebook to choose")))
    return project.db.codebook(runs[0].codebook_hash)


def _primary_level(request: EvalRequest, levels: list[str], runs: list[Run], codebook: Codebook | None) -> str:
    if request.level and request.level != "all":
        return request.level
    if codebook is None:
        return AS_CODED
    if runs and runs[0].level in levels:
        return runs[0].level
    return LEAF_LEVEL


def _groups(request: EvalRequest, project: Project, aligned: Aligned, codebook: Codebook | None, levels: list[str],
            problems: list[Problem]) -> tuple[list[GroupRow], str] | None:
    field = request.group_by or DEFAULT_GROUP_FIELD
    metadata = {t.name: t.metadata for t in project.db.current_transcripts()}
    try:
        groups, participants = unit_groups(aligned, metadata, field)
    except PrecodeError:
        if request.group_by:
            raise
        problems.append(Problem(source="metadata", message=f"no group comparison: no transcript has a '{field}' value"))
        return None
    rows: list[GroupRow] = []
    for name in levels:
        level = build_level(aligned.codes, codebook, name)
        labels = {c: codebook.by_id[c].label for c in level.codes} if codebook else {}
        rows += group_rows(aligned, roll_up(aligned.presence, level), name, level.codes, labels, groups, participants)
    return rows, field


def run_evaluation(request: EvalRequest, open_project: Callable[[], Project]) -> EvalOutcome:
    """Evaluate and write the report into `request.out`; `open_project` is called only if a project is needed."""
    kinds = {path: input_kind(path) for path in request.inputs}
    unit_files = [p for p, k in kinds.items() if k == "unit"]
    project_based = _needs_project(request, {p: k for p, k in kinds.items() if k != "unit"})
    if unit_files and project_based:
        raise PrecodeError("segment-level files (unit,coder,code) cannot be mixed with transcript-based inputs",
                           path=str(unit_files[0]),
                           hint="give the codes as spans (transcript,start,end,coder,code or transcript,quote,coder,code)")
    if not kinds and not project_based:
        raise PrecodeError("nothing to evaluate", hint="give input files, --run ID, --reviewed or --annotations")
    if request.units_file and project_based:
        raise PrecodeError("--units applies to segment-level files only",
                           hint="for transcript-based inputs restrict the transcripts with --transcript")
    project = None
    runs: list[Run] = []
    problems: list[Problem] = []
    if project_based:
        project = open_project()
        spans, runs = _span_inputs(request, project, kinds)
        aligned = _align_project(request, project, spans)
        summaries = spans.summaries
        problems = spans.problems + aligned.problems
    else:
        aligned, summaries = _unit_inputs(request, kinds)
        problems = list(aligned.problems)
    bad = [c for c in aligned.coders if "|" in c]
    if bad:
        raise PrecodeError(f"coder name '{bad[0]}' contains '|', which separates the two coders of a pair in the "
                           "report", hint="rename the coder (e.g. replace '|' with '/')")
    if request.select:
        unknown = [c for c in request.select if c not in aligned.coders]
        if unknown:
            raise PrecodeError(f"--coders: no coder named {', '.join(repr(c) for c in unknown)}",
                               hint=f"the inputs' coders are: {', '.join(aligned.coders)}")
        aligned = select_coders(aligned, request.select)
    problems += case_variant_problems(aligned)
    if len(aligned.coders) < 2:
        raise PrecodeError(f"agreement needs at least two coders; the inputs have {len(aligned.coders)}: "
                           f"{', '.join(aligned.coders) or 'none'}", hint="add another input (file, --run, --annotations)")
    if request.gold is not None and request.gold not in aligned.coders:
        raise PrecodeError(f"--gold '{request.gold}' is not one of the coders: {', '.join(aligned.coders)}")
    if request.reference is not None:
        if request.reference not in aligned.coders:
            raise PrecodeError(f"--reference '{request.reference}' is not one of the coders: "
                               f"{', '.join(aligned.coders)}")
        # the reference first, so that every pair key reads REFERENCE|X
        aligned = select_coders(aligned, [request.reference, *[c for c in aligned.coders if c != request.reference]])
    if len(set(request.ordinal)) != len(request.ordinal):
        raise PrecodeError(f"--ordinal lists a category twice: {', '.join(request.ordinal)}")
    codebook = _codebook(request, project, runs, problems)
    levels = levels_of(codebook, request.level)
    if codebook is not None:
        problems += codebook_problems(aligned.codes, aligned.presence, codebook, levels, aligned.sources)
    primary = _primary_level(request, levels, runs, codebook)
    grouping = _groups(request, project, aligned, codebook, levels, problems) if project is not None else None
    report = build_report(
        aligned, codebook=codebook, levels=levels, primary=primary, gold=request.gold, bootstrap=request.bootstrap,
        seed=request.seed, inputs=summaries, problems=problems, run_coders=[run_coder_name(r) for r in runs],
        groups=groups_block(grouping[0], grouping[1], primary) if grouping else None,
        unit_extra={"transcripts": sorted({t for t in aligned.units.transcript if t})} if project else None,
        kappa_form="complete" if request.complete_units else "generalised", resampling=request.resample,
        reference=request.reference, ordinal=request.ordinal or None, ordinal_weights=request.ordinal_weights,
    )
    files = write_report(report, request.out, heatmap(grouping[0], primary) if grouping else None,
                         groups_csv(grouping[0]) if grouping else None)
    return EvalOutcome(report=report, files=files)
