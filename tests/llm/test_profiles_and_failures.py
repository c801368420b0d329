"""Profiles, adaptive requests and fail-fast stops, against stub servers that refuse the way real ones do."""

from __future__ import annotations

import asyncio

import pytest
import server_profiles as servers
from stub_server import Reply, StubLLM

from pipeline.errors import PrecodeError
from pipeline.llm.client import ChatClient, RequestFailed
from pipeline.llm.failures import server_error
from pipeline.llm.profiles import resolve
from pipeline.settings import LLMSettings

MESSAGES = [{"role": "system", "content": "Answer with JSON."}, {"role": "user", "content": "hello"}]
OBJECT = {"type": "json_object"}
SCHEMA = {"type": "json_schema", "json_schema": {"name": "coding_answer", "strict": True,
                                                 "schema": {"type": "object", "properties": {}}}}


def settings(url: str, **values) -> LLMSettings:
    base = {"provider": "openai-compatible", "base_url": url, "model": "stub-model", "retries": 2,
            "backoff_initial": 0.01, "backoff_max": 0.05, "timeout": 5.0}
    return LLMSettings(**{**base, **values})


def ask(s: LLMSettings, times: int = 1) -> tuple[list, ChatClient]:
    """`times` completions one after another with one client; each result or the exception it raised."""
    client = ChatClient(s)

    async def go() -> list:
        out: list = []
        try:
            for _ in range(times):
                try:
                    out.append(await client.complete(MESSAGES, seed=7, temperature=0.0, response_format=OBJECT,
                                                     schema_format=SCHEMA))
                except (RequestFailed, PrecodeError) as exc:
                    out.append(exc)
                    if isinstance(exc, PrecodeError):
                        break
        finally:
            await client.close()
        return out
    return asyncio.run(go()), client


# -- profiles -------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["o1", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5-mini", "openai/gpt-5.1"])
def test_reasoning_models_get_max_completion_tokens_and_no_temperature_or_seed(model):
    shape = resolve(LLMSettings(model=model))
    assert shape.token_param == "max_completion_tokens" and not shape.temperature and not shape.seed
    assert shape.reasoning_effort == "low" and shape.reasoning


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4.1", "llama3.1:8b", "gpt-5-chat-latest"])
def test_other_models_keep_openai_defaults(model):
    shape = resolve(LLMSettings(model=model))
    assert (shape.token_param, shape.temperature, shape.seed, shape.reasoning_effort) == ("max_tokens", True, True,
                                                                                          None)


def test_server_profiles_and_settings_override_in_order():
    assert resolve(LLMSettings(model="qwen2.5-7b", base_url="http://localhost:1234/v1")).response_format == "json_schema"
    assert not resolve(LLMSettings(model="gemini-2.5-flash",
                                   base_url="https://generativelanguage.googleapis.com/v1beta/openai/")).seed
    assert resolve(LLMSettings(model="x", base_url="http://localhost:1234/v1", response_format="none")).response_format \
        == "none"
    assert not resolve(LLMSettings(model="gpt-4o", send_seed=False)).seed
    mistral = resolve(LLMSettings(model="gpt-5", base_url="https://api.mistral.ai/v1"))  # server wins over model
    assert mistral.token_param == "max_tokens" and not mistral.seed
    assert not resolve(LLMSettings(model="mistral-large", base_url="https://x.services.ai.azure.com/models")).seed
    own = LLMSettings(model="my-reasoner", models=[{"match": "my-", "token_param": "max_completion_tokens",
                                                    "temperature": False}])
    assert resolve(own).token_param == "max_completion_tokens" and not resolve(own).temperature
    with pytest.raises(PrecodeError, match="llm.models"):
        resolve(LLMSettings(model="x", models=[{"match": "(", "seed": False}]))


def test_a_reasoning_model_with_default_settings_completes_in_one_request(stub: StubLLM):
    stub.server = servers.openai_reasoning
    stub.push(Reply('{"segments": []}', usage=(50, 300), reasoning_tokens=256))
    (result,), _ = ask(settings(stub.url, model="o4-mini"))
    body = stub.bodies[0]
    assert len(stub.requests) == 1 and body["max_completion_tokens"] == 4096 and body["reasoning_effort"] == "low"
    assert "max_tokens" not in body and "temperature" not in body and "seed" not in body
    assert result.usage.reasoning_tokens == 256 and result.usage.completion_tokens == 300


def test_an_unknown_reasoning_deployment_is_adapted_once_and_every_later_request_is_right(stub: StubLLM):
    stub.server = servers.openai_reasoning  # an Azure deployment name no profile knows
    results, client = ask(settings(stub.url, model="prod-reasoner"), times=3)
    assert all(not isinstance(r, Exception) for r in results)
    assert len(stub.requests) == 5  # two refusals, then three good requests
    assert [a.parameter for a in client.adaptations] == ["max_tokens", "temperature"]
    assert "Only the default (1) value is supported" in client.adaptations[1].reason
    last = stub.bodies[-1]
    assert "max_completion_tokens" in last and "temperature" not in last and "max_tokens" not in last


@pytest.mark.parametrize("profile", [servers.azure_foundry_mistral, servers.gemini_openai])
def test_a_seed_rejecting_server_completes_without_seed(stub: StubLLM, profile):
    stub.server = profile
    results, client = ask(settings(stub.url), times=2)
    assert all(not isinstance(r, Exception) for r in results) and len(stub.requests) == 3
    assert [a.parameter for a in client.adaptations] == ["seed"] and "seed" not in stub.bodies[-1]


def test_lm_studio_with_defaults_completes_with_json_schema(stub: StubLLM):
    stub.server = servers.lmstudio
    results, client = ask(settings(stub.url), times=2)
    assert all(not isinstance(r, Exception) for r in results) and len(stub.requests) == 3
    assert stub.bodies[-1]["response_format"] == SCHEMA
    assert client.adaptations[0].parameter == "response_format" and "must be 'json_schema'" in \
        client.adaptations[0].reason


def test_seed_can_be_turned_off(stub: StubLLM):
    ask(settings(stub.url, send_seed=False))
    assert "seed" not in stub.bodies[0]


# -- stops ----------------------------------------------------------------------------------------
def test_insufficient_quota_stops_at_once_without_retries(stub: StubLLM):
    stub.server = servers.insufficient_quota
    (error,), _ = ask(settings(stub.url, retries=4), times=5)
    assert isinstance(error, PrecodeError) and len(stub.requests) == 1
    assert servers.QUOTA_MESSAGE in str(error) and "retrying does not help" in (error.hint or "")


def test_a_deterministic_400_stops_within_three_requests_with_the_servers_message(stub: StubLLM):
    stub.server = servers.broken_template
    results, _ = ask(settings(stub.url), times=10)
    assert len(stub.requests) == 3 and isinstance(results[-1], PrecodeError)
    assert all(isinstance(r, RequestFailed) for r in results[:-1])
    assert "chat template of this model does not support a system message" in str(results[-1])
    assert "HTTP 400" in str(results[0]) and "Error code" not in str(results[0])


def test_a_400_after_a_success_does_not_stop_the_run(stub: StubLLM):
    stub.push(Reply('{"segments": []}'), *[Reply("content filter: the prompt was flagged", status=400)] * 4)
    results, _ = ask(settings(stub.url), times=5)
    assert not isinstance(results[0], Exception) and all(isinstance(r, RequestFailed) for r in results[1:])


# -- error bodies ---------------------------------------------------------------------------------
@pytest.mark.parametrize("body, message, param", [
    ({"error": {"message": "Unsupported parameter: 'max_tokens'", "type": "invalid_request_error",
                "param": "max_tokens", "code": "unsupported_parameter"}}, "Unsupported parameter: 'max_tokens'",
     "max_tokens"),
    ({"error": "'response_format.type' must be 'json_schema'"}, "'response_format.type' must be 'json_schema'", None),
    ({"object": "error", "message": "The model `x` does not exist.", "type": "NotFoundError", "param": None,
      "code": 404}, "The model `x` does not exist.", None),
    ({"detail": [{"type": "extra_forbidden", "loc": ["body", "seed"], "msg": "Extra inputs are not permitted"}]},
     "seed: Extra inputs are not permitted (extra_forbidden)", "seed"),
    ({"detail": "Extra parameters ['n'] are not allowed"}, "Extra parameters ['n'] are not allowed", None),
    ([{"error": {"code": 400, "message": "Unknown name \"seed\": Cannot find field.", "status": "INVALID_ARGUMENT"}}],
     "Unknown name \"seed\": Cannot find field.", None),
    ({"error": {"code": "Invalid input", "message": '{"detail":[{"type":"extra_forbidden","loc":["body","seed"],'
                                                   '"msg":"Extra inputs are not permitted"}]}', "status": 422}},
     "seed: Extra inputs are not permitted (extra_forbidden)", "seed"),
    ({"object": "error", "message": {"detail": [{"type": "extra_forbidden", "loc": ["body", "max_completion_tokens"],
                                                 "msg": "Extra inputs are not permitted"}]}},
     "max_completion_tokens: Extra inputs are not permitted (extra_forbidden)", "max_completion_tokens"),
    ("<html><body><h1>502 Bad Gateway</h1></body></html>", "502 Bad Gateway", None),
    ("model not loaded", "model not loaded", None),
])
def test_every_error_body_shape_gives_the_servers_message(body, message, param):
    error = server_error(400, body)
    assert error.message == message and error.param == param


def test_plain_text_and_lm_studio_bodies_reach_the_user(stub: StubLLM):
    stub.push(Reply(status=400, raw='{"error": "Model unloaded."}'))
    (error,), _ = ask(settings(stub.url))
    assert str(error) == "HTTP 400: Model unloaded."


# -- proxies --------------------------------------------------------------------------------------
def test_proxy_variables_do_not_carry_a_loopback_request(stub: StubLLM, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there: a proxied request fails
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    (result,), _ = ask(settings(stub.url, retries=0))
    assert not isinstance(result, Exception) and len(stub.requests) == 1


def test_an_explicit_proxy_is_used_and_a_remote_one_needs_permission(stub: StubLLM):
    (error,), _ = ask(settings(stub.url, proxy="http://127.0.0.1:9", retries=0))
    assert isinstance(error, RequestFailed) and "connection" in str(error) and not stub.requests
    with pytest.raises(PrecodeError, match="proxy"):
        ChatClient(settings(stub.url, proxy="http://proxy.example.org:3128"))


# -- accounting -----------------------------------------------------------------------------------
def test_prompt_tokens_of_timed_out_attempts_are_estimated_and_recorded(stub: StubLLM):
    stub.push(Reply('{"segments": []}', delay=4.0), Reply('{"segments": []}', usage=(10, 5)))
    (result,), _ = ask(settings(stub.url, timeout=1.5, retries=1))
    assert result.http_attempts == 2 and result.usage.completion_tokens == 5
    assert result.usage.prompt_tokens > 10  # the answered request's 10 and the timed-out one's estimate
    stub.clear()
    stub.push(*[Reply('{"segments": []}', delay=1.0)] * 2)
    (failed,), _ = ask(settings(stub.url, timeout=0.3, retries=1))  # both attempts time out
    assert isinstance(failed, RequestFailed) and failed.abandoned.prompt_tokens > 0
    assert "prompt tokens of timed-out attempts estimated" in str(failed)
