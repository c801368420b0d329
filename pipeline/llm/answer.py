"""The model's answer: its pydantic schema, and parsing that turns bad output into a re-ask message.

An answer has one entry per segment of the request: `{"segments": [{"segment": "S1", "codes":
[{"code_id", "quote", "rationale", "confidence"}], "new_codes": [...]}]}`. An empty `codes` list is
a valid answer. Parsing raises `InvalidAnswer` for output that cannot be used at all — empty, cut off
at the token limit, not JSON, not this schema, segments missing, unknown or repeated — and its
message is what the re-ask tells the model. Problems with single items (unknown code ids, quotes from
the wrong segment, duplicate codes) are not schema errors: they are judged by `pipeline.llm.checks`.

Before a re-ask, what small local models commonly write is taken as they meant it: `<think>…</think>`
reasoning before the answer (braces in it included) is dropped, and so are code fences and prose
around the object; JSON with trailing commas, single quotes, comments or a missing bracket is
repaired with the json-repair library — except when the answer was cut off at the token limit,
where a repaired answer would silently lose codes; a confidence written as a word ("high") or a
percentage ("85%") is read as a number. (Code labels given instead of ids are mapped in checks.)
"""

from __future__ import annotations

import json
import re
from typing import Any

import json_repair
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CONFIDENCE_WORDS = {"very high": 0.95, "high": 0.9, "medium": 0.6, "moderate": 0.6, "low": 0.3, "very low": 0.1}


class CodeApplication(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code_id: str = Field(min_length=1)
    quote: str = Field(min_length=1)
    rationale: str = Field(min_length=1)
    confidence: float = Field(ge=0, le=1)

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence_word(cls, value: Any) -> Any:
        """'high' / 'medium' / 'low', '85%' or 85 (a percentage) as a number from 0 to 1."""
        if isinstance(value, str):
            text = value.strip().casefold()
            if text in CONFIDENCE_WORDS:
                return CONFIDENCE_WORDS[text]
            if text.endswith("%"):
                try:
                    return float(text[:-1]) / 100
                except ValueError:
                    return value
        return value


class NewCode(BaseModel):
    model_config = ConfigDict(extra="ignore")
    label: str = Field(min_length=1)
    definition: str = Field(min_length=1)
    quote: str = Field(min_length=1)
    rationale: str = ""
    parent_code_id: str | None = None


class SegmentAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    segment: str
    codes: list[CodeApplication]
    new_codes: list[NewCode] = Field(default_factory=list)


class Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    segments: list[SegmentAnswer]

    def by_label(self) -> dict[str, SegmentAnswer]:
        return {s.segment: s for s in self.segments}


class InvalidAnswer(Exception):
    """Output that cannot be used; the message says what to fix and is sent back in the re-ask."""


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)


def strip_reasoning(content: str) -> str:
    """The content without `<think>…</think>` blocks (also when the server dropped the opening tag)."""
    content = _THINK.sub("", content)
    for tag in ("</think>", "</thinking>", "</reasoning>"):
        if tag in content:
            content = content.rsplit(tag, 1)[1]
    return content


def _json_text(content: str) -> str:
    """The JSON object in the content: code fences removed, and any prose before or after it."""
    content = strip_reasoning(content)
    fenced = _FENCE.match(content)
    if fenced:
        content = fenced.group(1)
    start, end = content.find("{"), content.rfind("}")
    return content[start:end + 1] if 0 <= start < end else content


def parse_answer(content: str | None, labels: list[str], finish_reason: str | None = None) -> Answer:
    """Validate one response against the schema and the segment labels of its request."""
    if not content or not content.strip() or not strip_reasoning(content).strip():
        if finish_reason == "length":
            raise InvalidAnswer("the answer was empty: the token limit was reached before any answer was written "
                                "(a reasoning model may spend it all on reasoning; raise [llm] max_tokens).")
        raise InvalidAnswer("the answer was empty.")
    text = _json_text(content)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if finish_reason == "length":
            raise InvalidAnswer("the answer was cut off at the token limit before the JSON was complete; "
                                "keep rationales to one short sentence.") from None
        repaired = _repaired(text, labels)  # trailing commas, single quotes, comments, a missing bracket …
        if repaired is None:
            raise InvalidAnswer(f"it is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).") from None
        return repaired
    entries = data.get("segments") if isinstance(data, dict) else None
    given = [e.get("segment") for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    problems = _label_problems([g for g in given if isinstance(g, str)], labels) if given else []
    try:
        answer = Answer.model_validate(data)
    except ValidationError as exc:
        schema = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'the top level'}: {e['msg']}" for e in exc.errors()[:8]
        )
        raise InvalidAnswer(f"it does not match the answer format ({schema})"
                            + (f"; also {'; '.join(problems)}" if problems else "") + ".") from None
    problems = _label_problems([s.segment for s in answer.segments], labels)
    if problems:
        raise InvalidAnswer("; ".join(problems) + ".")
    return answer


def _repaired(text: str, labels: list[str]) -> Answer | None:
    """The answer json-repair makes of invalid JSON, if it is a complete, valid one (else the re-ask)."""
    data = json_repair.loads(text)
    try:
        answer = Answer.model_validate(data)
    except ValidationError:
        return None
    return None if _label_problems([s.segment for s in answer.segments], labels) else answer


def _label_problems(given: list[str], labels: list[str]) -> list[str]:
    problems = []
    repeated = sorted({g for g in given if given.count(g) > 1})
    if repeated:
        problems.append(f"segment(s) {', '.join(repeated)} appear more than once")
    unknown = [g for g in given if g not in labels]
    if unknown:
        problems.append(f"segment(s) {', '.join(unknown)} were not in the request")
    missing = [label for label in labels if label not in given]
    if missing:
        problems.append(f"segment(s) {', '.join(missing)} are missing (give an empty codes list when no code fits)")
    return problems


def answer_schema(labels: list[str], code_ids: list[str], propose_codes: bool) -> dict[str, Any]:
    """A strict JSON schema for `response_format = "json_schema"` (segments and code ids as enums)."""
    code = {
        "type": "object", "additionalProperties": False,
        "required": ["code_id", "quote", "rationale", "confidence"],
        "properties": {"code_id": {"type": "string", "enum": code_ids}, "quote": {"type": "string"},
                       "rationale": {"type": "string"}, "confidence": {"type": "number"}},
    }
    segment: dict[str, Any] = {
        "type": "object", "additionalProperties": False, "required": ["segment", "codes"],
        "properties": {"segment": {"type": "string", "enum": labels}, "codes": {"type": "array", "items": code}},
    }
    if propose_codes:
        segment["required"].append("new_codes")
        segment["properties"]["new_codes"] = {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["label", "definition", "quote", "rationale", "parent_code_id"],
            "properties": {"label": {"type": "string"}, "definition": {"type": "string"}, "quote": {"type": "string"},
                           "rationale": {"type": "string"}, "parent_code_id": {"type": ["string", "null"]}},
        }}
    return {"type": "object", "additionalProperties": False, "required": ["segments"],
            "properties": {"segments": {"type": "array", "items": segment}}}
