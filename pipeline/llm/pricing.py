"""Token prices and estimates: what a run cost, and what a run would cost (`--dry-run`).

Prices are US dollars per million tokens from `[llm.prices]`; a model matches its own entry, or
else the longest entry its name starts with ("gpt-4o-mini-2024-07-18" uses "gpt-4o-mini").
Estimates count 4 characters per token, OpenAI's rule of thumb for English text; no tokenizer is
needed, so `--dry-run` works offline for any model. Expect real counts within about ±20 %.
"""

from __future__ import annotations

import math

from pipeline.settings import Price

CHARS_PER_TOKEN = 4


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
