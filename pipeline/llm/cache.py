"""The response cache in the project database: a request already answered is never sent again.

The key is the SHA-256 of the model, every parameter that changes the answer (temperature, seed,
token limit, response format), the prompt hash, the codebook hash and the rendered messages, which
hold the segment texts (pseudonymized, when that is on). Only answers that passed validation are
stored (by pipeline.store.llm). Nothing here holds the API key.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from pipeline.llm.client import Usage
from pipeline.store.llm import CacheEntry


@lru_cache(maxsize=16)
def _digest(content: str) -> str:
    """SHA-256 of a message; the system message, the same object in every request, is hashed once."""
    return hashlib.sha256(content.encode()).hexdigest()


def cache_key(model: str, params: dict[str, Any], prompt_hash: str, codebook_hash: str,
              messages: list[dict[str, str]]) -> str:
    payload = {"model": model, "params": params, "prompt_hash": prompt_hash, "codebook_hash": codebook_hash,
               "messages": [(m["role"], _digest(m["content"])) for m in messages]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cache_entry(key: str, model: str, content: str, finish_reason: str | None, usage: Usage) -> CacheEntry:
    """A validated answer as the store keeps it (pipeline.store.llm); a re-run reads it back instead of asking."""
    return CacheEntry(key=key, model=model, content=content, finish_reason=finish_reason,
                      prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                      cached_tokens=usage.cached_tokens)
