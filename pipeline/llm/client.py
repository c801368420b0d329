"""The chat endpoint: OpenAI, Azure OpenAI or any OpenAI-compatible server, through the async openai SDK.

What a request carries comes from the model and server profiles (pipeline.llm.profiles): e.g.
`max_completion_tokens` and no temperature or seed for OpenAI reasoning models, json_schema for LM
Studio. A 400/422 that names a parameter the request sent changes the shape once for the whole
run (pipeline.llm.failures.adaptation; listed in `adaptations`) and the request is sent again.

The SDK's own retries are off (`max_retries=0`); ours are tenacity's, so each is counted: 429
waits for the server's Retry-After (or retry-after-ms) when given; 408, 409, 429, 5xx, timeouts,
connection errors and bodies that are not a chat completion (cut off, an HTML error page) are
retried with exponential backoff and full jitter, at most `retries` times, no wait longer than
`backoff_max`. A request that still fails raises `RequestFailed` (its segments fail, the run goes
on) with the server's own message; these stop the run with `PrecodeError` instead: 401, 403 and
404 (the key, the permissions or the model/URL are wrong for every request), an empty account
(429 insufficient_quota, 402: never retried), and the same error on the first requests
(`FailFast`: every request would hit it).

The remote guard runs before a client exists: a non-loopback endpoint without `allow_remote` is
refused with no connection attempted, and so is an explicit proxy off this machine. Loopback and
private endpoints are reached directly, whatever HTTP(S)_PROXY / ALL_PROXY say. The API key is
read from the environment, kept only in the client, and redacted from every error message this
module produces.
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Callable
from typing import Any

import openai
from openai import DefaultAsyncHttpxClient
from pydantic import BaseModel, Field, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from pipeline.errors import PrecodeError
from pipeline.llm.failures import Adaptation, FailFast, ServerError, adaptation, is_quota_error, quota_stop, server_error
from pipeline.llm.pricing import count_prompt_tokens
from pipeline.llm.profiles import RequestShape, resolve
from pipeline.remote import check_endpoint_allowed, check_proxy_allowed, is_loopback, use_environment_proxy
from pipeline.settings import LLMSettings

NO_KEY = "no-key-needed"  # sent to loopback servers when no key is set; they ignore it
RETRY_STATUS = {408, 409, 429}


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0  # part of completion_tokens (hidden reasoning of o-series / gpt-5 models)

    def __add__(self, other: Usage) -> Usage:
        return Usage(prompt_tokens=self.prompt_tokens + other.prompt_tokens,
                     completion_tokens=self.completion_tokens + other.completion_tokens,
                     cached_tokens=self.cached_tokens + other.cached_tokens,
                     reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens)


class ChatResult(BaseModel):
    """One successful completion, with what it took to get it."""

    content: str | None
    finish_reason: str | None
    usage: Usage
    http_attempts: int
    waited: float  # seconds of backoff scheduled before the attempts that followed failures


class _Message(BaseModel):
    content: str | None = None


class _Choice(BaseModel):
    message: _Message
    finish_reason: str | None = None


class _PromptDetails(BaseModel):
    cached_tokens: int | None = 0


class _CompletionDetails(BaseModel):
    reasoning_tokens: int | None = 0


class _Usage(BaseModel):
    prompt_tokens: int | None = 0
    completion_tokens: int | None = 0
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None


class _Completion(BaseModel):
    """The parts of an OpenAI chat completion body that are used."""

    choices: list[_Choice] = Field(min_length=1)
    usage: _Usage | None = None


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0]


class MalformedResponse(Exception):
    """A response body that is not a chat completion (cut off, or an HTML error page): retried."""


class RequestFailed(Exception):
    """A request that failed for good (after its retries, or a 4xx that retrying cannot fix)."""

    def __init__(self, message: str, http_attempts: int, waited: float = 0.0, status: int | None = None,
                 abandoned: Usage | None = None):
        super().__init__(message)
        self.http_attempts = http_attempts
        self.waited = waited
        self.status = status
        self.abandoned = abandoned or Usage()  # estimated prompt tokens of attempts that timed out


def key_env(settings: LLMSettings) -> str:
    return settings.api_key_env or ("AZURE_OPENAI_API_KEY" if settings.provider == "azure" else "OPENAI_API_KEY")


def endpoint(settings: LLMSettings) -> str | None:
    """The URL requests go to (None means OpenAI's default), after checking the provider has what it needs."""
    if settings.provider in ("azure", "openai-compatible") and not settings.base_url:
        example = ("https://RESOURCE.openai.azure.com" if settings.provider == "azure"
                   else "http://localhost:11434/v1 (Ollama) or http://localhost:8000/v1 (vLLM)")
        raise PrecodeError(f"provider '{settings.provider}' needs a base URL", path="[llm] base_url",
                           hint=f"set base_url in precode.toml or pass --base-url, e.g. {example}")
    return settings.base_url


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (retry-after-ms, or Retry-After as seconds or an HTTP date)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    if headers.get("retry-after-ms"):
        try:
            return float(headers["retry-after-ms"]) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        return max(0.0, email.utils.mktime_tz(parsed) - time.time()) if parsed else None


def status_error(exc: openai.APIStatusError) -> ServerError:
    """The server's own message from any error body shape (pipeline.llm.failures.server_error)."""
    try:
        text = exc.response.text
    except Exception:  # a streamed or closed response
        text = None
    return server_error(exc.status_code, exc.body, text)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, MalformedResponse)):
        return True
    if isinstance(exc, openai.APIStatusError) and is_quota_error(status_error(exc)):
        return False  # an empty account: no retry fixes it
    return isinstance(exc, openai.APIStatusError) and (exc.status_code in RETRY_STATUS or exc.status_code >= 500)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        return status_error(exc).describe()
    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError):
        return f"connection failed ({exc.__cause__ or exc})"
    return str(exc)


def preflight(settings: LLMSettings) -> tuple[str | None, str]:
    """(endpoint URL, API key), or PrecodeError: no base URL, a remote endpoint not allowed, no key.

    Runs before any client exists, so a refused endpoint is never contacted.
    """
    url = endpoint(settings)
    check_endpoint_allowed(url, settings.allow_remote)
    check_proxy_allowed(settings.proxy, settings.allow_remote)
    key = os.environ.get(key_env(settings), "")
    if not key:
        if not is_loopback(url):
            raise PrecodeError(f"no API key: the environment variable {key_env(settings)} is not set",
                               hint="export it (the key is never written to the project), "
                                    "or set [llm] api_key_env to the variable that holds it")
        key = NO_KEY
    return url, key


class ChatClient:
    """Async chat completions with counted retries, for one run's event loop."""

    def __init__(self, settings: LLMSettings):
        url, key = preflight(settings)
        self._key = key
        self.settings = settings
        self.shape: RequestShape = resolve(settings)
        self.adaptations: list[Adaptation] = []  # changes of the shape after a server refused a parameter
        self._adapted: set[str] = set()
        self.fail_fast = FailFast()
        # the environment's proxy only for remote endpoints; an explicit one always (checked in preflight)
        self._http = DefaultAsyncHttpxClient(proxy=settings.proxy, trust_env=use_environment_proxy(url),
                                             timeout=settings.timeout)
        common: dict[str, Any] = {"api_key": key, "max_retries": 0, "timeout": settings.timeout,
                                  "http_client": self._http}
        self._client: openai.AsyncOpenAI
        if settings.provider == "azure":
            self._client = openai.AsyncAzureOpenAI(azure_endpoint=url or "", api_version=settings.api_version, **common)
        else:
            self._client = openai.AsyncOpenAI(base_url=url, **common)

    def redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key and self._key != NO_KEY else text

    async def close(self) -> None:
        await self._client.close()
        await self._http.aclose()

    def _wait(self, waits: list[float]) -> Callable[[RetryCallState], float]:
        backoff = wait_random_exponential(multiplier=self.settings.backoff_initial, max=self.settings.backoff_max)

        def wait(state: RetryCallState) -> float:
            asked = retry_after(state.outcome.exception() if state.outcome is not None else None)
            seconds = min(asked, self.settings.backoff_max) if asked is not None else backoff(state)
            waits.append(seconds)
            return seconds
        return wait

    def body(self, shape: RequestShape, messages: list[dict[str, Any]], seed: int, temperature: float,
             response_format: dict[str, Any] | None, schema_format: dict[str, Any] | None = None) -> dict[str, Any]:
        """The request body for this shape; `schema_format` replaces a json_object format when the
        shape asks for json_schema (LM Studio)."""
        s = self.settings
        body: dict[str, Any] = {"model": s.model, "messages": messages, shape.token_param: s.max_tokens}
        if shape.temperature:
            body["temperature"] = temperature
        if shape.seed:
            body["seed"] = seed
        if shape.reasoning_effort:
            body["reasoning_effort"] = shape.reasoning_effort
        if shape.response_format == "none":
            response_format = None
        elif shape.response_format == "json_schema" and schema_format is not None:
            response_format = schema_format
        elif shape.response_format == "json_schema" and response_format == {"type": "json_object"}:
            response_format = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}}
        if response_format is not None:
            body["response_format"] = response_format
        return body

    def _adapt(self, exc: openai.APIStatusError, sent: RequestShape) -> bool:
        """Change the run's request shape after a refused parameter; True when the request should be resent."""
        if sent != self.shape:  # another request already changed it: send again with the current shape
            return True
        found = adaptation(status_error(exc), sent, self._adapted)
        if found is None:
            return False
        shape, change = found
        key = {"max_tokens": "token_param", "max_completion_tokens": "token_param"}.get(change.parameter,
                                                                                          change.parameter)
        self._adapted.add(key)
        self.shape = shape
        change.reason = self.redact(change.reason)
        self.adaptations.append(change)
        return True

    async def complete(self, messages: list[dict[str, Any]], *, seed: int, temperature: float,
                       response_format: dict[str, Any] | None, schema_format: dict[str, Any] | None = None) -> ChatResult:
        """One chat completion, retried and adapted as the module describes."""
        attempts, waited = 0, 0.0
        for _ in range(6):  # one resend per parameter at most (seed, temperature, tokens, effort, format)
            shape = self.shape
            body = self.body(shape, messages, seed, temperature, response_format, schema_format)
            try:
                result = await self._send(body)
            except _Refused as refused:
                attempts, waited = attempts + refused.attempts, waited + refused.waited
                if refused.exc.status_code in (400, 422) and self._adapt(refused.exc, shape):
                    continue
                raise self._failed(refused.exc, attempts, waited) from None
            self.fail_fast.ok()
            return result.model_copy(update={"http_attempts": attempts + result.http_attempts,
                                             "waited": waited + result.waited})
        raise RequestFailed("the server kept refusing the request's parameters", attempts, waited)

    def _failed(self, exc: openai.APIStatusError, attempts: int, waited: float) -> Exception:
        error = status_error(exc)
        error.message = self.redact(error.message)
        if is_quota_error(error):
            return quota_stop(error)
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)):
            hint = {401: f"check the API key in {key_env(self.settings)}",
                    403: "check the key's permissions for this model",
                    404: "check [llm] model (the deployment name for azure) and base_url"}[exc.status_code]
            return PrecodeError(f"the LLM endpoint refused the request: {error.describe()}", path="[llm]", hint=hint)
        stop = self.fail_fast.failed(error)
        if stop is not None:
            return stop
        message = error.describe() + (f" (after {attempts} attempts)" if attempts > 1 else "")
        return RequestFailed(message, attempts, waited, status=exc.status_code)

    async def _send(self, kwargs: dict[str, Any]) -> ChatResult:
        s = self.settings
        waits: list[float] = []
        attempts = timeouts = 0
        try:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(s.retries + 1), wait=self._wait(waits),
                                               retry=retry_if_exception(_retryable), reraise=True):
                with attempt:
                    attempts += 1
                    try:  # the SDK's raw post: its transport, auth, Azure URLs and errors, none of its
                        # per-request model building (a third of the client's CPU at high concurrency)
                        body = await self._client.post("/chat/completions", body=kwargs, cast_to=object)
                        response = _Completion.model_validate(body)
                    except (ValueError, ValidationError) as exc:  # not JSON, or not a chat completion
                        raise MalformedResponse(f"the response is not a chat completion ({_first_line(exc)})") from None
                    except openai.APITimeoutError:
                        timeouts += 1  # the server had the prompt and may bill it: estimated below
                        raise
        except openai.APIStatusError as exc:
            raise _Refused(exc, attempts, sum(waits)) from None
        except (openai.APIError, MalformedResponse) as exc:
            message = self.redact(_describe(exc))
            if attempts > 1:
                message += f" (after {attempts} attempts)"
            abandoned = self._abandoned(kwargs, timeouts)
            if abandoned.prompt_tokens:
                message += f"; ~{abandoned.prompt_tokens} prompt tokens of timed-out attempts estimated"
            raise RequestFailed(message, attempts, sum(waits), abandoned=abandoned) from None
        choice, used = response.choices[0], response.usage or _Usage()
        details = used.prompt_tokens_details or _PromptDetails()
        reasoning = (used.completion_tokens_details or _CompletionDetails()).reasoning_tokens or 0
        usage = Usage(prompt_tokens=used.prompt_tokens or 0, completion_tokens=used.completion_tokens or 0,
                      cached_tokens=details.cached_tokens or 0, reasoning_tokens=reasoning) + self._abandoned(kwargs,
                                                                                                          timeouts)
        return ChatResult(content=choice.message.content, finish_reason=choice.finish_reason, usage=usage,
                          http_attempts=attempts, waited=sum(waits))


    def _abandoned(self, kwargs: dict[str, Any], timeouts: int) -> Usage:
        """Prompt tokens of attempts that timed out (the server may have processed and billed them), estimated."""
        if not timeouts:
            return Usage()
        return Usage(prompt_tokens=timeouts * count_prompt_tokens(kwargs["messages"], self.shape.tokenizer))


class _Refused(Exception):
    """An HTTP error status after the retries: adapted to, or turned into RequestFailed / PrecodeError."""

    def __init__(self, exc: openai.APIStatusError, attempts: int, waited: float):
        super().__init__(str(exc))
        self.exc = exc
        self.attempts = attempts
        self.waited = waited
