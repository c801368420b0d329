"""Project settings (`precode.toml`): validated with pydantic, errors name the field."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import PrecodeError

DEFAULT_SPEAKER_PATTERNS = [
    # [00:01:23] Name:   or   (00:01:23) Name:
    r"^[\[(](?P<timestamp>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)[\])]\s*(?P<speaker>[^:\n]{1,40}?):\s*",
    # 00:01:23 Name:
    r"^(?P<timestamp>\d{1,2}:\d{2}:\d{2})\s+(?P<speaker>[^:\n]{1,40}?):\s*",
    # **Name:** (Markdown bold)
    r"^\*\*(?P<speaker>[^*:\n]{1,40}?):?\*\*:?\s*",
    # Interviewer: / P3: / HCP 2: / Dr Okafor: / I: / R:
    r"^(?P<speaker>[A-Z][\w .'’\-]{0,38}?|[A-Z]{1,4}\s?\d{0,3}):\s+",
    # lower-case participant ids: pim-01: / p3: / int_02:
    r"^(?P<speaker>[a-z]{1,4}[-_]?\d{1,3}):\s+",
    # Otter .txt: "Maria Gonzalez  0:12" (two spaces, then [h:]mm:ss) on its own line, the speech below
    r"^(?P<speaker>[^\n:]{1,40}?) {2,}(?P<timestamp>(?:\d{1,2}:)?\d{1,2}:\d{2})[ \t]*$",
    # Rev .txt: "Maria Gonzalez (00:12):" then the speech on the same or the next line
    r"^(?P<speaker>[^\n:()]{1,40}?) \((?P<timestamp>(?:\d{1,2}:)?\d{1,2}:\d{2})\):[ \t]*",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IngestSettings(_Section):
    speaker_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_SPEAKER_PATTERNS))
    interviewer_labels: list[str] = Field(
        default_factory=lambda: ["interviewer", "int", "i", "moderator", "facilitator", "researcher", "q",
                                 "intervjuare", "haastattelija", "moderaattori", "moderatorin", "interviewerin"]
    )
    interviewer_names: list[str] = Field(
        default_factory=list, description="names of the people who interview, as the transcripts label them "
                                          "(e.g. 'Maria Gonzalez' in a Teams export)")
    infer_interviewer: bool = Field(
        True, description="when no label or name matches: the speaker who asks most questions and speaks least "
                          "(else the first speaker) is the interviewer")


class SegmentSettings(_Section):
    max_chars: int = Field(1200, ge=100, description="longer turns are split at sentence boundaries")
    code_interviewer: bool = False


class EmbeddingSettings(_Section):
    backend: Literal["local", "openai"] = "local"
    runtime: Literal["onnx", "torch"] = Field("onnx", description="local backend: ONNX Runtime or sentence-transformers")
    model: str = "all-MiniLM-L6-v2"
    batch_size: int = Field(64, ge=1)
    threads: int = Field(0, ge=0, description="local onnx runtime: intra-op threads (0 = one per CPU core); "
                                              "1 uses less CPU in total on a shared machine")
    base_url: str | None = None
    allow_remote: bool = False


class SimilaritySettings(_Section):
    threshold: float = Field(0.40, ge=-1, le=1, description="minimum cosine similarity of a quote unit to a code")
    margin: float = Field(0.10, ge=0, le=2, description="how far above the unit's mean similarity over all codes")
    top_k: int = Field(3, ge=1, description="at most this many codes per segment")
    rule: Literal["calibrated", "cosine"] = Field(
        "calibrated", description="calibrated: a probability over the codes, its cut fitted on the codebook's own "
                                  "texts; cosine: threshold and margin (also chosen by an explicit --threshold)")


class ChromaSettings(_Section):
    url: str | None = Field(None, description="a Chroma server URL; the project's chroma/ folder when unset")


DEFAULT_PSEUDONYM_PATTERNS = {
    "email": r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
    "phone": r"(?<![\w+])\+?(?:\(\d{1,5}\)|\d)(?:[ ()-]{0,2}\d){8,14}(?!\w)",  # 9 to 15 digits
}


class PseudonymizeSettings(_Section):
    """What is replaced by placeholders before a transcript is sent (and restored in stored quotes)."""

    enabled: bool = False
    speaker_names: bool = Field(True, description="names in speaker labels (e.g. 'Dr Hannah Lindqvist')")
    names: list[str] = Field(default_factory=list, description="further names or terms to replace")
    patterns: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PSEUDONYM_PATTERNS),
                                     description="placeholder label -> regular expression")


class Price(_Section):
    """US dollars per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(None, ge=0, description="price of prompt tokens served from the provider's cache")


DEFAULT_PRICES = {  # list prices per 1M tokens when written; check your provider's and override here
    "gpt-4o": {"input": 2.50, "output": 10.00, "cached_input": 1.25},
    "gpt-4o-mini": {"input": 0.15, "output": 0.60, "cached_input": 0.075},
    "gpt-4.1": {"input": 2.00, "output": 8.00, "cached_input": 0.50},
    "gpt-4.1-mini": {"input": 0.40, "output": 1.60, "cached_input": 0.10},
    "gpt-4.1-nano": {"input": 0.10, "output": 0.40, "cached_input": 0.025},
    # reasoning models: hidden reasoning tokens are billed as output tokens
    "o1": {"input": 15.00, "output": 60.00, "cached_input": 7.50},
    "o3": {"input": 2.00, "output": 8.00, "cached_input": 0.50},
    "o3-mini": {"input": 1.10, "output": 4.40, "cached_input": 0.55},
    "o4-mini": {"input": 1.10, "output": 4.40, "cached_input": 0.275},
    "gpt-5": {"input": 1.25, "output": 10.00, "cached_input": 0.125},
    "gpt-5-mini": {"input": 0.25, "output": 2.00, "cached_input": 0.025},
    "gpt-5-nano": {"input": 0.05, "output": 0.40, "cached_input": 0.005},
}


class LLMSettings(_Section):
    """The LLM coder: endpoint, sampling, batching, resilience, data protection and prices."""

    provider: Literal["openai", "azure", "openai-compatible"] = "openai"
    base_url: str | None = Field(None, description="API base URL; OpenAI's when unset; the resource endpoint for azure")
    model: str | None = Field(None, description="model name (the deployment name for azure)")
    api_key_env: str | None = Field(None, description="environment variable holding the API key "
                                                      "(default OPENAI_API_KEY, or AZURE_OPENAI_API_KEY for azure)")
    api_version: str = Field("2024-10-21", description="azure only: the API version")
    temperature: float = Field(0.0, ge=0, le=2)
    seed: int = 0
    max_tokens: int = Field(4096, ge=16, description="the most completion tokens per request")
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] | None = Field(
        None, description="unset: from the model profile (pipeline/llm/profiles.yaml)")
    response_format: Literal["json_object", "json_schema", "none"] | None = Field(
        None, description="unset: from the server profile (json_object for most, json_schema for LM Studio)")
    send_seed: bool | None = Field(None, description="send `seed` (unset: from the profiles; some servers reject it)")
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = Field(
        None, description="reasoning models only (unset: from the model profile)")
    proxy: str | None = Field(None, description="an HTTP proxy for the LLM endpoint; unset: none for loopback and "
                                                "private endpoints, the environment's for others")
    min_evidence_words: int = Field(3, ge=1, description="a quote of fewer words is not evidence")
    research_question: str = Field("", description="the study's research question, shown to the model by prompt code.v2")
    models: list[dict[str, Any]] = Field(default_factory=list, description="your own model profiles")
    servers: list[dict[str, Any]] = Field(default_factory=list, description="your own server profiles")
    context_tokens: int = Field(128_000, ge=1024, description="the model's context window; larger prompts are refused")
    timeout: float = Field(120.0, gt=0, description="seconds per request")
    concurrency: int = Field(4, ge=1, le=256, description="requests in flight at once")
    batch_size: int = Field(4, ge=1, le=50, description="segments per request")
    retries: int = Field(4, ge=0, le=20, description="retries of a request after 429, 5xx, timeouts, connection errors")
    backoff_initial: float = Field(1.0, gt=0, description="seconds; exponential backoff with jitter starts here")
    backoff_max: float = Field(60.0, gt=0, description="seconds; the longest wait, Retry-After included")
    reasks: int = Field(2, ge=0, le=10, description="re-asks after invalid JSON or schema violations")
    samples: int = Field(1, ge=1, le=20, description="self-consistency samples per segment (needs temperature > 0)")
    candidates_top_k: int = Field(0, ge=0, description="narrowing: send the full entries of this many likeliest "
                                                       "codes per segment (0 = off: the full codebook)")
    propose_codes: bool = False
    allow_remote: bool = False
    prompt: str = Field("code.v1", description="a shipped prompt version, or a path prefix of your own templates")
    output_tokens_per_segment: int = Field(120, ge=1, description="--dry-run: assumed completion tokens per segment")
    batch_wait: float = Field(0.0, ge=0, description="--batch: seconds one command waits for its provider batch "
                                                     "(0: submit or collect, then return; run again to collect)")
    batch_poll: float = Field(30.0, gt=0, description="--batch: seconds between status checks while waiting")
    batch_price_factor: float = Field(0.5, ge=0, description="--batch: batch price as a share of the list price")
    batch_max_requests: int = Field(50_000, ge=1, le=50_000, description="--batch: requests per provider batch "
                                                                        "(more are split; also at 190 MB a file)")
    batch_command: str | None = Field(None, description="--batch with a local server's offline batch entry point "
                                                        "instead of the Batch API, e.g. 'python -m vllm.entrypoints."
                                                        "openai.run_batch -i {input} -o {output} --model {model}'")
    prices: dict[str, Price] = Field(default_factory=lambda: {k: Price(**v) for k, v in DEFAULT_PRICES.items()})
    pseudonymize: PseudonymizeSettings = Field(default_factory=PseudonymizeSettings)


class Settings(_Section):
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    segment: SegmentSettings = Field(default_factory=SegmentSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    similarity: SimilaritySettings = Field(default_factory=SimilaritySettings)
    chroma: ChromaSettings = Field(default_factory=ChromaSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)


def load_settings(path: Path) -> Settings:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PrecodeError(f"invalid TOML ({exc})", path=str(path), hint="fix the syntax of the settings file") from None
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = [f"[{'.'.join(str(p) for p in e['loc'][:-1]) or 'top'}] {e['loc'][-1]}: {e['msg']}"
                    for e in exc.errors()]
        raise PrecodeError("invalid settings:\n  " + "\n  ".join(problems), path=str(path),
                           hint="fix or remove these keys (see README, 'Settings')") from None


def write_settings(path: Path, settings: Settings) -> None:
    data = settings.model_dump(exclude_none=True)
    path.write_text(
        "# precode project settings. Remove a key to get its default.\n" + tomli_w.dumps(data), encoding="utf-8"
    )
