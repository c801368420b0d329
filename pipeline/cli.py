"""The `precode` command line: a thin layer that parses options, calls the library, prints results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.embed import go_offline

go_offline()  # before any Hugging Face library is imported

from pipeline.codebook import BUILTIN_CODEBOOKS, load_codebook  # noqa: E402
from pipeline.errors import PrecodeError  # noqa: E402
from pipeline.project import Project, find_project, init_project  # noqa: E402
from pipeline.terminal import ProjectOption, console, err  # noqa: E402

if TYPE_CHECKING:
    from pipeline.coders.llm import LLMOptions
    from pipeline.models import Run

app = typer.Typer(
    help="Pre-code interview transcripts against a codebook (NASSS, QIF or your own), offline by default.",
    no_args_is_help=True, rich_markup_mode="rich", pretty_exceptions_enable=False,
)
codebook_app = typer.Typer(help="Check and show codebooks.", no_args_is_help=True)
app.add_typer(codebook_app, name="codebook")

CodebookOption = Annotated[str, typer.Option("--codebook", "-c", help=f"{' | '.join(BUILTIN_CODEBOOKS)} | FILE.yaml")]


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True, disable=not err.is_terminal)


@app.command()
def init(directory: Annotated[Path, typer.Argument(help="Where to create the project.")] = Path(".")) -> None:
    """Create a project: precode.toml (settings), precode.db (SQLite) and chroma/ (vectors)."""
    project, created = init_project(directory)
    verb = "Created" if created else "Already a project:"
    console.print(f"{verb} [bold]{project.root}[/]")


def _ingest(project: Project, paths: list[Path], metadata: Path | None) -> int:
    from pipeline.ingest import IngestStatus, ingest_paths

    results = ingest_paths(project, paths, metadata)
    table = Table("transcript", "status", "segments", "note", show_lines=False)
    colours = {IngestStatus.failed: "red", IngestStatus.skipped: "yellow", IngestStatus.unchanged: "dim"}
    for r in results:
        note = r.message or "; ".join(r.warnings)
        table.add_row(escape(r.name or Path(r.path).name), f"[{colours.get(r.status, 'green')}]{r.status.value}[/]",
                      str(r.segments or ""), escape(note))
    console.print(table)
    _print_roles(results)
    failed = [r for r in results if r.status is IngestStatus.failed]
    for r in failed:
        err.print(f"[red]error[/] {escape(r.message)}", highlight=False)
    if not results:
        raise PrecodeError("no transcript files found", hint="pass files or folders with .txt/.md/.vtt/.srt/.docx/.json")
    return len(failed)


def _print_roles(results: list[Any]) -> None:
    """Per transcript: who was taken as interviewer and the evidence, and how to correct it."""
    from pipeline.models import SegmentRole

    stored = [r for r in results if r.roles]
    if not stored:
        return
    console.print("Speaker roles (interviewer turns are not coded):")
    for r in stored:
        console.print(f"  {escape(r.name or '')}: {escape(r.roles)}", highlight=False)
    example = next((s for r in stored for s in r.speakers if s.role is SegmentRole.interviewer), None)
    fix = (f"precode speakers set \"{example.speaker}\" participant" if example
           else "precode speakers set NAME interviewer")
    console.print(escape(f"Wrong? List all with 'precode speakers'; fix with '{fix}' (add --transcript NAME "
                         "for one transcript), or set [ingest] interviewer_names in precode.toml before ingesting."),
                  highlight=False)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Transcript files or folders (searched recursively).")],
    metadata: Annotated[Path | None, typer.Option(help="Metadata CSV (default: metadata.csv beside the files).")] = None,
    project: ProjectOption = None,
) -> None:
    """Read transcripts (txt, md, vtt, srt, docx, json), segment them and store them in the project.

    Unchanged files are skipped; a changed file becomes a new version. A bad file is reported and
    the others still go in; the exit code is 1 if any file failed.
    """
    failed = _ingest(find_project(project), paths, metadata)
    if failed:
        raise typer.Exit(1)


def _code(project: Project, codebook_ref: str, coder_name: str, level: str | None,
          transcripts: list[str] | None, threshold: float | None, top_k: int | None,
          llm: LLMOptions | None = None, dry_run: bool = False,
          learned: dict[str, Any] | None = None, new_run: bool = False) -> Run | None:
    from pipeline.coders.base import CoderSettingsError

    try:
        return _code_run(project, codebook_ref, coder_name, level, transcripts, threshold, top_k, llm, dry_run,
                         learned, new_run)
    except CoderSettingsError as exc:  # a coder's error names settings; here they are worded with our flags
        from pipeline.llm.cli import with_flags

        raise with_flags(exc) from None


def _code_run(project: Project, codebook_ref: str, coder_name: str, level: str | None,
              transcripts: list[str] | None, threshold: float | None, top_k: int | None,
              llm: LLMOptions | None, dry_run: bool,
              learned: dict[str, Any] | None = None, new_run: bool = False) -> Run | None:
    from pipeline.coders import make_coder
    from pipeline.coding import run_coder

    codebook = load_codebook(codebook_ref)
    extra = {} if learned is None else {**learned, "codebook": codebook, "level": level}  # learned: trains now
    if coder_name == "similarity":  # calibrates its rule on the codebook now (recorded in the run's params)
        extra = {"codebook": codebook, "level": level}
    coder = make_coder(coder_name, project, threshold=threshold, top_k=top_k, llm=llm, dry_run=dry_run, **extra)
    if dry_run:
        from pipeline.coders.llm import LLMCoder
        from pipeline.llm.cli import print_estimate

        if not isinstance(coder, LLMCoder):
            raise PrecodeError("--dry-run applies to --coder llm only")
        print_estimate(console, project, coder, codebook, level, transcripts)
        return None
    from pipeline.rerun import finished_run

    done = None if new_run or learned is not None else finished_run(project, coder, codebook, level, transcripts)
    if done is not None:  # nothing changed since that run: report it rather than store a duplicate
        err.print(f"Unchanged: run [bold]{done.id}[/] already coded these segments with this command; nothing "
                  "new was stored (--new-run codes them again)")
    with _progress() as progress:
        task = progress.add_task(f"coding with {coder_name}", total=None)
        embedding = progress.add_task("embedding quote units", total=None, visible=False)

        def started(run: Run, n: int) -> None:
            progress.update(task, total=n)
            progress.update(embedding, total=n)

        def encoded(n: int) -> None:
            progress.update(embedding, visible=True, advance=n)

        run = done if done is not None else run_coder(
            project, coder, codebook, level, transcripts, on_start=started,
            progress=lambda n: progress.advance(task, n), encode_progress=encoded,
            on_resume=lambda run, done, total: err.print(
                f"Resuming unfinished run [bold]{run.id}[/]: {done} of {total} segments were already coded"),
        )
    console.print(f"Run [bold]{run.id}[/]: {run.counts.get('suggestions', 0)} suggestions on "
                  f"{run.counts.get('segments_with_suggestions', 0)} of {run.counts.get('segments', 0)} segments "
                  f"({codebook.id}, level {run.level}, coder {run.coder})")
    if coder_name == "learned":
        from pipeline.learn.report import print_training_report

        print_training_report(console, run)
    if coder_name in ("similarity", "learned"):
        from pipeline.coding import select_segments
        from pipeline.learn.zeroshot import sparse_run_note

        for line in sparse_run_note(project, run, codebook, lambda: select_segments(project, transcripts)):
            console.print(escape(line), highlight=False)
    if llm is not None and llm.batch:  # the provider batches: submitted, running, collected
        from pipeline.llm.batch import print_batches

        print_batches(console, project.root)
    if coder_name == "llm":
        from pipeline.llm.cli import print_run_report

        if not print_run_report(console, project, run):
            raise typer.Exit(1)
    return run


@app.command()
def code(
    codebook: CodebookOption,
    coder: Annotated[str, typer.Option(help="similarity (offline baseline, no LLM) | llm (a chat model; see docs/llm.md) | learned (learns from the codes people applied).")] = "similarity",
    level: Annotated[str | None, typer.Option(help="Tree level to code at: domain|subdomain|theme (QIF: "
                                                      "phase|step|activity) or leaf (codes with no children, the default).")] = None,
    transcript: Annotated[list[str] | None, typer.Option(help="Only these transcript names (repeatable).")] = None,
    threshold: Annotated[float | None, typer.Option(help="similarity: use the cosine rule with this minimum cosine (default: the rule calibrated on the codebook).")] = None,
    top_k: Annotated[int | None, typer.Option(help="similarity: at most this many codes per segment.")] = None,
    model: Annotated[str | None, typer.Option(help="llm: model name (Azure: the deployment name); default: model in precode.toml.")] = None,
    base_url: Annotated[str | None, typer.Option(help="llm: API base URL, e.g. http://localhost:11434/v1.")] = None,
    temperature: Annotated[float | None, typer.Option(help="llm: sampling temperature (default 0).")] = None,
    samples: Annotated[int | None, typer.Option(help="llm: self-consistency samples per segment; majority vote (needs temperature > 0).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="llm: segments per request.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="llm: requests in flight at once.")] = None,
    candidates: Annotated[int | None, typer.Option(help="llm: send only the K likeliest codes' full entries (labels of all).")] = None,
    exhaustive: Annotated[bool, typer.Option("--exhaustive", help="llm: send the full codebook (no candidate narrowing).")] = False,
    propose_codes: Annotated[bool, typer.Option("--propose-codes", help="llm: let the model propose new codes, stored apart for review.")] = False,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="llm: allow sending transcripts to a non-local endpoint.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="llm: estimate requests, tokens and cost; send nothing.")] = False,
    batch: Annotated[bool, typer.Option("--batch", help="llm: send through the provider's Batch API (half price, results within 24 h); run again to collect (docs/scale.md).")] = False,
    from_coder: Annotated[list[str] | None, typer.Option(
        "--from-coder", help="learned: learn from this coder's annotations (an imported .qdpx user; repeatable).")] = None,
    single: Annotated[bool, typer.Option("--single", help="learned, similarity: one code per segment (single-label scheme).")] = False,
    no_reviews: Annotated[bool, typer.Option("--no-reviews", help="learned: ignore review decisions as examples.")] = False,
    new_run: Annotated[bool, typer.Option("--new-run", help="code again even when a finished run of this same command "
                                                            "on the same segments exists (default: report that run).")] = False,
    project: ProjectOption = None,
) -> None:
    """Propose codes for every participant segment; the run and its suggestions are stored.

    With --coder llm, re-running the same command completes an interrupted run (segments already
    coded are not sent again); the exit code is 1 while segments remain failed.
    """
    values = dict(model=model, base_url=base_url, temperature=temperature, samples=samples, batch_size=batch_size,
                  concurrency=concurrency, candidates=candidates, exhaustive=exhaustive, propose_codes=propose_codes,
                  allow_remote=allow_remote, batch=batch)
    llm = None
    if coder == "llm":
        from pipeline.coders.llm import LLMOptions

        llm = LLMOptions(**values)
    elif dry_run or any(v not in (None, False) for v in values.values()):
        raise PrecodeError("--model, --base-url, --temperature, --samples, --batch-size, --concurrency, --candidates,"
                           " --exhaustive, --propose-codes, --allow-remote and --dry-run apply to --coder llm only")
    learned = None
    if coder == "learned":
        learned = {"from_coder": from_coder or [], "single": single, "reviews": not no_reviews}
    elif coder == "similarity" and single and not (from_coder or no_reviews or top_k not in (None, 1)):
        top_k = 1  # single-label: the nearest code that passes the threshold and margin
    elif from_coder or single or no_reviews:
        raise PrecodeError("--from-coder and --no-reviews apply to --coder learned only; --single to learned and similarity"
                           " (where it means --top-k 1)")
    from pipeline.store.failures import report_interrupt

    proj = find_project(project)
    with report_interrupt(proj.db):  # Ctrl-C: say which run stopped and what it saved
        _code(proj, codebook, coder, level, transcript, threshold, top_k, llm, dry_run, learned, new_run)


def _export(project: Project, fmt: str, out: Path | None, run_id: str | None, all_groundings: bool,
            include_all: bool = False, accepted: bool = False, qdpx: dict[str, Any] | None = None,
            reviewer: str | None = None) -> Path:
    from pipeline.interchange.cli import default_export_path, export_codings, is_codings_export
    from pipeline.interchange.tabular import write_export

    if note := project.db.incomplete_note(run_id):  # an incomplete run is exported, with a word about it
        err.print(f"[yellow]note[/] {escape(note)}", highlight=False, soft_wrap=True)
    if is_codings_export(fmt, all_groundings, include_all, accepted):  # checks the options fit together
        return export_codings(project, fmt, out or default_export_path(project, fmt, accepted), run_id, include_all,
                              **(qdpx or {}), reviewer=reviewer)
    if reviewer is not None:
        raise PrecodeError("--reviewer applies to the codings exports: --format xlsx, or csv/jsonl with --accepted",
                           hint="a run's suggestions are the machine's; add --accepted for one reviewer's codings")
    out = out or project.root / f"export.{fmt}"
    n = write_export(project, fmt, out, run_id, all_groundings)
    console.print(f"Wrote {n} coded quotes to [bold]{out}[/]")
    return out


@app.command()
def export(
    format: Annotated[str, typer.Option("--format", "-f", help="csv | jsonl (suggestions) | qdpx | xlsx (codings)")] = "csv",
    out: Annotated[Path | None, typer.Option(
        help="Output file (default: export.FORMAT in the project; accepted.FORMAT with --accepted).")] = None,
    run: Annotated[str | None, typer.Option(help="Run id or unique prefix (default: the latest run).")] = None,
    include_ungrounded: Annotated[bool, typer.Option(help="csv/jsonl: also suggestions whose quote was not found.")] = False,
    accepted: Annotated[bool, typer.Option(
        "--accepted", help="csv/jsonl: the accepted codings, one row per coding as in the xlsx, not the suggestions.")] = False,
    all_: Annotated[bool, typer.Option(
        "--all", help="qdpx/xlsx, csv/jsonl --accepted: every grounded suggestion, not only accepted ones.")] = False,
    only_reviewed: Annotated[bool, typer.Option(
        "--only-reviewed", help="qdpx: of precode's suggestions only the accepted ones (the default).")] = False,
    coder: Annotated[list[str] | None, typer.Option(
        "--coder", help="qdpx: only codings by this user (repeatable): an imported user, a reviewer or a machine user.")] = None,
    no_machine: Annotated[bool, typer.Option(
        "--no-machine", help="qdpx: leave precode's suggestions and decisions out (the imported project alone).")] = False,
    reviewer: Annotated[str | None, typer.Option(
        "--reviewer", help="qdpx, xlsx, csv/jsonl --accepted: only this reviewer's decisions and added codes "
                           "(default: each suggestion's latest decision of anyone).")] = None,
    project: ProjectOption = None,
) -> None:
    """Write a run's suggestions (csv, jsonl) or its reviewed codings (REFI-QDA qdpx, Excel xlsx).

    qdpx holds the whole project, no run needed: every source, the imported code tree, users,
    codings, notes, variables and cases as they came, and precode's codings beside them. qdpx and
    xlsx hold the accepted review decisions (with the reviewer's corrections) and the codes
    reviewers added by hand, or with --all every grounded suggestion; csv/jsonl with --accepted
    hold the same rows as the xlsx. See docs/refi-qda.md.
    """
    qdpx = {"coders": coder or [], "only_reviewed": only_reviewed, "machine": not no_machine}
    _export(find_project(project), format, out, run, include_ungrounded, all_, accepted, qdpx, reviewer=reviewer)


@app.command()
def status(project: ProjectOption = None) -> None:
    """What is in the project: transcripts, segments, runs, suggestions."""
    proj = find_project(project)
    counts = proj.db.counts()
    console.print(f"Project [bold]{proj.root}[/]")
    for key, value in counts.items():
        console.print(f"  {key.replace('_', ' ')}: {value}")
    overview = proj.db.transcript_overview()
    if overview:
        names = Table("transcript", "version", "format", "segments", "coded", "speakers")
        for t in overview:
            names.add_row(escape(t["name"]), str(t["version"]), t["format"], str(t["segments"]), str(t["coded"]),
                          escape(t["roles"] or ""))
        console.print(names)
    runs = proj.db.runs()
    stale = proj.db.stale_runs()
    if runs:
        table = Table("run", "coder", "model", "codebook", "level", "status", "segments", "suggestions", "started")
        for r in runs:
            table.add_row(r.id, r.coder, r.model or "", r.codebook_id, r.level or "",
                          r.status.value + (" [yellow](stale)[/]" if r.id in stale else ""),
                          str(r.counts.get("segments", "")), str(r.counts.get("suggestions", "")),
                          r.started_at.strftime("%Y-%m-%d %H:%M"))
        console.print(table)
    for r in runs:  # why a run ended incomplete or failed (one line each)
        if r.reason:
            console.print(f"run {r.id}: {escape(r.status_text)}", highlight=False, soft_wrap=True)
    for run_id, why in stale.items():
        console.print(f"[yellow]stale[/] run {run_id}: " + escape("; ".join(f"{w.transcript_name}: {w.reason}" for w in why))
                      + " — its codes on those transcripts predate the change; code them again for a current run",
                      highlight=False)
    from pipeline.llm.batch import print_batches

    print_batches(console, proj.root)


@app.command()
def similar(
    text: Annotated[str, typer.Argument(help="What to look for, in your own words or a quote.")],
    k: Annotated[int, typer.Option("-k", help="How many passages to show.")] = 5,
    project: ProjectOption = None,
) -> None:
    """Find the passages (segments) nearest in meaning to TEXT, by their embeddings (chromadb)."""
    from pipeline.similar import similar_passages

    passages = similar_passages(find_project(project), text, k)
    table = Table("score", "transcript", "speaker", "passage", show_header=True)
    for p in passages:
        table.add_row(f"{p.score:.3f}", escape(p.transcript), escape(p.speaker), escape(p.text))
    console.print(table)


@app.command()
def run(
    paths: Annotated[list[Path], typer.Argument(help="Transcript files or folders.")],
    codebook: CodebookOption = "nasss",
    coder: Annotated[str, typer.Option(help="similarity (offline baseline).")] = "similarity",
    level: Annotated[str | None, typer.Option(help="Tree level to code at (default: leaf, the finest codes).")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="csv | jsonl")] = "csv",
    out: Annotated[Path | None, typer.Option(help="Export file (default: export.FORMAT in the project).")] = None,
    project: Annotated[Path, typer.Option("--project", "-p", envvar="PRECODE_PROJECT",
                                          help="Project directory, created if needed.")] = Path("precode-project"),
) -> None:
    """The whole job: init the project if needed, ingest PATHS, code them, export the suggestions."""
    proj, created = init_project(project)
    if created:
        console.print(f"Created project [bold]{proj.root}[/]")
    failed = _ingest(proj, paths, None)
    # the whole job always records its own run (its export names it); `precode code` reuses an unchanged one
    _code(proj, codebook, coder, level, None, None, None, new_run=True)
    path = _export(proj, format, out, None, False)
    console.print(f"Results: [bold]{path}[/]  (project: {proj.root}; see 'precode status -p {project}')")
    if failed:
        raise typer.Exit(1)


@codebook_app.command("validate")
def codebook_validate(
    file: Annotated[str, typer.Argument(help="A codebook YAML file (or nasss / qif).")],
    strict: Annotated[bool, typer.Option("--strict", help="Also warn, one line per code and empty field, about codes without a definition text, include/exclude rules or examples (optional: the exit code stays 0).")] = False,
) -> None:
    """Check a codebook: ids, parents, cycles, labels; --strict also names empty definitions, rules and examples."""
    from pipeline.codebook import codebook_warnings

    cb = load_codebook(file)
    per_level = ", ".join(f"{len(cb.at_level(level))} {level}" for level in cb.levels)
    console.print(f"[green]valid[/] {cb.source}: {cb.name} v{cb.version} — {len(cb.codes)} codes ({per_level})")
    for line in codebook_warnings(cb) if strict else []:
        err.print(f"[yellow]warning[/] {line}", highlight=False)


@codebook_app.command("show")
def codebook_show(
    name: Annotated[str, typer.Argument(help="nasss | qif | FILE")],
    full: Annotated[bool, typer.Option(help="Also print definitions, rules and examples.")] = False,
) -> None:
    """Print a codebook's tree (ids and labels; --full for definitions and rules)."""
    from rich.tree import Tree

    cb = load_codebook(name)
    root = Tree(f"[bold]{cb.name}[/] v{cb.version}")
    nodes: dict[str | None, Tree] = {None: root}
    for c in cb.codes:
        label = f"[cyan]{c.id}[/] {c.label} [dim]({c.level})[/]"
        if full:
            label += (f"\n[dim]{c.definition}[/]\n  include: " + "; ".join(c.include)
                      + "\n  exclude: " + "; ".join(c.exclude) + "\n  e.g. " + " | ".join(c.examples))
        nodes[c.id] = nodes[c.parent].add(label)
    console.print(root)


# Commands that live in their own modules are registered here, one line each.
from pipeline.evalpkg import use_our_eval  # noqa: E402

use_our_eval()  # precode's eval package, not a folder named eval/ in the working directory
from pipeline.review.cli import review  # noqa: E402

app.command()(review)
from eval.cli import eval_command  # noqa: E402

app.command("eval")(eval_command)
from pipeline.ingest.cli import speakers_app  # noqa: E402
from pipeline.interchange.cli import convert_codebook, import_qdpx  # noqa: E402

app.add_typer(speakers_app, name="speakers")

app.command("import")(import_qdpx)
codebook_app.command("convert")(convert_codebook)
from pipeline.llm.check import llm_app  # noqa: E402

app.add_typer(llm_app, name="llm")
from pipeline.vectors_cli import vectors_app  # noqa: E402

app.add_typer(vectors_app, name="vectors")


def main() -> None:
    """Entry point: user errors print as one clear message, without a traceback, exit code 2."""
    import sqlite3

    try:
        app()
    except PrecodeError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    except (sqlite3.Error, OSError) as exc:  # read-only project, full disk, locked database …
        from pipeline.store.failures import storage_error_message

        err.print(f"[red]error:[/] {escape(storage_error_message(exc))}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted: each file, batch or change is stored whole or not at all; nothing half-written was kept",
                  highlight=False)
        sys.exit(130)
