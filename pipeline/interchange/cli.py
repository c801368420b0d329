"""Commands for REFI-QDA and spreadsheet interchange: `precode import`, `codebook convert`, codings exports."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.errors import PrecodeError
from pipeline.project import Project, find_project
from pipeline.terminal import console, err

CODING_FORMATS = ("qdpx", "xlsx")
TABLE_FORMATS = ("csv", "jsonl")


def is_codings_export(fmt: str, include_ungrounded: bool, include_all: bool, accepted: bool) -> bool:
    """Check that `precode export`'s options fit together; True for an export of codings, not suggestions.

    qdpx and xlsx always hold codings (accepted review decisions, with --all every grounded
    suggestion); csv and jsonl hold a run's suggestions, or with --accepted the xlsx's codings.
    """
    if fmt not in (*TABLE_FORMATS, *CODING_FORMATS):
        raise PrecodeError(f"unknown export format '{fmt}'",
                           hint=f"choose one of: {', '.join([*TABLE_FORMATS, *CODING_FORMATS])}")
    if fmt in CODING_FORMATS or accepted:
        if include_ungrounded:
            what = "(without --accepted)" if fmt in TABLE_FORMATS else "of a run's suggestions"
            raise PrecodeError(f"--include-ungrounded applies to csv/jsonl {what}: an ungrounded quote has no "
                               "place in the text, so it cannot be a coding",
                               hint="use --all to export every grounded suggestion, not only accepted ones")
        return True
    if include_all:
        raise PrecodeError("--all applies to --format qdpx or xlsx, or to csv/jsonl with --accepted; csv/jsonl "
                           "without --accepted always hold every suggestion",
                           hint="add --accepted for the accepted codings (one row per coding, as in the xlsx)")
    return False


def default_export_path(project: Project, fmt: str, accepted: bool) -> Path:
    """export.FORMAT in the project; accepted.csv / accepted.jsonl for --accepted, beside a run's export.csv."""
    return project.root / (f"accepted.{fmt}" if accepted and fmt in TABLE_FORMATS else f"export.{fmt}")


def export_codings(project: Project, fmt: str, out: Path, run_id: str | None, include_all: bool,
                   coders: list[str] | None = None, only_reviewed: bool = False, machine: bool = True,
                   reviewer: str | None = None) -> Path:
    """`precode export --format qdpx|xlsx` or `--format csv|jsonl --accepted`: accepted codings (the
    review's decisions and the codes reviewers added by hand), or with --all every grounded suggestion.

    qdpx exports the whole project (no run needed): everything imported from QDA software, plus
    the run's codings; `coders` keeps only codings by these users, `machine=False` leaves all of
    precode's suggestions and decisions out, `only_reviewed` says the default (accepted only) aloud.
    """
    if fmt != "qdpx" and (coders or only_reviewed or not machine):
        raise PrecodeError("--coder, --only-reviewed and --no-machine apply to --format qdpx",
                           hint="export the whole project with: precode export --format qdpx")
    if only_reviewed and include_all:
        raise PrecodeError("--only-reviewed and --all contradict each other",
                           hint="--only-reviewed (the default) exports accepted codings; --all every grounded one")
    if not machine and (include_all or run_id):
        raise PrecodeError("--no-machine leaves precode's suggestions out, so --all and --run have nothing to choose",
                           hint="drop --all/--run, or drop --no-machine")
    what = "codings (all grounded suggestions)" if include_all else "codings (accepted review decisions)"
    if fmt == "qdpx":
        from pipeline.interchange.qdpx_write import ExportOptions, write_qdpx

        summary = write_qdpx(project, out, options=ExportOptions(run_id=run_id, include_all=include_all,
                                                                 coders=coders or [], machine=machine,
                                                                 reviewer=reviewer))
        n = summary.codings - summary.imported_codings
        ours = f" and {n} {what} of run {summary.run_id}" if summary.run_id else " (no coding run of precode in it)"
        console.print(f"Wrote {summary.sources} transcripts, {summary.imported_codings} imported coding(s) by people"
                      f"{ours} to [bold]{out}[/] (REFI-QDA users: {', '.join(summary.users)})")
        if summary.run_id is None:
            return out
    elif fmt == "xlsx":
        from pipeline.interchange.xlsx import EXCEL_MAX_ROWS, write_xlsx_sheets

        n, sheets = write_xlsx_sheets(project, out, run_id, include_all, reviewer)
        console.print(f"Wrote {n} {what} to [bold]{out}[/]")
        if sheets > 1:
            err.print(f"[yellow]note[/] more rows than one Excel sheet holds ({EXCEL_MAX_ROWS:,} with the header): "
                      f"the codings continue over {sheets} sheets ('codings', 'codings (2)', ...), each with its header")
    else:
        from pipeline.interchange.tabular import write_codings_table

        n = write_codings_table(project, fmt, out, run_id, include_all, reviewer)
        console.print(f"Wrote {n} {what} to [bold]{out}[/]")
    if n == 0 and not include_all:
        err.print("[yellow]note[/] no suggestion of this run has an accepted review decision yet: review first, "
                  "or pass --all to export every grounded suggestion")
    return out


def import_qdpx(
    file: Annotated[Path, typer.Argument(help="A REFI-QDA project (.qdpx) exported from MAXQDA, NVivo, ATLAS.ti, "
                                              "QualCoder … or from precode.")],
    codebook: Annotated[str | None, typer.Option(
        "--codebook", "-c", help="Match foreign codes to this codebook (nasss | qif | FILE.yaml): exact id, then "
                                 "label (case-insensitive).")] = None,
    save_codebook: Annotated[Path | None, typer.Option(
        help="Also write the imported code tree as a YAML codebook (a draft to complete).")] = None,
    project: Annotated[Path | None, typer.Option(
        "--project", "-p", envvar="PRECODE_PROJECT", help="Project directory (default: the nearest one).")] = None,
    max_member_mb: Annotated[float, typer.Option(help="Refuse an archive member that unpacks to more MiB.")] = 512,
    max_total_mb: Annotated[float, typer.Option(help="Refuse an archive that unpacks to more MiB in all.")] = 2048,
    max_ratio: Annotated[float, typer.Option(
        help="Refuse a member (over 1 MiB) compressed more than this many to one (a zip bomb).")] = 200,
) -> None:
    """Import text sources and their codings from a .qdpx; each REFI user becomes a coder for 'precode eval'.

    Sources become transcripts (or are matched to a transcript with the same text); PDF, picture,
    audio and video sources are reported and skipped. Everything is stored in one transaction.
    """
    from pipeline.interchange.qdpx_import import import_qdpx as run_import
    from pipeline.interchange.qdpx_import import import_summary
    from pipeline.interchange.qdpx_read import ReadLimits

    if file.suffix.lower() == ".qdc":
        raise PrecodeError("a .qdc file is a codebook, not a project", path=str(file),
                           hint=f"convert it: precode codebook convert {file} {file.with_suffix('.yaml').name}")
    if min(max_member_mb, max_total_mb, max_ratio) <= 0:
        raise PrecodeError("--max-member-mb, --max-total-mb and --max-ratio must be positive")
    limits = ReadLimits(max_member_bytes=int(max_member_mb * 1024**2), max_total_bytes=int(max_total_mb * 1024**2),
                        max_ratio=max_ratio)
    report = run_import(find_project(project), file, codebook, save_codebook, limits)
    table = Table("source", "status", "transcript", "codings", title=f"Imported {file.name}")
    for s in report.sources:
        table.add_row(s.name, s.status.value, s.transcript_name, str(s.codings))
    console.print(table)
    if report.coders:
        coders = Table("coder (for precode eval)", "codings")
        for coder, n in sorted(report.coders.items()):
            coders.add_row(coder, str(n))
        console.print(coders)
    how = Counter(c.matched.value for c in report.codes)
    console.print(f"Codes: {len(report.codes)}" + (" (" + ", ".join(f"{n} by {k}" for k, n in how.items()) + ")"
                                                   if how else ""))
    if report.unmatched_codes:
        where = f"in codebook '{report.codebook_id}'" if report.codebook_id else "(no --codebook given)"
        err.print(f"[yellow]{len(report.unmatched_codes)} code(s) not found {where}[/]; their codings use ids made "
                  "from the code names:")
        for c in report.unmatched_codes:
            err.print(f"  {c.path}  →  {c.code_id}", highlight=False)
    for line in report.skipped:
        err.print(f"[yellow]skipped[/] {line}", highlight=False)
    for line in report.warnings:
        err.print(f"[yellow]warning[/] {line}", highlight=False)
    if report.codebook_file:
        console.print(f"Wrote the code tree to [bold]{report.codebook_file}[/]")
        if report.codebook_problems:
            err.print(f"[yellow]the codebook is a draft[/]: {len(report.codebook_problems)} field(s) to fill in "
                      f"before coding with it (see 'precode codebook validate {report.codebook_file}')")
    console.print(import_summary(report))


def convert_codebook(
    source: Annotated[str, typer.Argument(help="nasss | qif | FILE.yaml | FILE.qdc")],
    dest: Annotated[Path, typer.Argument(help="FILE.qdc (from YAML) or FILE.yaml (from .qdc).")],
    id: Annotated[str | None, typer.Option("--id", help="From .qdc: the codebook id (default: from the file name).")] = None,
    name: Annotated[str | None, typer.Option(help="From .qdc: the codebook name.")] = None,
    version: Annotated[str | None, typer.Option(help="From .qdc: the codebook version (default 1.0).")] = None,
    levels: Annotated[str | None, typer.Option(
        help="From .qdc: names of the tree levels, comma-separated, e.g. domain,subdomain,theme.")] = None,
) -> None:
    """Convert between a precode YAML codebook and a REFI-QDA codebook (.qdc).

    Definitions, include/exclude rules and examples go into each code's description, with a last
    line 'precode-id: …' so the ids come back exactly.
    """
    from pipeline.interchange.qdc import convert_codebook as run_convert
    from pipeline.interchange.qdpx_write import precode_origin

    warnings: list[str] = []
    problems = run_convert(source, dest, origin=precode_origin(), codebook_id=id, name=name, version=version,
                           levels=[x.strip() for x in levels.split(",") if x.strip()] if levels else None,
                           warnings=warnings)
    for line in warnings:
        err.print(f"[yellow]warning[/] {line}", highlight=False)
    console.print(f"Wrote [bold]{dest}[/]")
    if problems:
        err.print(f"[yellow]the codebook is a draft[/]: a REFI-QDA codebook carries only names and descriptions, so "
                  f"{len(problems)} field(s) need filling in before coding with it:")
        for line in problems[:20]:
            err.print(f"  {line}", highlight=False)
        if len(problems) > 20:
            err.print(f"  … and {len(problems) - 20} more (precode codebook validate {dest})")
