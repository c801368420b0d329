"""The chat client over real HTTP against the stub: retries, Retry-After, timeouts, errors, the remote guard."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import time

import pytest
from conftest import NETWORK_ATTEMPTS
from stub_server import Reply, StubLLM

from pipeline.errors import PrecodeError
from pipeline.llm.client import NO_KEY, ChatClient, RequestFailed
from pipeline.settings import LLMSettings

MESSAGES = [{"role": "system", "content": "Answer with JSON."}, {"role": "user", "content": "hello"}]


def settings(url: str, **values) -> LLMSettings:
    base = {"provider": "openai-compatible", "base_url": url, "model": "stub-model", "retries": 3,
            "backoff_initial": 0.01, "backoff_max": 2.0, "timeout": 5.0}
    return LLMSettings(**{**base, **values})


def complete(s: LLMSettings, response_format: dict | None = None):
    async def go():
        client = ChatClient(s)
        try:
            return await client.complete(MESSAGES, seed=7, temperature=0.0, response_format=response_format)
        finally:
            await client.close()
    return asyncio.run(go())


def test_a_completion_returns_content_usage_and_sends_deterministic_parameters(stub: StubLLM, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    stub.push(Reply('{"segments": []}', usage=(120, 30), cached_tokens=100))
    result = complete(settings(stub.url), {"type": "json_object"})
    assert result.content == '{"segments": []}' and result.finish_reason == "stop"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.cached_tokens) == (120, 30, 100)
    assert result.http_attempts == 1
    request = stub.requests[0]
    assert request["path"] == "/v1/chat/completions"
    body = request["body"]
    assert body["temperature"] == 0.0 and body["seed"] == 7 and body["max_tokens"] == 4096
    assert body["response_format"] == {"type": "json_object"} and body["messages"] == MESSAGES
    assert request["headers"]["authorization"] == f"Bearer {NO_KEY}"  # a loopback server needs no key


def test_max_completion_tokens_can_replace_max_tokens(stub: StubLLM):
    complete(settings(stub.url, max_tokens_param="max_completion_tokens", max_tokens=500))
    body = stub.bodies[0]
    assert body["max_completion_tokens"] == 500 and "max_tokens" not in body


@pytest.mark.parametrize("headers, expected_wait", [
    ({"Retry-After": "0.3"}, 0.3),
    ({"retry-after-ms": "150"}, 0.15),
    ({"Retry-After": email.utils.formatdate(time.time() - 60, usegmt=True)}, 0.0),  # a date already past
    ({"Retry-After": "3600"}, 2.0),  # capped at backoff_max
])
def test_429_waits_as_long_as_retry_after_says(stub: StubLLM, headers, expected_wait):
    stub.push(Reply(status=429, headers=headers), Reply("{}"))
    result = complete(settings(stub.url))
    assert result.http_attempts == 2 and len(stub.requests) == 2
    assert result.waited == pytest.approx(expected_wait, abs=1e-6)


def test_5xx_is_retried_with_jittered_exponential_backoff(stub: StubLLM):
    stub.push(Reply(status=500), Reply(status=503), Reply(status=502), Reply("{}"))
    result = complete(settings(stub.url, backoff_initial=0.01, backoff_max=0.05))
    assert result.http_attempts == 4 and result.content == "{}"
    assert 0 <= result.waited <= 3 * 0.05


def test_a_timeout_is_retried(stub: StubLLM):
    stub.push(Reply("{}", delay=1.5), Reply('{"ok": 1}'))
    result = complete(settings(stub.url, timeout=0.3))
    assert result.http_attempts == 2 and result.content == '{"ok": 1}'


def test_a_cut_off_body_is_retried(stub: StubLLM):
    stub.push(Reply(raw='{"id": "x", "choices": [{"index": 0, "message": {"content": "hal'), Reply("{}"))
    assert complete(settings(stub.url)).http_attempts == 2


def test_retries_are_bounded_and_the_failure_is_reported(stub: StubLLM):
    stub.push(*[Reply(status=500)] * 10)
    with pytest.raises(RequestFailed) as err:
        complete(settings(stub.url, retries=2, backoff_max=0.02))
    assert err.value.http_attempts == 3 and len(stub.requests) == 3
    assert "HTTP 500" in str(err.value) and "after 3 attempts" in str(err.value)


def test_a_bad_request_is_not_retried(stub: StubLLM):
    stub.push(Reply(status=400, content="maximum context length exceeded"))
    with pytest.raises(RequestFailed, match="context length") as err:
        complete(settings(stub.url))
    assert err.value.http_attempts == 1 and len(stub.requests) == 1


def test_connection_refused_is_retried_then_fails():
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RequestFailed, match="connection failed") as err:
        complete(settings(f"http://127.0.0.1:{port}/v1", retries=1, backoff_max=0.02))
    assert err.value.http_attempts == 2


def test_a_rejected_key_stops_with_a_redacted_message(stub: StubLLM, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-123")
    stub.push(Reply(status=401, content="Incorrect API key provided: sk-test-SECRET-123"))
    with pytest.raises(PrecodeError) as err:
        complete(settings(stub.url))
    assert "sk-test-SECRET-123" not in str(err.value) and "***" in str(err.value)
    assert "OPENAI_API_KEY" in str(err.value)
    assert stub.requests[0]["headers"]["authorization"] == "Bearer sk-test-SECRET-123"


def test_an_unknown_model_stops_the_run(stub: StubLLM):
    stub.push(Reply(status=404, content="model 'nope' not found"))
    with pytest.raises(PrecodeError, match="model"):
        complete(settings(stub.url))


def test_azure_uses_deployment_urls_and_the_api_key_header(stub: StubLLM, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key")
    s = settings(stub.url.removesuffix("/v1"), provider="azure", model="my-deployment", api_version="2024-10-21")
    complete(s)
    request = stub.requests[0]
    assert request["path"] == "/openai/deployments/my-deployment/chat/completions"
    assert request["headers"]["api-key"] == "azure-key"


def test_a_remote_endpoint_is_refused_before_any_client_or_connection_exists(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-whatever")
    before = list(NETWORK_ATTEMPTS)
    for url in ("https://llm.example.invalid/v1", "http://10.1.2.3:8000/v1", None):  # None: OpenAI's own API
        with pytest.raises(PrecodeError, match="not on this machine"):
            ChatClient(settings(url, provider="openai"))
    assert NETWORK_ATTEMPTS == before


def test_allowed_remote_endpoints_still_need_a_key_and_get_a_client_without_connecting(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    before = list(NETWORK_ATTEMPTS)
    with pytest.raises(PrecodeError, match="OPENAI_API_KEY"):
        ChatClient(settings("https://llm.example.invalid/v1", allow_remote=True))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-whatever")
    client = ChatClient(settings("https://llm.example.invalid/v1", allow_remote=True))
    asyncio.run(client.close())
    assert NETWORK_ATTEMPTS == before


def test_compatible_and_azure_providers_need_a_base_url():
    with pytest.raises(PrecodeError, match="base URL"):
        ChatClient(settings(None))
    with pytest.raises(PrecodeError, match="base URL"):
        ChatClient(settings(None, provider="azure"))
