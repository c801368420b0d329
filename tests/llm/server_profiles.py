"""How real OpenAI-compatible servers refuse requests, for the stub (`stub.server = PROFILE`).

Each profile returns the error Reply the real server sends for a request it refuses, else None
(the stub then answers normally). The bodies are the ones the providers document or that users
quote in their issue trackers:
- OpenAI reasoning models (o1/o3/o4-mini/gpt-5): 400 `unsupported_parameter` for max_tokens
  ("Use 'max_completion_tokens' instead.") and 400 `unsupported_value` for a temperature other
  than 1 (e.g. griptape-ai/ComfyUI-Griptape#312, gabrii/Cursor-Azure-GPT-5#33);
- Azure AI Foundry serverless Mistral: 422 `{"detail": [{"type": "extra_forbidden", "loc": ["body",
  "seed"], ...}]}` (langchain-ai/langchain-azure#82);
- Gemini's OpenAI-compatible endpoint: 400, a list `[{"error": {"code": 400, "message": "Invalid
  JSON payload received. Unknown name \\"seed\\": Cannot find field.", "status": "INVALID_ARGUMENT"}}]`
  (Vali-98/ChatterUI#227);
- LM Studio: 400 `{"error": "'response_format.type' must be 'json_schema' or 'text'"}`
  (lmstudio-ai/lmstudio-bug-tracker#169, #189);
- OpenAI with an empty account: 429 `{"error": {"message": "You exceeded your current quota, please
  check your plan and billing details.", "type": "insufficient_quota", "code": "insufficient_quota"}}`.
"""

from __future__ import annotations

import json

from stub_server import Reply


def _openai_error(message: str, param: str | None, code: str, type_: str = "invalid_request_error") -> str:
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


def openai_reasoning(body: dict) -> Reply | None:
    if "max_tokens" in body:
        return Reply(status=400, raw=_openai_error(
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' "
            "instead.", "max_tokens", "unsupported_parameter"))
    if "temperature" in body and body["temperature"] != 1:
        return Reply(status=400, raw=_openai_error(
            f"Unsupported value: 'temperature' does not support {body['temperature']} with this model. Only the "
            "default (1) value is supported.", "temperature", "unsupported_value"))
    return None


def azure_foundry_mistral(body: dict) -> Reply | None:
    if "seed" in body:
        return Reply(status=422, raw=json.dumps({"detail": [{
            "type": "extra_forbidden", "loc": ["body", "seed"], "msg": "Extra inputs are not permitted",
            "input": body["seed"]}]}))
    return None


def gemini_openai(body: dict) -> Reply | None:
    if "seed" in body:
        message = 'Invalid JSON payload received. Unknown name "seed": Cannot find field.'
        return Reply(status=400, raw=json.dumps([{"error": {
            "code": 400, "message": message, "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                         "fieldViolations": [{"description": message}]}]}}]))
    return None


def lmstudio(body: dict) -> Reply | None:
    if (body.get("response_format") or {}).get("type") not in (None, "json_schema", "text"):
        return Reply(status=400, raw=json.dumps({"error": "'response_format.type' must be 'json_schema' or 'text'"}))
    return None


QUOTA_MESSAGE = "You exceeded your current quota, please check your plan and billing details."


def insufficient_quota(body: dict) -> Reply | None:
    return Reply(status=429, raw=_openai_error(QUOTA_MESSAGE, None, "insufficient_quota", "insufficient_quota"))


def broken_template(body: dict) -> Reply | None:
    """A local server whose chat template cannot render the request: the same plain-text 400 for all."""
    return Reply(status=400, raw="Bad Request: the chat template of this model does not support a system message",
                 media_type="text/plain")
