"""Provider batch mode for the LLM coder (`precode code --coder llm --batch`): OpenAI / Azure Batch API.

Instead of one synchronous request per batch of segments, every request the run still needs is
written as one JSONL line (`custom_id` = the request's cache key, `method`, `url`, `body` = the
same chat-completions body the synchronous path sends), uploaded through the Files API
(`purpose = batch`), and a batch is created on `/v1/chat/completions` (Azure: `/chat/completions`,
the deployment as model) with a 24 h completion window, at half the price.

Resumable across process restarts: each submitted batch is kept as a small JSON file in the
project's `batches/` folder (batch id, input file id, the custom ids, last status). Running the
same `precode code --batch` again polls the open batches (documented states: validating,
in_progress, finalizing, completed, failed, expired, cancelling, cancelled); a finished one is
collected: its output file's lines become answers, its error file's lines (and lines an expired or
cancelled batch never ran) become failed requests, whose segments are resubmitted in a new batch
by the next run. `[llm] batch_wait` seconds (default 0: submit or collect, then return) are spent
polling every `batch_poll` seconds within one command. `precode status` lists the batches.

Every answer goes through the synchronous path's own code: `parse_answer`, the item checks,
grounding, majority vote and `_finish` (pipeline.coders.llm), the response cache (an answer
collected here is a cache entry like any other, so the synchronous path reuses it and vice
versa), and call records with tokens and cost at the batch price (`batch_price_factor`, 0.5).
An invalid answer cannot be re-asked inside a batch; its request fails and is resubmitted.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.coders.base import CodedBatch, CodingContext
from pipeline.coders.llm import LLMCoder, _Batch, _Outcome
from pipeline.errors import PrecodeError
from pipeline.llm.answer import InvalidAnswer, parse_answer
from pipeline.llm.client import ChatClient, Usage, preflight
from pipeline.llm.local_batch import command_argv, read_results, run_command
from pipeline.llm.records import CallRecord
from pipeline.remote import use_environment_proxy
from pipeline.settings import LLMSettings

BATCHES_DIR = "batches"
TERMINAL = {"completed", "failed", "expired", "cancelled"}
MAX_LINES = 50_000  # OpenAI: at most 50,000 requests in one batch input file
MAX_BYTES = 190_000_000  # and at most 200 MB per file (a little room kept)
OPEN = {"validating", "in_progress", "finalizing", "cancelling"}


@dataclass
class BatchState:
    """One submitted provider batch, as kept in `<project>/batches/<id>.json`."""

    id: str
    input_file_id: str
    custom_ids: list[str]
    model: str
    status: str = "validating"
    submitted_at: float = field(default_factory=time.time)
    collected: bool = False
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{self.id}.json.tmp"
        tmp.write_text(json.dumps(self.__dict__, indent=1), encoding="utf-8")
        tmp.replace(folder / f"{self.id}.json")


def load_states(folder: Path) -> list[BatchState]:
    """Every batch this project submitted, oldest first."""
    if not folder.is_dir():
        return []
    states = [BatchState(**json.loads(p.read_text(encoding="utf-8"))) for p in folder.glob("*.json")]
    return sorted(states, key=lambda s: s.submitted_at)


def batch_client(settings: LLMSettings) -> Any:
    """A synchronous OpenAI (or Azure OpenAI) client for the Files and Batches endpoints."""
    import httpx
    import openai

    url, key = preflight(settings)  # the remote guard and the key, as for the synchronous path
    http = httpx.Client(proxy=settings.proxy, trust_env=use_environment_proxy(url), timeout=settings.timeout)
    common: dict[str, Any] = {"api_key": key, "max_retries": settings.retries, "timeout": settings.timeout,
                              "http_client": http}
    if settings.provider == "azure":
        return openai.AzureOpenAI(azure_endpoint=url or "", api_version=settings.api_version, **common)
    return openai.OpenAI(base_url=url, **common)


def _usage(body: dict[str, Any]) -> Usage:
    u = body.get("usage") or {}
    return Usage(prompt_tokens=int(u.get("prompt_tokens") or 0), completion_tokens=int(u.get("completion_tokens") or 0),
                 cached_tokens=int((u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0),
                 reasoning_tokens=int((u.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0))


def _line_failed(line: dict[str, Any]) -> bool:
    """A result line without an answer: an error, a status other than 200, or no choices."""
    response = line.get("response") or {}
    body = response.get("body")
    return bool(line.get("error")) or response.get("status_code") != 200 or not (
        isinstance(body, dict) and body.get("choices"))


def _error_text(line: dict[str, Any]) -> str:
    raw = line.get("error")
    # the Batch API: {"code", "message"}; vLLM's run_batch: a message, or an error response
    # ({"message", ...} or {"error": {"message", ...}})
    error: dict[str, Any] = raw if isinstance(raw, dict) else {"message": str(raw)} if raw else {}
    if isinstance(error.get("error"), dict):
        error = error["error"]
    response = line.get("response") or {}
    body = response.get("body")
    message = error.get("message")
    if not message and isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
    status = response.get("status_code")
    prefix = f"HTTP {status}: " if status else ""
    return f"batch line failed: {prefix}{message or error.get('code') or 'no answer'}"


class BatchLLMCoder(LLMCoder):
    """The LLM coder with its requests sent through the provider's Batch API (see the module docstring)."""

    def __init__(self, settings: LLMSettings, folder: Path, dry_run: bool = False):
        super().__init__(settings, dry_run=dry_run)
        self.folder = folder
        self.pending = 0  # requests submitted and not yet answered (after the last code() call)
        self.submitted: list[str] = []  # batch ids submitted by the last code() call

    def params(self) -> dict[str, Any]:
        return {**super().params(), "batch": True}

    def _cost(self, usage: Usage) -> float | None:
        full = super()._cost(usage)
        return None if full is None else full * self.settings.batch_price_factor

    @property
    def _endpoint(self) -> str:
        return "/chat/completions" if self.settings.provider == "azure" else "/v1/chat/completions"

    def _ask_all(self, batches: list[_Batch], context: CodingContext) -> Iterator[CodedBatch]:
        wanted: dict[str, list[tuple[_Batch, int]]] = {}
        for batch in batches:
            for sample in range(self.settings.samples):
                if sample not in batch.outcomes:
                    wanted.setdefault(batch.keys[sample], []).append((batch, sample))
        if self.settings.batch_command:  # a local server's offline batch entry point instead of the Batch API
            yield from self._ask_local(wanted, context)
            return
        client = batch_client(self.settings)
        try:
            open_states = [s for s in load_states(self.folder) if not s.collected and not s.id.startswith("local-")
                           and set(s.custom_ids) & set(wanted)]
            covered = {cid for s in open_states for cid in s.custom_ids}
            missing = [key for key in wanted if key not in covered]
            self.submitted = []
            for state in self._submit(client, missing, wanted) if missing else []:
                open_states.append(state)
                self.submitted.append(state.id)
            deadline = time.monotonic() + self.settings.batch_wait
            while True:
                for state in list(open_states):
                    self._refresh(client, state)
                    if state.status in TERMINAL:
                        open_states.remove(state)
                        yield from self._collect(client, state, wanted, context)
                if not open_states or time.monotonic() >= deadline:
                    break
                time.sleep(min(self.settings.batch_poll, max(deadline - time.monotonic(), 0)))
            self.pending = sum(len(set(s.custom_ids) & set(wanted)) for s in open_states)
        finally:
            client.close()

    def _submit(self, client: Any, keys: list[str],
                wanted: dict[str, list[tuple[_Batch, int]]]) -> list[BatchState]:
        """Upload the requests and create one batch per input file (split at the provider's limits)."""
        lines = self._request_lines(keys, wanted)
        chunks: list[tuple[list[str], list[bytes]]] = [([], [])]
        size = 0
        for key, line in zip(keys, lines, strict=True):
            data = (line + "\n").encode()
            if chunks[-1][0] and (len(chunks[-1][0]) >= self.settings.batch_max_requests or size + len(data) > MAX_BYTES):
                chunks.append(([], []))
                size = 0
            chunks[-1][0].append(key)
            chunks[-1][1].append(data)
            size += len(data)
        states = []
        for chunk_keys, chunk_lines in chunks:
            uploaded = client.files.create(file=("precode-requests.jsonl", b"".join(chunk_lines), "application/jsonl"),
                                           purpose="batch")
            created = client.batches.create(input_file_id=uploaded.id, endpoint=self._endpoint,
                                            completion_window="24h", metadata={"created_by": "precode"})
            state = BatchState(id=created.id, input_file_id=uploaded.id, custom_ids=chunk_keys, model=self.model,
                               status=created.status)
            state.save(self.folder)
            states.append(state)
        return states

    def _request_lines(self, keys: list[str], wanted: dict[str, list[tuple[_Batch, int]]]) -> list[str]:
        """One Batch API input line per request: the synchronous path's request body, profiles applied."""
        chat = ChatClient(self.settings)
        try:
            lines = []
            for key in keys:
                batch, sample = wanted[key][0]
                body = chat.body(chat.shape, batch.messages, seed=self.settings.seed + sample,
                                 temperature=self.settings.temperature, response_format=batch.response_format,
                                 schema_format=batch.schema_format)
                lines.append(json.dumps({"custom_id": key, "method": "POST", "url": self._endpoint, "body": body}))
        finally:
            asyncio.run(chat.close())
        return lines

    def _ask_local(self, wanted: dict[str, list[tuple[_Batch, int]]], context: CodingContext) -> Iterator[CodedBatch]:
        """Run the requests through `[llm] batch_command` (e.g. vLLM's run_batch) and collect its output file.

        The command runs to its end within this call; its request and result files (they hold the
        prompts and answers) live in `batches/` only while it runs; more than `batch_max_requests`
        requests run as several commands, one after the other. A local batch that a killed process
        left behind is marked cancelled: its requests are simply asked again.
        """
        self.submitted, self.pending = [], 0
        for stale in load_states(self.folder):
            if stale.id.startswith("local-") and not stale.collected:
                stale.status, stale.collected = "cancelled", True
                stale.save(self.folder)
        keys = list(wanted)
        step = self.settings.batch_max_requests  # one command run per this many requests: files and answers bounded
        for start in range(0, len(keys), step):
            yield from self._run_local(keys[start:start + step], wanted, context)

    def _run_local(self, keys: list[str], wanted: dict[str, list[tuple[_Batch, int]]],
                   context: CodingContext) -> Iterator[CodedBatch]:
        state = BatchState(id=f"local-{uuid.uuid4().hex[:12]}", input_file_id="", custom_ids=keys, model=self.model,
                           status="in_progress")
        requests, results = self.folder / f"{state.id}.requests.jsonl", self.folder / f"{state.id}.results.jsonl"
        log = self.folder / f"{state.id}.log"
        state.input_file_id = requests.name
        argv = command_argv(self.settings.batch_command or "", requests, results, self.model)
        state.save(self.folder)
        self.submitted.append(state.id)
        try:
            with requests.open("w", encoding="utf-8") as f:
                for line in self._request_lines(keys, wanted):
                    f.write(line + "\n")
            try:
                run_command(argv, log)
            except PrecodeError:
                state.status, state.collected = "failed", True
                state.save(self.folder)
                raise
            lines = list(read_results(results))
        finally:
            for path in (requests, results, log):
                path.unlink(missing_ok=True)
        answered = sum(1 for line in lines if not _line_failed(line))
        state.status = "completed"
        state.counts = {"total": len(keys), "completed": answered, "failed": len(keys) - answered}
        yield from self._collect_lines(state, lines, wanted, context)

    def _refresh(self, client: Any, state: BatchState) -> None:
        found = client.batches.retrieve(state.id)
        state.status = found.status
        state.output_file_id = found.output_file_id
        state.error_file_id = found.error_file_id
        counts = found.request_counts
        state.counts = {"total": counts.total, "completed": counts.completed, "failed": counts.failed} if counts else {}
        state.save(self.folder)

    def _lines(self, client: Any, file_id: str | None) -> list[dict[str, Any]]:
        if not file_id:
            return []
        text = client.files.content(file_id).text
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def _collect(self, client: Any, state: BatchState, wanted: dict[str, list[tuple[_Batch, int]]],
                 context: CodingContext) -> Iterator[CodedBatch]:
        """Turn a finished batch's output and error files into outcomes (see `_collect_lines`)."""
        lines = self._lines(client, state.output_file_id) + self._lines(client, state.error_file_id)
        yield from self._collect_lines(state, lines, wanted, context)

    def _collect_lines(self, state: BatchState, lines: list[dict[str, Any]],
                       wanted: dict[str, list[tuple[_Batch, int]]], context: CodingContext) -> Iterator[CodedBatch]:
        """Turn a finished batch's lines into outcomes; yield every batch of segments whose samples are all in."""
        seen: dict[str, _Outcome] = {}
        for line in lines:
            key = line.get("custom_id")
            if key in wanted and key not in seen:
                seen[key] = self._outcome(line, wanted[key][0])
        for key in state.custom_ids:
            if key in wanted and key not in seen:
                seen[key] = self._failed(wanted[key][0], f"batch {state.id} {state.status}: the request got no answer")
        state.collected = True
        state.save(self.folder)
        for key, outcome in seen.items():
            for i, (batch, sample) in enumerate(wanted[key]):
                # a request shared by two identical batches is paid once: the other gets a cache hit
                batch.outcomes[sample] = outcome if i == 0 else _Outcome(
                    CallRecord(cache_key=key, segment_ids=[s.id for s in batch.segments], sample=sample,
                               outcome="cache_hit"), outcome.answer)
                if len(batch.outcomes) == self.settings.samples:
                    yield self._finish(batch, context)
                else:
                    yield CodedBatch(records=batch.outcomes[sample].records(context.run_id, key, self.model))

    def _failed(self, target: tuple[_Batch, int], error: str, usage: Usage | None = None) -> _Outcome:
        batch, sample = target
        usage = usage or Usage()
        return _Outcome(CallRecord(cache_key=batch.keys[sample], segment_ids=[s.id for s in batch.segments],
                                   sample=sample, outcome="failed", http_attempts=1, usage=usage,
                                   cost_usd=self._cost(usage), error=error))

    def _outcome(self, line: dict[str, Any], target: tuple[_Batch, int]) -> _Outcome:
        batch, sample = target
        response = line.get("response") or {}
        raw = response.get("body")
        body: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if _line_failed(line):
            return self._failed(target, _error_text(line))
        usage = _usage(body)
        choice = body["choices"][0]
        content = (choice.get("message") or {}).get("content")
        finish_reason = choice.get("finish_reason")
        try:
            answer = parse_answer(content, batch.labels, finish_reason)
        except InvalidAnswer as exc:
            return self._failed(target, f"no valid answer in the batch output: {exc}", usage)
        call = CallRecord(cache_key=batch.keys[sample], segment_ids=[s.id for s in batch.segments], sample=sample,
                          outcome="ok", http_attempts=1, usage=usage, cost_usd=self._cost(usage))
        return _Outcome(call, answer, content, finish_reason)


def batch_rows(folder: Path) -> list[BatchState]:
    """The project's batches for `precode status` (newest first)."""
    return list(reversed(load_states(folder)))


def print_batches(console: Any, root: Path) -> None:
    """`precode status`: the project's provider batches, their state and what is left to collect."""
    from rich.table import Table

    states = batch_rows(root / BATCHES_DIR)
    if not states:
        return
    table = Table("batch", "model", "state", "requests", "answered", "failed", "submitted", "collected")
    for s in states:
        table.add_row(s.id, s.model, s.status, str(len(s.custom_ids)), str(s.counts.get("completed", "")),
                      str(s.counts.get("failed", "")), time.strftime("%Y-%m-%d %H:%M", time.localtime(s.submitted_at)),
                      "yes" if s.collected else "no: run the same precode code --batch again")
    console.print(table)
