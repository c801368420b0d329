"""The response cache in the project database: a request already answered is never sent again.

The key is the SHA-256 of the model, every parameter that changes the answer (temperature, seed,
token limit, response format), the prompt hash, the codebook hash and the rendered messages, which
hold the segment texts (pseudonymized, when that is on). Only answers that passed validation are
stored. Nothing here holds the API key.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from functools import lru_cache

from pydantic import BaseModel

from pipeline.llm.client import Usage
from pipeline.models import utcnow


class CachedAnswer(BaseModel):
    content: str
    finish_reason: str | None
    usage: Usage


@lru_cache(maxsize=16)
def _digest(content: str) -> str:
    """SHA-256 of a message; the system message, the same object in every request, is hashed once."""
    return hashlib.sha256(content.encode()).hexdigest()


def cache_key(model: str, params: dict, prompt_hash: str, codebook_hash: str, messages: list[dict]) -> str:
    payload = {"model": model, "params": params, "prompt_hash": prompt_hash, "codebook_hash": codebook_hash,
               "messages": [(m["role"], _digest(m["content"])) for m in messages]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cache_get(conn: sqlite3.Connection, key: str) -> CachedAnswer | None:
    row = conn.execute("SELECT * FROM llm_cache WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    return CachedAnswer(content=row["content"], finish_reason=row["finish_reason"],
                        usage=Usage(prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
                                    cached_tokens=row["cached_tokens"]))


def cache_put(conn: sqlite3.Connection, key: str, model: str, answer: CachedAnswer) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO llm_cache VALUES (?,?,?,?,?,?,?,?)",
        (key, model, answer.content, answer.finish_reason, answer.usage.prompt_tokens,
         answer.usage.completion_tokens, answer.usage.cached_tokens, utcnow().isoformat()),
    )
