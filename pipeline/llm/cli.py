"""What `precode code --coder llm` prints: the run summary (calls, tokens, cost, grounding,
rejections) and the `--dry-run` estimate."""

from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.codebook import LEAF_LEVEL, Codebook
from pipeline.coders.base import CoderSettingsError
from pipeline.coders.llm import LLMCoder
from pipeline.coding import coding_context, select_segments
from pipeline.errors import PrecodeError
from pipeline.grounding import evidence_note
from pipeline.llm.pricing import CHARS_PER_TOKEN, estimate_tokens
from pipeline.llm.profiles import resolve
from pipeline.llm.report import run_report
from pipeline.models import Run
from pipeline.project import Project
from pipeline.store.llm import adaptations, reasoning_tokens, ungrounded_model_quotes


def _money(value: float | None, model: str) -> str:
    return f"${value:.4f}" if value is not None else escape(f"unknown (no price for '{model}' in [llm.prices])")


def print_estimate(console: Console, project: Project, coder: LLMCoder, codebook: Codebook, level: str | None,
                   transcripts: list[str] | None) -> None:
    segments = select_segments(project, transcripts)
    if not segments:
        raise PrecodeError("there are no segments to code in this project", hint="ingest transcripts first")
    level = level or LEAF_LEVEL
    context = coding_context(project, "", codebook, codebook.at_level(level), level, segments)
    est = coder.estimate(segments, context)
    tokenizer = est.tokenizer  # prompt tokens counted with the model's BPE (OpenAI models), else estimated
    table = Table("dry run (nothing sent)", "estimate", show_header=True)
    table.add_row("model", est.model)
    table.add_row("segments", str(est.segments))
    table.add_row("requests", f"{est.requests} ({est.cached_requests} answered from the cache)")
    table.add_row("candidate narrowing", "on" if est.narrowed else "off (full codebook)")
    table.add_row("prompt characters", f"{est.prompt_chars:,}")
    if tokenizer is None:
        table.add_row("prompt tokens", f"~{est.prompt_tokens:,}")
    else:
        table.add_row("prompt tokens", f"{est.prompt_tokens:,} (counted with {tokenizer}; "
                                       f"{estimate_tokens(est.prompt_chars):,} at {CHARS_PER_TOKEN} characters a token)")
    table.add_row("completion tokens", f"~{est.completion_tokens:,}")
    shape = resolve(coder.settings)
    if shape.reasoning:
        table.add_row("reasoning tokens", "not included: a reasoning model's hidden reasoning is billed as completion "
                                          f"tokens (reasoning_effort {shape.reasoning_effort or 'default'}); "
                                          "'precode llm check' shows one request's")
    cost = est.cost_usd
    table.add_row("cost", _money(cost, est.model))
    factor = coder.settings.batch_price_factor
    table.add_row("cost with --batch", _money(None if cost is None else cost * factor, est.model)
                  + " (provider Batch API: results within 24 h)")
    table.add_row("largest request", f"~{est.max_request_tokens:,} of {est.context_tokens:,} context tokens")
    console.print(table)
    how = (f"Prompt tokens are counted with the model's tokenizer ({tokenizer})" if tokenizer is not None
           else f"Tokens are estimated at {CHARS_PER_TOKEN} characters per token")
    console.print(f"[dim]{how}; completion tokens at {escape('[llm]')} output_tokens_per_segment per segment.[/]")
    if est.max_request_tokens > est.context_tokens:
        console.print("[red]The largest request does not fit the context window:[/] lower --batch-size or use "
                      "--candidates K.")


def with_flags(exc: CoderSettingsError) -> PrecodeError:
    """The LLM coder's settings error, worded with the command line's flags."""
    if exc.kind == "no_model":
        return PrecodeError("no model given for the LLM coder", path=exc.path,
                            hint="pass --model NAME or set model in the [llm] section of precode.toml")
    if exc.kind == "samples_need_temperature":
        return PrecodeError(f"--samples {exc.values['samples']} needs a temperature above 0 (identical samples "
                            "would vote unanimously)", hint="pass --temperature 0.7 or set [llm] temperature")
    if exc.kind == "invalid_options":
        return PrecodeError("invalid LLM option: " + "; ".join(f"--{option.replace('_', '-')}: {message}"
                                                               for option, message in exc.values["problems"]))
    if exc.kind == "request_too_big":
        return PrecodeError(exc.message,
                            hint="lower --batch-size, narrow the codebook with --candidates K, or raise context_tokens "
                                 "if the model allows it (a local server may silently cut a prompt that is too long)")
    return exc


PERMANENT = re.compile(r"HTTP (400|413|422)\b|content[_ ]?filter|content management policy|context[_ ]length|"
                       r"maximum context", re.IGNORECASE)


def weak_evidence(project: Project, run: Run) -> tuple[int, int]:
    """Ungrounded suggestions whose quote was elided, or shorter than [llm] min_evidence_words."""
    elided = short = 0
    minimum = project.settings.llm.min_evidence_words
    for quote in ungrounded_model_quotes(project.db.conn, run.id):
        note = evidence_note(quote, minimum)
        elided += note == "elided"
        short += note == "too_short"
    return elided, short


def print_run_report(console: Console, project: Project, run: Run) -> bool:
    """Print the run summary; True when every segment is coded."""
    r = run_report(project.db, run.id)
    table = Table("LLM run", "", show_header=True)
    table.add_row("requests", f"{r.calls} to the model, {r.cache_hits} from the cache, {r.failed_calls} failed")
    table.add_row("retries / re-asks", f"{r.retries} HTTP retries, {r.reasks} re-asks after invalid answers")
    reasoning = reasoning_tokens(project.db.conn, run.id)
    table.add_row("tokens", f"{r.prompt_tokens:,} prompt ({r.cached_tokens:,} cached by the provider), "
                            f"{r.completion_tokens:,} completion" + (f" ({reasoning:,} of them reasoning)" if reasoning else ""))
    for a in adaptations(project.db.conn, run.id):
        table.add_row(f"refused: {a.parameter}", escape(f"now {a.change} (the server said: {a.reason})"))
    cost = _money(r.cost_usd, run.model or "")
    if r.cost_usd is not None and r.unpriced_calls:
        cost += f" (+{r.unpriced_calls} calls without a price)"
    table.add_row("estimated cost", cost)
    table.add_row("quotes", ", ".join(f"{n} {g}" for g, n in r.grounding.items()))
    rejected = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in r.rejections.items() if n) or "none"
    table.add_row("rejected output", rejected)
    if r.proposals:
        table.add_row("new-code proposals", f"{r.proposals} (for review; not codebook codes)")
    table.add_row("segments", f"{r.segments_done} of {r.segments} coded, {r.segments_failed} failed")
    console.print(table)
    if r.grounding.get("ungrounded"):
        elided, short = weak_evidence(project, run)
        why = f" ({elided} elided with '...', {short} too short to be evidence)" if elided or short else ""
        console.print(f"[yellow]{r.grounding['ungrounded']} quote(s) were not found in their segment{escape(why)}:[/] "
                      "those suggestions are kept as 'ungrounded' and left out of exports (--include-ungrounded shows "
                      "them).")
    if not r.complete:
        console.print(f"[red]Run {run.id} is not finished (incomplete):[/] {r.segments_failed} segment(s) failed, e.g.")
        for failure in r.failures[:3]:
            console.print(f"  {failure}", highlight=False, markup=False)
        if r.failures and all(PERMANENT.search(f) for f in r.failures):
            console.print("These requests fail the same way on every try (re-running will not fix them): change what "
                          "the message names, or export what was coded with "
                          f"'precode export --run {run.id}'.", highlight=False, markup=False)
        else:
            console.print("Re-run the same command to retry them; segments already coded are not sent again.")
    return r.complete
