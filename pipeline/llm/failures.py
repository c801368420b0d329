"""What a failed request means: the server's own message, a parameter to change, or a reason to stop.

Servers word their errors in different bodies; `server_error` reads all of those seen in the
providers' documentation and issue trackers:
- OpenAI / Azure OpenAI / vLLM / llama.cpp: `{"error": {"message", "type", "param", "code"}}`;
- LM Studio and Ollama: `{"error": "text"}`;
- vLLM (older) and Mistral: `{"object": "error", "message": "text" or {"detail": [...]}, ...}`;
- FastAPI / pydantic servers (Azure AI Foundry serverless, Mistral): `{"detail": [{"loc", "msg", "type"}]}`
  or `{"detail": "text"}`;
- Gemini's OpenAI-compatible endpoint: a list `[{"error": {"code", "message", "status"}}]`;
- anything else: the plain text of the body (an HTML page is cut to its first line).

`adaptation` turns a 400/422 that names a parameter we sent into one change of the request
shape (drop `seed`, drop `temperature`, `max_tokens` <-> `max_completion_tokens`,
`response_format` json_object -> json_schema -> none, drop `reasoning_effort`); each parameter
is changed at most once per run. `is_quota_error` spots an empty account (429
`insufficient_quota`, 402, billing), which no retry fixes. `FailFast` stops a run whose first
requests all fail with the same status and message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import PrecodeError, RunStopped
from pipeline.llm.profiles import RequestShape
from pipeline.store.llm import AdaptationRow


@dataclass
class ServerError:
    status: int | None
    message: str
    code: str | None = None
    param: str | None = None

    def describe(self) -> str:
        return f"HTTP {self.status}: {self.message}" if self.status is not None else self.message


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):  # pydantic/FastAPI details
        return "; ".join(_detail(item) for item in value)
    if isinstance(value, dict):
        if "detail" in value:
            return _text(value["detail"])
        if "message" in value:
            return _text(value["message"])
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def _detail(item: Any) -> str:
    if isinstance(item, dict) and "msg" in item:
        loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
        return f"{loc}: {item['msg']}" + (f" ({item['type']})" if item.get("type") else "") if loc else str(item["msg"])
    return _text(item)


def _param_from_detail(value: Any) -> str | None:
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item.get("loc"):
                return str([p for p in item["loc"] if p != "body"][0]) if [p for p in item["loc"] if p != "body"] \
                    else None
    if isinstance(value, dict) and "detail" in value:
        return _param_from_detail(value["detail"])
    return None


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def server_error(status: int | None, body: Any, text: str | None = None) -> ServerError:
    """The server's message, code and parameter from an error body of any of the shapes above."""
    data = body
    if isinstance(data, str):
        data = _maybe_json(data) if data.strip()[:1] in "[{" else data
    if data is None and text:
        data = _maybe_json(text)
        if data is None:
            data = text
    if isinstance(data, list) and data and isinstance(data[0], dict) and "error" in data[0]:  # Gemini
        data = data[0]
    message, code, param = "", None, None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            message = _text(error.get("message") or error)
            raw_code = error.get("code") or error.get("type") or error.get("status")
            code = str(raw_code) if raw_code is not None else None
            param = error.get("param") or _param_from_detail(_maybe_json(message) if message[:1] in "[{" else None)
            if isinstance(error.get("message"), str) and error["message"].strip()[:1] == "{":
                inner = _maybe_json(error["message"])  # Azure AI: a JSON body inside the message
                if inner is not None:
                    message, param = _text(inner), param or _param_from_detail(inner)
        elif isinstance(error, str):
            message = error.strip()
            code = str(data["type"]) if data.get("type") else None
        elif "message" in data:
            message = _text(data["message"])
            param = data.get("param") or _param_from_detail(data["message"])
            code = str(data.get("code") or data.get("type") or "") or None
        elif "detail" in data:
            message, param = _text(data["detail"]), _param_from_detail(data)
        else:
            message = json.dumps(data, ensure_ascii=False)
    elif isinstance(data, list):
        message = _text(data)
    elif isinstance(data, str):
        lines = [line.strip() for line in re.sub(r"<[^>]+>", " ", data).splitlines() if line.strip()]
        message = lines[0] if lines else ""
    message = re.sub(r"\s+", " ", message).strip()[:500] or "(no message in the response body)"
    return ServerError(status, message, code, str(param) if param else None)


# -- parameters a server refuses -------------------------------------------------------------------
_REFUSAL = re.compile(r"unsupported|not supported|does not support|not permitted|extra[_ ]|unknown|unrecognized|"
                      r"cannot find field|not allowed|must be|only the default|invalid|not available", re.IGNORECASE)


@dataclass
class Adaptation:
    parameter: str
    change: str  # what precode now sends instead
    reason: str  # the server's message


def adaptation_rows(run_id: str, adaptations: list[Adaptation]) -> list[AdaptationRow]:
    return [AdaptationRow(run_id=run_id, parameter=a.parameter, change=a.change, reason=a.reason) for a in adaptations]


def _mentions(error: ServerError, name: str) -> bool:
    if error.param and error.param.split(".")[0] == name:
        return True
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", error.message) is not None


def adaptation(error: ServerError, sent: RequestShape, done: set[str]) -> tuple[RequestShape, Adaptation] | None:
    """The shape to retry with when a 400/422 refuses a parameter this request sent, else None."""
    if error.status not in (400, 422) or not _REFUSAL.search(error.message):
        return None
    shape = sent.model_copy()
    if sent.seed and "seed" not in done and _mentions(error, "seed"):
        shape.seed = False
        return shape, Adaptation("seed", "not sent", error.message)
    if sent.temperature and "temperature" not in done and _mentions(error, "temperature"):
        shape.temperature = False
        return shape, Adaptation("temperature", "not sent (the model's default)", error.message)
    if "token_param" not in done and _mentions(error, sent.token_param):
        other = "max_completion_tokens" if sent.token_param == "max_tokens" else "max_tokens"
        shape.token_param = other  # type: ignore[assignment]
        return shape, Adaptation(sent.token_param, f"sent as {other}", error.message)
    if sent.reasoning_effort and "reasoning_effort" not in done and _mentions(error, "reasoning_effort"):
        shape.reasoning_effort = None
        return shape, Adaptation("reasoning_effort", "not sent", error.message)
    if sent.response_format != "none" and "response_format" not in done and _mentions(error, "response_format"):
        wants_schema = sent.response_format == "json_object" and "json_schema" in error.message
        shape.response_format = "json_schema" if wants_schema else "none"
        return shape, Adaptation("response_format", "json_schema" if wants_schema else "not sent (plain JSON asked "
                                 "for in the prompt)", error.message)
    return None


# -- errors no retry fixes -----------------------------------------------------------------------
_QUOTA = re.compile(r"insufficient_quota|billing|exceeded your current quota|insufficient (credits|balance|funds)|"
                    r"credit balance|payment required", re.IGNORECASE)


def is_quota_error(error: ServerError) -> bool:
    """An empty account or a billing limit (OpenAI 429 insufficient_quota, 402 Payment Required)."""
    if error.status == 402:
        return True
    return error.status in (429, 403, 400) and bool(_QUOTA.search(f"{error.code or ''} {error.message}"))


def quota_stop(error: ServerError) -> PrecodeError:
    return RunStopped(f"the LLM account has no quota left: {error.describe()}",
                        hint="add credit or raise the spending limit with the provider (retrying does not help), "
                             "then re-run the same command; segments already coded are not sent again")


_PER_REQUEST = re.compile(r"content[_ ]?filter|content management policy|responsibleai|context[_ ]length|"
                          r"maximum context|too many tokens|safety", re.IGNORECASE)


def _hint(error: ServerError) -> str:
    message = error.message.lower()
    if error.status == 422 or "extra" in message or "unknown name" in message:
        return ("the server refuses a parameter precode sends: add a [[llm.servers]] profile or set [llm] send_seed = "
                "false / response_format / max_tokens_param (see docs/llm.md, 'Providers and models'); "
                "`precode llm check` shows what the endpoint accepts")
    if re.search(r"model.*(not found|does not exist|not loaded|unknown)|(unknown|no such) model", message):
        return ("check [llm] model (the exact name the server lists, loaded if the server needs that) and base_url; "
                "`precode llm check` sends one small request")
    return ("fix what the server's message names in precode.toml [llm]; `precode llm check` sends one small request "
            "and shows what the endpoint accepts")


@dataclass
class FailFast:
    """Stops a run whose first `window` finished requests all failed the same deterministic way."""

    window: int = 3
    succeeded: int = 0
    failures: list[str] = field(default_factory=list)

    def ok(self) -> None:
        self.succeeded += 1

    def failed(self, error: ServerError) -> PrecodeError | None:
        """Note a request that failed for good; the error that should stop the run, if any."""
        if self.succeeded or error.status is None or _PER_REQUEST.search(error.message):
            return None
        self.failures.append(f"{error.status} {error.message}")
        if len(self.failures) >= self.window and len(set(self.failures[: self.window])) == 1:
            return RunStopped(f"the LLM endpoint refused the first {self.window} requests the same way: "
                                f"{error.describe()}", path="[llm]", hint=_hint(error))
        return None
