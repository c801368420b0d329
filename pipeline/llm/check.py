"""`precode llm check`: one small request to the configured endpoint, and what it accepts.

The request is a one-line JSON task with the run's own request shape (pipeline.llm.profiles);
a refused parameter is adapted the way a run adapts it (pipeline.llm.failures), so the report
says what a run would send, what the server refused (in its own words) and what to set in
precode.toml to skip the refusal next time. Nothing from any transcript is sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.markup import escape
from rich.table import Table

from pipeline.settings import LLMSettings
from pipeline.terminal import ProjectOption, console

llm_app = typer.Typer(help="Check the LLM endpoint.", no_args_is_help=True)

PROBE = [{"role": "system", "content": "You answer with one JSON object and nothing else."},
         {"role": "user", "content": 'Reply with exactly this JSON: {"ok": true}'}]
PROBE_SCHEMA = {"type": "json_schema", "json_schema": {"name": "probe", "strict": True, "schema": {
    "type": "object", "additionalProperties": False, "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}}}

_SETTING = {"seed": "send_seed = false", "temperature": "(a model profile with temperature = false)",
            "max_tokens": 'max_tokens_param = "max_completion_tokens"',
            "max_completion_tokens": 'max_tokens_param = "max_tokens"', "reasoning_effort": "(a model profile without "
            "reasoning_effort)", "response_format": "response_format = ..."}


class CheckReport(BaseModel):
    model: str
    endpoint: str
    profiles: list[str]
    sent: str  # the parameters the accepted request carried
    refused: list[tuple[str, str, str]]  # (parameter, what is sent now, the server's message)
    json_ok: bool
    content: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    seconds: float

    def settings_to_add(self) -> list[str]:
        lines = []
        for parameter, change, _ in self.refused:
            if parameter == "response_format":
                lines.append(f'response_format = "{"json_schema" if change == "json_schema" else "none"}"')
            else:
                lines.append(_SETTING.get(parameter, parameter))
        return lines


def check_endpoint(settings: LLMSettings) -> CheckReport:
    """Send the probe (with the run's shape, adapted once per refused parameter) and report."""
    from pipeline.llm.client import ChatClient

    probe = settings.model_copy(update={"max_tokens": min(settings.max_tokens, 1024), "retries": min(settings.retries, 1)})
    client = ChatClient(probe)
    started = time.perf_counter()

    async def go() -> Any:
        try:
            return await client.complete(PROBE, seed=settings.seed, temperature=settings.temperature,
                                         response_format={"type": "json_object"}, schema_format=PROBE_SCHEMA)
        finally:
            await client.close()
    result = asyncio.run(go())
    try:
        json_ok = isinstance(json.loads(result.content or ""), dict)
    except ValueError:
        json_ok = False
    return CheckReport(
        model=settings.model or "", endpoint=settings.base_url or "OpenAI", profiles=client.shape.profiles,
        sent=client.shape.describe(), refused=[(a.parameter, a.change, a.reason) for a in client.adaptations],
        json_ok=json_ok, content=result.content, finish_reason=result.finish_reason,
        prompt_tokens=result.usage.prompt_tokens, completion_tokens=result.usage.completion_tokens,
        reasoning_tokens=result.usage.reasoning_tokens, seconds=time.perf_counter() - started)


@llm_app.command("check")
def check(
    model: Annotated[str | None, typer.Option(help="model name (default: model in precode.toml).")] = None,
    base_url: Annotated[str | None, typer.Option(help="API base URL (default: base_url in precode.toml).")] = None,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="allow a non-local endpoint.")] = False,
    project: ProjectOption = None,
) -> None:
    """Send one tiny request (no transcript text) and show what the endpoint accepts."""
    from pipeline.errors import PrecodeError
    from pipeline.project import find_project

    settings = find_project(project).settings.llm
    update: dict[str, Any] = {k: v for k, v in {"model": model, "base_url": base_url}.items() if v is not None}
    if allow_remote:
        update["allow_remote"] = True
    settings = LLMSettings.model_validate({**settings.model_dump(), **update})
    if not settings.model:
        raise PrecodeError("no model given", path="[llm] model", hint="pass --model NAME or set model in precode.toml")
    report = check_endpoint(settings)
    table = Table("llm check", "", show_header=True)
    table.add_row("endpoint", escape(f"{report.endpoint} (model {report.model})"))
    table.add_row("profiles", escape(", ".join(report.profiles) or "none (OpenAI defaults)"))
    table.add_row("accepted request", escape(report.sent))
    for parameter, change, reason in report.refused:
        table.add_row(f"refused: {parameter}", escape(f"now {change}; the server said: {reason}"))
    table.add_row("answer", escape(("valid JSON" if report.json_ok else "NOT valid JSON") + f": {report.content!r}"
                                   + (f" (finish_reason {report.finish_reason})" if report.finish_reason else "")))
    tokens = f"{report.prompt_tokens} prompt, {report.completion_tokens} completion"
    if report.reasoning_tokens:
        tokens += f" (of which {report.reasoning_tokens} reasoning)"
    table.add_row("tokens", tokens)
    table.add_row("time", f"{report.seconds:.2f} s")
    console.print(table)
    if report.refused:
        console.print("To skip these refusals, add to [llm] in precode.toml: " + "; ".join(report.settings_to_add()),
                      markup=False, highlight=False)
