"""The LLM coder: a chat model reads each segment against the codebook and proposes codes with quotes.

How a run goes:
1. Plan: segments are batched (consecutive segments of one transcript, `batch_size` a request),
   pseudonymized if configured, and rendered with the prompt templates: the system message holds
   the instructions and the codebook, identical for every request (with candidate narrowing, every
   code's id and label; the candidates' full entries then travel with the segments). Each request
   (× `samples`) has a cache key; a request bigger than the context window stops the run before
   anything is sent.
2. Answers already in the cache are used first; the rest are sent with at most `concurrency`
   requests in flight (asyncio). Invalid output is re-asked with the validation error, at most
   `reasks` times (tenacity); transport failures are retried in the client.
3. Each answer is checked item by item (pipeline.llm.checks): unknown codes, duplicates and
   quotes from the wrong segment are rejected and recorded; every quote is grounded; with
   `samples` > 1 the majority vote decides (pipeline.llm.vote).
4. Each finished batch is yielded as a `CodedBatch` that the orchestrator stores in one
   transaction with its progress and records (calls, cache entries, rejections, provenance,
   proposals, samples); a batch whose request failed marks its segments failed. A re-run of the
   same command resumes the run (pipeline.coding) and finds finished answers in the cache, so
   nothing is asked twice.

The coder reads nothing from the database itself: cached answers, the transcripts' speakers and
metadata (the participant's group and role, shown by prompt code.v2) and the embedding stage come
in through the `CodingContext`. Its errors name settings; the command
line rewords them with its flags (pipeline.llm.cli.with_flags).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from pipeline.coders.base import CodedBatch, CoderSettingsError, CodingContext, suggestion_id
from pipeline.llm.answer import Answer, InvalidAnswer, answer_schema, parse_answer
from pipeline.llm.cache import cache_entry, cache_key
from pipeline.llm.checks import CheckedProposal, CheckedSegment, check_segment
from pipeline.llm.client import ChatClient, RequestFailed, Usage, preflight
from pipeline.llm.failures import adaptation_rows
from pipeline.llm.pricing import (
    TOKENS_PER_MESSAGE,
    TOKENS_PER_REPLY,
    cost_usd,
    count_prompt_tokens,
    count_tokens,
    estimate_tokens,
    find_price,
)
from pipeline.llm.profiles import resolve
from pipeline.llm.prompt import SegmentView, lead_ins, load_prompt, shorten_context
from pipeline.llm.pseudonym import Pseudonymizer, Pseudonyms
from pipeline.llm.records import CallRecord, SuggestionProvenance, call_row, proposal_rows, rejection_rows, sample_rows
from pipeline.llm.report import report_from_totals
from pipeline.llm.vote import majority
from pipeline.models import Code, Segment, Suggestion, TranscriptMetadata
from pipeline.settings import LLMSettings
from pipeline.store.llm import LLMRecord
from pipeline.store.runs import RunTotals


class LLMOptions(BaseModel):
    """Command-line overrides of `[llm]` settings (None: keep the setting)."""

    model: str | None = None
    base_url: str | None = None
    temperature: float | None = None
    samples: int | None = None
    batch_size: int | None = None
    concurrency: int | None = None
    candidates: int | None = None
    exhaustive: bool = False
    propose_codes: bool = False
    allow_remote: bool = False
    batch: bool = False  # send through the provider's Batch API (pipeline.llm.batch)


_OPTION_FIELDS = {"model": "model", "base_url": "base_url", "temperature": "temperature", "samples": "samples",
                  "batch_size": "batch_size", "concurrency": "concurrency", "candidates": "candidates_top_k"}


def effective_settings(settings: LLMSettings, options: LLMOptions) -> LLMSettings:
    """The `[llm]` settings with the command line's options laid over them, validated again."""
    update: dict[str, Any] = {field: getattr(options, opt) for opt, field in _OPTION_FIELDS.items()
                              if getattr(options, opt) is not None}
    if options.exhaustive:
        update["candidates_top_k"] = 0
    if options.propose_codes:
        update["propose_codes"] = True
    if options.allow_remote:
        update["allow_remote"] = True
    try:
        return LLMSettings.model_validate({**settings.model_dump(), **update})
    except ValidationError as exc:
        names = {field: opt for opt, field in _OPTION_FIELDS.items()}
        problems = [(names.get(str(e["loc"][0]), str(e["loc"][0])), str(e["msg"])) for e in exc.errors()]
        raise CoderSettingsError("invalid_options", {"problems": problems},
                               "invalid LLM option: " + "; ".join(f"{o}: {m}" for o, m in problems)) from None


class DryRunEstimate(BaseModel):
    """What a run would send and cost, computed without contacting the model."""

    model: str
    segments: int
    requests: int
    cached_requests: int
    prompt_chars: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    max_request_tokens: int
    context_tokens: int
    narrowed: bool
    tokenizer: str | None = None  # the BPE prompt tokens were counted with (None: 4 characters a token)


@dataclass
class _Outcome:
    call: CallRecord
    answer: Answer | None = None
    content: str | None = None
    finish_reason: str | None = None
    recorded: bool = False  # its call row (and, for a model answer, its cache entry) is stored

    def records(self, run_id: str, key: str, model: str) -> list[LLMRecord]:
        """Its call row (and, for a model answer, its cache entry), the first time it is asked for."""
        if self.recorded:
            return []
        self.recorded = True
        rows: list[LLMRecord] = []
        if self.answer is not None and self.call.outcome == "ok":
            rows.append(cache_entry(key, model, self.content or "", self.finish_reason, self.call.usage))
        rows.append(call_row(run_id, self.call))
        return rows


@dataclass
class _Batch:
    segments: list[Segment]
    labels: list[str]
    messages: list[dict[str, str]]
    pseudonyms: Pseudonyms
    response_format: dict[str, Any] | None
    keys: list[str]  # one per sample
    outcomes: dict[int, _Outcome] = field(default_factory=dict)
    schema_format: dict[str, Any] | None = None  # sent instead of json_object to servers that need json_schema

    @property
    def prompt_chars(self) -> int:
        return sum(len(m["content"]) for m in self.messages)


class LLMCoder:
    """Codes segments with an OpenAI-compatible chat model (see the module docstring)."""

    name = "llm"
    embeds_quote_units = False
    batch_segments = 0  # all at once: requests of the whole run flow through one pool of `concurrency`

    def __init__(self, settings: LLMSettings, dry_run: bool = False):
        if not settings.model:
            raise CoderSettingsError("no_model", {}, "no model given for the LLM coder", path="[llm] model",
                                   hint="set model in the [llm] section of precode.toml")
        if settings.samples > 1 and settings.temperature == 0:
            raise CoderSettingsError(
                "samples_need_temperature", {"samples": settings.samples},
                f"samples = {settings.samples} needs a temperature above 0 (identical samples would vote "
                "unanimously)", hint="set [llm] temperature, e.g. 0.7")
        if not dry_run:
            preflight(settings)  # refuse a remote endpoint or a missing key before anything else happens
        self.settings = settings
        self.model: str = settings.model
        self.prompt = load_prompt(settings.prompt, settings.research_question)
        self.prompt_hash: str = self.prompt.hash
        self.price = find_price(settings.model, settings.prices)

    # -- the Coder protocol --------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        s = self.settings
        p = s.pseudonymize
        return {
            "provider": s.provider, "base_url": s.base_url, "temperature": s.temperature, "seed": s.seed,
            "max_tokens": s.max_tokens, "response_format": s.response_format, "batch_size": s.batch_size,
            "samples": s.samples, "candidates_top_k": s.candidates_top_k, "propose_codes": s.propose_codes,
            "prompt_version": self.prompt.version,
            "pseudonymize": {"enabled": p.enabled, "speaker_names": p.speaker_names, "patterns": p.patterns,
                             "names_sha256": hashlib.sha256("\n".join(sorted(p.names)).encode()).hexdigest()}
                            if p.enabled else {"enabled": False},
        }

    def counts(self, totals: RunTotals) -> dict[str, int]:
        return report_from_totals(totals).counts()

    def code(self, segments: Sequence[Segment], context: CodingContext) -> Iterator[CodedBatch]:
        batches = self._plan(list(segments), context)
        too_big = [b for b in batches if self._request_tokens(b) > self.settings.context_tokens]
        if too_big:
            tokens = max(map(self._request_tokens, too_big))
            raise CoderSettingsError(
                "request_too_big", {"requests": len(too_big), "tokens": tokens},
                f"{len(too_big)} request(s) need about {tokens} tokens, more than "
                f"the model's context of {self.settings.context_tokens} ([llm] context_tokens)",
                hint="lower batch_size, narrow the codebook with candidates_top_k, or raise context_tokens if the "
                     "model allows it (a local server may silently cut a prompt that is too long)")
        waiting = []
        for batch in batches:
            for sample, key in enumerate(batch.keys):
                cached = context.cache.get(key)
                if cached is None:
                    continue
                try:
                    answer = parse_answer(cached.content, batch.labels, cached.finish_reason)
                except InvalidAnswer:
                    continue
                batch.outcomes[sample] = _Outcome(
                    CallRecord(cache_key=key, segment_ids=[s.id for s in batch.segments], sample=sample,
                               outcome="cache_hit"), answer)
            if len(batch.outcomes) == self.settings.samples:
                yield self._finish(batch, context)
            else:
                waiting.append(batch)
        if waiting:
            yield from self._ask_all(waiting, context)

    # -- dry run --------------------------------------------------------------------------------
    def estimate(self, segments: list[Segment], context: CodingContext) -> DryRunEstimate:
        """Tokens and cost of coding `segments`, from the rendered prompts; no network call is made."""
        batches = self._plan(segments, context)
        codes = context.codes
        tokenizer = resolve(self.settings).tokenizer  # OpenAI models: their BPE; others at 4 characters a token
        counted: dict[str, int] = {}  # content -> tokens (the system message is the same in every request)

        def tokens(messages: list[dict[str, str]]) -> int:
            if tokenizer is None:
                return count_prompt_tokens(messages, None)
            for m in messages:
                if m["content"] not in counted:
                    counted[m["content"]] = count_tokens(m["content"], tokenizer)
            return sum(TOKENS_PER_MESSAGE + counted[m["content"]] + count_tokens(m["role"], tokenizer)
                       for m in messages) + TOKENS_PER_REPLY

        requests = cached = chars = prompt_tokens = completion_tokens = 0
        for batch in batches:
            for key in batch.keys:
                requests += 1
                if context.cache.get(key) is not None:
                    cached += 1
                    continue
                chars += batch.prompt_chars
                prompt_tokens += tokens(batch.messages)
                completion_tokens += self.settings.output_tokens_per_segment * len(batch.segments)
        return DryRunEstimate(
            model=self.model, segments=len(segments), requests=requests, cached_requests=cached, prompt_chars=chars,
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            cost_usd=cost_usd(self.price, prompt_tokens, completion_tokens),
            max_request_tokens=max((self._request_tokens(b) for b in batches), default=0),
            context_tokens=self.settings.context_tokens, narrowed=self._narrowing(codes), tokenizer=tokenizer,
        )

    def prompts(self, segments: list[Segment], context: CodingContext) -> list[list[dict[str, str]]]:
        """The messages of every request the run would send (first sample), to inspect or measure them."""
        return [batch.messages for batch in self._plan(segments, context)]

    # -- planning -------------------------------------------------------------------------------
    def _narrowing(self, codes: list[Code]) -> bool:
        return 0 < self.settings.candidates_top_k < len(codes)

    def _request_tokens(self, batch: _Batch) -> int:
        return estimate_tokens(batch.prompt_chars) + self.settings.max_tokens

    def _response_format(self, labels: list[str], codes: list[Code]) -> dict[str, Any] | None:
        fmt = resolve(self.settings).response_format  # the profiles' choice unless [llm] sets it
        if fmt == "json_object":
            return {"type": "json_object"}
        if fmt == "json_schema":
            return {"type": "json_schema", "json_schema": {
                "name": "coding_answer", "strict": True,
                "schema": answer_schema(labels, [c.id for c in codes], self.settings.propose_codes)}}
        return None

    def _request_params(self, sample: int) -> dict[str, Any]:
        s = self.settings
        return {"base_url": s.base_url, "temperature": s.temperature, "seed": s.seed + sample,
                "max_tokens": s.max_tokens, "max_tokens_param": s.max_tokens_param,
                "response_format": s.response_format}

    def _plan(self, segments: list[Segment], context: CodingContext) -> list[_Batch]:
        s = self.settings
        codebook, codes = context.codebook, context.codes
        narrowed = self._narrowing(codes)
        shortlist: dict[str, list[str]] = {}
        if narrowed:
            from pipeline.llm.narrowing import candidates

            shortlist = candidates(context.embeddings, codebook, codes, segments, s.candidates_top_k)
        system = self.prompt.system(codebook, codes, context.level, narrowed, s.propose_codes)
        speakers = {name for seg in segments for name in context.speakers.get(seg.transcript_id, ())}
        pseudonymizer = Pseudonymizer(s.pseudonymize, speakers if s.pseudonymize.enabled else ())
        groups: list[list[Segment]] = []
        for seg in segments:
            if groups and groups[-1][0].transcript_id == seg.transcript_id and len(groups[-1]) < s.batch_size:
                groups[-1].append(seg)
            else:
                groups.append([seg])
        batches = []
        for group in groups:
            questions = [shorten_context(seg.context) for seg in group]
            leads = lead_ins(group, segments)  # rendered by prompts that show them (code.v2)
            who = participant(context.metadata.get(group[0].transcript_id))  # a group is one transcript's
            texts, pseudonyms = pseudonymizer.apply([seg.text for seg in group] + [q or "" for q in questions]
                                                    + [lead or "" for lead in leads] + [who or ""])
            labels = [f"S{i + 1}" for i in range(len(group))]
            views = [SegmentView(label, text, texts[len(group) + i] or None, texts[2 * len(group) + i] or None,
                                 texts[3 * len(group)] or None)
                     for i, (label, text) in enumerate(zip(labels, texts[:len(group)], strict=True))]
            candidate_codes = None
            if narrowed:
                wanted = {code_id for seg in group for code_id in shortlist.get(seg.id, [])}
                candidate_codes = [c for c in codes if c.id in wanted]
            messages = [{"role": "system", "content": system},
                        {"role": "user", "content": self.prompt.user(codebook, views, candidate_codes, s.propose_codes)}]
            keys = [cache_key(self.model, self._request_params(i), self.prompt_hash, codebook.content_hash, messages)
                    for i in range(s.samples)]
            batches.append(_Batch(group, labels, messages, pseudonyms, self._response_format(labels, codes), keys,
                                  schema_format={"type": "json_schema", "json_schema": {
                                      "name": "coding_answer", "strict": True,
                                      "schema": answer_schema(labels, [c.id for c in codes], s.propose_codes)}}))
        return batches

    # -- asking ---------------------------------------------------------------------------------
    def _ask_all(self, batches: list[_Batch], context: CodingContext) -> Iterator[CodedBatch]:
        """Send every missing request, `concurrency` at a time; yield each batch once all its samples are in.

        One thread, one event loop. Answers received but not yet stored count against `concurrency`
        like requests in flight, so a process killed at any moment loses at most `concurrency`
        answers (asked again on resume). As each answer is stored (the consumer resumes this
        generator after committing it), the next request is started, so requests keep flowing
        while the consumer writes to the database.
        """
        todo = deque((batch, sample) for batch in batches for sample in range(self.settings.samples)
                     if sample not in batch.outcomes)
        loop = asyncio.new_event_loop()
        client = ChatClient(self.settings)
        adapted = 0
        active: dict[asyncio.Task[_Outcome], tuple[_Batch, int]] = {}

        def top_up(unstored: int) -> None:
            """Start requests until those in flight plus the `unstored` answers reach `concurrency`."""
            while todo and len(active) + unstored < self.settings.concurrency:
                batch, sample = todo.popleft()
                active[loop.create_task(self._ask(client, batch, sample))] = (batch, sample)
            loop.run_until_complete(asyncio.sleep(0))  # the new requests start before the answers are stored

        try:
            top_up(0)
            while active:
                finished, _ = loop.run_until_complete(asyncio.wait(active, return_when=asyncio.FIRST_COMPLETED))
                results = [(*active.pop(task), task.result()) for task in finished]  # a fatal error raises here
                top_up(len(results))
                if len(client.adaptations) > adapted:  # parameters the server refused: stored with the run
                    yield CodedBatch(records=adaptation_rows(context.run_id, client.adaptations[adapted:]))
                    adapted = len(client.adaptations)
                for stored, (batch, sample, outcome) in enumerate(results, start=1):
                    batch.outcomes[sample] = outcome
                    if len(batch.outcomes) == self.settings.samples:
                        yield self._finish(batch, context)  # its records hold the calls, stored with the batch
                    else:  # other samples still to come: keep this answer and its cost even if the process dies
                        yield CodedBatch(records=outcome.records(context.run_id, batch.keys[sample], self.model))
                    top_up(len(results) - stored)
        finally:
            for task in active:
                task.cancel()
            if active:
                loop.run_until_complete(asyncio.gather(*active, return_exceptions=True))
            loop.run_until_complete(client.close())
            loop.close()

    async def _ask(self, client: ChatClient, batch: _Batch, sample: int) -> _Outcome:
        """One request with its re-asks; failures come back as a failed outcome, not an exception."""
        s = self.settings
        usage, http, retries, reasks, waited = Usage(), 0, 0, 0, 0.0
        call = dict(cache_key=batch.keys[sample], segment_ids=[seg.id for seg in batch.segments], sample=sample)
        started = time.perf_counter()
        messages = batch.messages
        try:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(s.reasks + 1), reraise=True,
                                               retry=retry_if_exception_type(InvalidAnswer)):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        reasks += 1
                    result = await client.complete(messages, seed=s.seed + sample, temperature=s.temperature,
                                                   response_format=batch.response_format,
                                                   schema_format=batch.schema_format)
                    usage, http, retries = usage + result.usage, http + result.http_attempts, \
                        retries + result.http_attempts - 1
                    waited += result.waited
                    try:
                        answer = parse_answer(result.content, batch.labels, result.finish_reason)
                    except InvalidAnswer as exc:
                        messages = [*batch.messages, {"role": "assistant", "content": result.content or ""},
                                    {"role": "user", "content": self.prompt.reask(str(exc), batch.labels)}]
                        raise
        except (InvalidAnswer, RequestFailed) as exc:
            if isinstance(exc, RequestFailed):
                http, retries, waited = http + exc.http_attempts, retries + exc.http_attempts - 1, waited + exc.waited
                usage = usage + exc.abandoned  # prompt tokens of timed-out attempts, estimated
                error = str(exc)
            else:
                error = f"no valid answer after {reasks + 1} attempt(s): {exc}"
            return _Outcome(CallRecord(**call, outcome="failed", http_attempts=http, retries=retries, reasks=reasks,
                                       usage=usage, cost_usd=self._cost(usage), waited=waited,
                                       seconds=time.perf_counter() - started, error=error))
        return _Outcome(CallRecord(**call, outcome="ok", http_attempts=http, retries=retries, reasks=reasks, usage=usage,
                                   cost_usd=self._cost(usage), waited=waited, seconds=time.perf_counter() - started),
                        answer, result.content, result.finish_reason)

    def _cost(self, usage: Usage) -> float | None:
        return cost_usd(self.price, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)

    # -- from answers to suggestions --------------------------------------------------------------
    def _finish(self, batch: _Batch, context: CodingContext) -> CodedBatch:
        records = [r for sample, outcome in batch.outcomes.items()
                   for r in outcome.records(context.run_id, batch.keys[sample], self.model)]
        failed = [o.call.error for o in batch.outcomes.values() if o.answer is None]
        if failed:
            return CodedBatch(failed={seg.id: failed[0] or "failed" for seg in batch.segments}, records=records)
        code_ids = {c.id for c in context.codes}
        labels = {c.label.casefold(): c.id for c in context.codebook.codes}
        all_ids = set(context.codebook.by_id)
        checked: dict[str, list[CheckedSegment]] = {seg.id: [] for seg in batch.segments}
        for sample in range(self.settings.samples):
            answer = batch.outcomes[sample].answer
            assert answer is not None  # no sample failed
            answers = answer.by_label()
            for label, seg in zip(batch.labels, batch.segments, strict=True):
                checked[seg.id].append(check_segment(answers[label], seg, batch.segments, code_ids, labels, all_ids,
                                                     batch.pseudonyms, self.settings.propose_codes, sample,
                                                     self.settings.min_evidence_words))
        suggestions: list[Suggestion] = []
        provenance: list[SuggestionProvenance] = []
        proposals: list[tuple[Segment, CheckedProposal]] = []
        for seg in batch.segments:
            for voted in majority(checked[seg.id]):
                evidence = voted.code.evidence
                sid = suggestion_id(context.run_id, seg.id, voted.code.code_id)
                suggestions.append(Suggestion(
                    id=sid, run_id=context.run_id, segment_id=seg.id, transcript_id=seg.transcript_id,
                    code_id=voted.code.code_id, quote=evidence.text, quote_start=evidence.match.start,
                    quote_end=evidence.match.end, grounding=evidence.match.grounding, score=voted.score,
                    rationale=voted.code.rationale,
                ))
                provenance.append(SuggestionProvenance(
                    suggestion_id=sid, prompt_version=self.prompt.version, prompt_hash=self.prompt_hash,
                    cache_key=batch.keys[voted.sample], model_quote=evidence.model_quote,
                    match_score=evidence.match.score, model_confidence=voted.code.confidence, votes=voted.votes,
                    samples=voted.samples, evidence_note=evidence.match.note, evidence_parts=evidence.match.parts,
                ))
            seen: set[str] = set()
            for answered in checked[seg.id]:
                for proposal in answered.proposals:
                    if proposal.label.casefold() not in seen:
                        seen.add(proposal.label.casefold())
                        proposals.append((seg, proposal))
        samples = [c for group in checked.values() for c in group]
        records += rejection_rows(context.run_id, (r for c in samples for r in c.rejections))
        records += provenance
        records += proposal_rows(context.run_id, proposals)
        if self.settings.samples > 1:
            records += sample_rows(context.run_id, samples)
        return CodedBatch(suggestions, done=[seg.id for seg in batch.segments], records=records)


def participant(metadata: TranscriptMetadata | None) -> str | None:
    """Who speaks, as prompt code.v2 shows it: the participant's group and role from the transcript's
    metadata ("nurse, ward 4"); None when the metadata says neither."""
    if metadata is None:
        return None
    extra = {k.casefold(): v for k, v in metadata.extra.items()}
    parts = [metadata.group, extra.get("role")]
    seen: list[str] = []
    for part in parts:
        if part and part.strip() and part.strip() not in seen:
            seen.append(part.strip())
    return ", ".join(seen) or None
