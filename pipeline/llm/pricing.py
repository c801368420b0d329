"""Token prices and estimates: what a run cost, and what a run would cost (`--dry-run`).

Prices are US dollars per million tokens from `[llm.prices]`; a model matches its own entry, or
else the longest entry its name starts with ("gpt-4o-mini-2024-07-18" uses "gpt-4o-mini").
`--dry-run` (LLMCoder.estimate) counts a model's prompt tokens with its tokenizer when the model
profiles name one (OpenAI models); other models are estimated at 4 characters per token, OpenAI's
rule of thumb for English text (expect real counts within about ±20 %), which also serves the
context-window check before a run. `count_tokens` / `count_prompt_tokens` count exactly with an OpenAI BPE (o200k_base for gpt-4o,
gpt-4.1, o-series and gpt-5; cl100k_base for gpt-4 and gpt-3.5, as the model profiles say) from the
bpe-openai package, which ships the BPE files (tiktoken downloads them at run time, which an
offline machine cannot); chat messages add OpenAI's documented 3 tokens each and 3 for the reply.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from typing import Any

from pipeline.settings import Price

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 3  # OpenAI chat format: <|start|>role ... <|end|>
TOKENS_PER_REPLY = 3  # every reply is primed with <|start|>assistant<|message|>


@lru_cache(maxsize=4)
def _encoding(name: str) -> Any:
    import bpe_openai  # loads its shipped BPE file (about a second for o200k_base)

    with warnings.catch_warnings():  # its importlib.resources call is deprecated, harmlessly
        warnings.simplefilter("ignore", DeprecationWarning)
        return bpe_openai.get_encoding(name)


def count_tokens(text: str, tokenizer: str | None) -> int:
    """Tokens of `text` with the named BPE, or at `CHARS_PER_TOKEN` when there is none."""
    if tokenizer is None:
        return estimate_tokens(len(text))
    with warnings.catch_warnings():  # bpe-openai reads its BPE file lazily, with a deprecated importlib call
        warnings.simplefilter("ignore", DeprecationWarning)
        return len(_encoding(tokenizer).encode_ordinary(text))


def count_prompt_tokens(messages: list[dict[str, Any]], tokenizer: str | None) -> int:
    """Prompt tokens of a chat request as OpenAI counts them (or at `CHARS_PER_TOKEN` without a tokenizer)."""
    if tokenizer is None:
        return estimate_tokens(sum(len(m.get("content") or "") for m in messages))
    return sum(TOKENS_PER_MESSAGE + count_tokens(m.get("content") or "", tokenizer) + count_tokens(m["role"], tokenizer)
               for m in messages) + TOKENS_PER_REPLY


def find_price(model: str | None, prices: dict[str, Price]) -> Price | None:
    if not model:
        return None
    if model in prices:
        return prices[model]
    prefixes = [name for name in prices if model.startswith(name)]
    return prices[max(prefixes, key=len)] if prefixes else None


def cost_usd(price: Price | None, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float | None:
    """Dollars for one call; cached prompt tokens at the cached price when one is set."""
    if price is None:
        return None
    cached = min(cached_tokens, prompt_tokens)
    cached_rate = price.cached_input if price.cached_input is not None else price.input
    return ((prompt_tokens - cached) * price.input + cached * cached_rate + completion_tokens * price.output) / 1e6


def estimate_tokens(chars: int) -> int:
    """Tokens in a text of `chars` characters, at `CHARS_PER_TOKEN`."""
    return math.ceil(chars / CHARS_PER_TOKEN)
