"""Model and server profiles: what a chat request carries for a given model and endpoint.

The shipped table is `profiles.yaml` beside this module (its header explains the keys); a
project adds its own entries in precode.toml (`[[llm.models]]` and `[[llm.servers]]`, tried
before the shipped ones) and overrides single keys in `[llm]`. `resolve()` lays the layers over
each other and gives the `RequestShape` a client starts with; the client may then adapt it once
per parameter when a server names a parameter it does not accept (pipeline.llm.failures).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import PrecodeError
from pipeline.settings import LLMSettings

PROFILES_FILE = Path(__file__).with_name("profiles.yaml")

TokenParam = Literal["max_tokens", "max_completion_tokens"]
Format = Literal["json_object", "json_schema", "none"]
Effort = Literal["minimal", "low", "medium", "high"]


class Profile(BaseModel):
    """One entry of `models` (with `match`) or `servers` (with `url`); unset keys keep the layer below."""

    model_config = ConfigDict(extra="forbid")
    name: str
    match: str | None = Field(None, description="models: regular expression matched at the start of the model name")
    url: str | None = Field(None, description="servers: regular expression searched in the base URL")
    token_param: TokenParam | None = None
    temperature: bool | None = None
    seed: bool | None = None
    reasoning_effort: Effort | None = None
    response_format: Format | None = None
    tokenizer: str | None = None
    reasoning: bool | None = None


class RequestShape(BaseModel):
    """What every request of a run carries (the parts that differ between servers)."""

    token_param: TokenParam = "max_tokens"
    temperature: bool = True
    seed: bool = True
    reasoning_effort: Effort | None = None
    response_format: Format = "json_object"
    tokenizer: str | None = None
    reasoning: bool = False
    profiles: list[str] = Field(default_factory=list, description="names of the profiles that applied")

    def describe(self) -> str:
        sent: list[str] = [self.token_param]
        sent += ["temperature"] if self.temperature else []
        sent += ["seed"] if self.seed else []
        sent += [f"reasoning_effort={self.reasoning_effort}"] if self.reasoning_effort else []
        sent += [f"response_format={self.response_format}"]
        return ", ".join(sent)


class ProfileTable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: list[Profile] = Field(default_factory=list)
    servers: list[Profile] = Field(default_factory=list)


@lru_cache(maxsize=1)
def shipped_profiles() -> ProfileTable:
    return ProfileTable.model_validate(yaml.safe_load(PROFILES_FILE.read_text(encoding="utf-8")))


def _user_profiles(entries: list[dict[str, Any]], where: str) -> list[Profile]:
    profiles = []
    for i, entry in enumerate(entries):
        try:
            profile = Profile.model_validate({"name": f"{where}[{i}]", **entry})
            for pattern in (profile.match, profile.url):
                if pattern is not None:
                    re.compile(pattern)
        except (ValidationError, re.error) as exc:
            raise PrecodeError(f"invalid profile {where}[{i}]: {str(exc).splitlines()[0]}",
                               path=f"[[{where}]]", hint="see docs/llm.md, 'Providers and models', for the keys") from None
        profiles.append(profile)
    return profiles


def model_name(model: str | None) -> str:
    """The model name without a router's vendor prefix ('openai/gpt-5' -> 'gpt-5')."""
    return (model or "").rsplit("/", 1)[-1]


def find_model_profile(model: str | None, profiles: list[Profile]) -> Profile | None:
    name = model_name(model)
    return next((p for p in profiles if p.match and re.match(p.match, name, re.IGNORECASE)), None)


def find_server_profile(url: str | None, profiles: list[Profile]) -> Profile | None:
    return next((p for p in profiles if p.url and url and re.search(p.url, url, re.IGNORECASE)), None)


_KEYS = ("token_param", "temperature", "seed", "reasoning_effort", "response_format", "tokenizer", "reasoning")


_RESOLVED: dict[str, RequestShape] = {}


def resolve(settings: LLMSettings) -> RequestShape:
    """The request shape for these settings: defaults < model profile < server profile < [llm] keys."""
    key = json.dumps([settings.model, settings.base_url, settings.max_tokens_param, settings.response_format,
                      settings.send_seed, settings.reasoning_effort, settings.models, settings.servers],
                     sort_keys=True, default=str)
    if key not in _RESOLVED:  # asked once per batch while planning a run: worked out once
        _RESOLVED[key] = _resolve(settings)
    return _RESOLVED[key].model_copy()


def _resolve(settings: LLMSettings) -> RequestShape:
    table = shipped_profiles()
    models = _user_profiles(settings.models, "llm.models") + table.models
    servers = _user_profiles(settings.servers, "llm.servers") + table.servers
    values: dict[str, Any] = {}
    applied = []
    for profile in (find_model_profile(settings.model, models), find_server_profile(settings.base_url, servers)):
        if profile is None:
            continue
        applied.append(profile.name)
        values.update({k: getattr(profile, k) for k in _KEYS if getattr(profile, k) is not None})
    explicit = {"token_param": settings.max_tokens_param, "response_format": settings.response_format,
                "seed": settings.send_seed, "reasoning_effort": settings.reasoning_effort}
    values.update({k: v for k, v in explicit.items() if v is not None})
    return RequestShape(**values, profiles=applied)
