"""The chat endpoint: OpenAI, Azure OpenAI or any OpenAI-compatible server, through the async openai SDK.

The SDK's own retries are off (`max_retries=0`); ours are tenacity's, so each is counted: 429
waits for the server's Retry-After (or retry-after-ms) when given; 408, 409, 429, 5xx, timeouts,
connection errors and bodies that are not a chat completion (cut off, an HTML error page) are
retried with exponential backoff and full jitter, at most `retries` times, no wait longer than
`backoff_max`. A request that still fails raises `RequestFailed` (its segments fail, the run goes
on); 401, 403 and 404 mean the key, the permissions or the model/URL are wrong for every request,
so they raise `PrecodeError` and stop the run.

The remote guard runs before a client exists: a non-loopback endpoint without `allow_remote` is
refused with no connection attempted. The API key is read from the environment, kept only in the
client, and redacted from every error message this module produces.
"""

from __future__ import annotations

import email.utils
import os
import time
from typing import Any

import openai
from pydantic import BaseModel, Field, ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from pipeline.errors import PrecodeError
from pipeline.remote import check_endpoint_allowed, is_loopback
from pipeline.settings import LLMSettings

NO_KEY = "no-key-needed"  # sent to loopback servers when no key is set; they ignore it
RETRY_STATUS = {408, 409, 429}


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(prompt_tokens=self.prompt_tokens + other.prompt_tokens,
                     completion_tokens=self.completion_tokens + other.completion_tokens,
                     cached_tokens=self.cached_tokens + other.cached_tokens)


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


class _Usage(BaseModel):
    prompt_tokens: int | None = 0
    completion_tokens: int | None = 0
    prompt_tokens_details: _PromptDetails | None = None


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

    def __init__(self, message: str, http_attempts: int, waited: float = 0.0):
        super().__init__(message)
        self.http_attempts = http_attempts
        self.waited = waited


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


def retry_after(exc: BaseException) -> float | None:
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


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, MalformedResponse)):
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code in RETRY_STATUS or exc.status_code >= 500)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {exc.message}"
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
        common: dict[str, Any] = {"api_key": key, "max_retries": 0, "timeout": settings.timeout}
        if settings.provider == "azure":
            self._client = openai.AsyncAzureOpenAI(azure_endpoint=url, api_version=settings.api_version, **common)
        else:
            self._client = openai.AsyncOpenAI(base_url=url, **common)

    def redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key and self._key != NO_KEY else text

    async def close(self) -> None:
        await self._client.close()

    def _wait(self, waits: list[float]):
        backoff = wait_random_exponential(multiplier=self.settings.backoff_initial, max=self.settings.backoff_max)

        def wait(state) -> float:
            asked = retry_after(state.outcome.exception())
            seconds = min(asked, self.settings.backoff_max) if asked is not None else backoff(state)
            waits.append(seconds)
            return seconds
        return wait

    async def complete(self, messages: list[dict], *, seed: int, temperature: float,
                       response_format: dict | None) -> ChatResult:
        """One chat completion, retried as the module describes."""
        s = self.settings
        kwargs: dict[str, Any] = {"model": s.model, "messages": messages, "temperature": temperature, "seed": seed,
                                  s.max_tokens_param: s.max_tokens}
        if response_format is not None:
            kwargs["response_format"] = response_format
        waits: list[float] = []
        attempts = 0
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
        except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as exc:
            hint = {401: f"check the API key in {key_env(s)}", 403: "check the key's permissions for this model",
                    404: "check [llm] model (the deployment name for azure) and base_url"}[exc.status_code]
            raise PrecodeError(f"the LLM endpoint refused the request: {self.redact(_describe(exc))}",
                               path="[llm]", hint=hint) from None
        except (openai.APIError, MalformedResponse) as exc:
            message = self.redact(_describe(exc))
            if attempts > 1:
                message += f" (after {attempts} attempts)"
            raise RequestFailed(message, attempts, sum(waits)) from None
        choice, used = response.choices[0], response.usage or _Usage()
        details = used.prompt_tokens_details or _PromptDetails()
        usage = Usage(prompt_tokens=used.prompt_tokens or 0, completion_tokens=used.completion_tokens or 0,
                      cached_tokens=details.cached_tokens or 0)
        return ChatResult(content=choice.message.content, finish_reason=choice.finish_reason, usage=usage,
                          http_attempts=attempts, waited=sum(waits))
