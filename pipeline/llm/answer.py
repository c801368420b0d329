"""The model's answer: its pydantic schema, and parsing that turns bad output into a re-ask message.

An answer has one entry per segment of the request: `{"segments": [{"segment": "S1", "codes":
[{"code_id", "quote", "rationale", "confidence"}], "new_codes": [...]}]}`. An empty `codes` list is
a valid answer. Parsing raises `InvalidAnswer` for output that cannot be used at all — empty, cut off
at the token limit, not JSON, not this schema, segments missing, unknown or repeated — and its
message is what the re-ask tells the model. Problems with single items (unknown code ids, quotes from
the wrong segment, duplicate codes) are not schema errors: they are judged by `pipeline.llm.checks`.
"""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class CodeApplication(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code_id: str = Field(min_length=1)
    quote: str = Field(min_length=1)
    rationale: str = Field(min_length=1)
    confidence: float = Field(ge=0, le=1)


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


def _json_text(content: str) -> str:
    """The JSON object in the content: code fences removed, and any prose before or after it."""
    fenced = _FENCE.match(content)
    if fenced:
        content = fenced.group(1)
    start, end = content.find("{"), content.rfind("}")
    return content[start:end + 1] if 0 <= start < end else content


def parse_answer(content: str | None, labels: list[str], finish_reason: str | None = None) -> Answer:
    """Validate one response against the schema and the segment labels of its request."""
    if not content or not content.strip():
        raise InvalidAnswer("the answer was empty.")
    try:
        data = json.loads(_json_text(content))
    except json.JSONDecodeError as exc:
        if finish_reason == "length":
            raise InvalidAnswer("the answer was cut off at the token limit before the JSON was complete; "
                                "keep rationales to one short sentence.") from None
        raise InvalidAnswer(f"it is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).") from None
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


def answer_schema(labels: list[str], code_ids: list[str], propose_codes: bool) -> dict:
    """A strict JSON schema for `response_format = "json_schema"` (segments and code ids as enums)."""
    code = {
        "type": "object", "additionalProperties": False,
        "required": ["code_id", "quote", "rationale", "confidence"],
        "properties": {"code_id": {"type": "string", "enum": code_ids}, "quote": {"type": "string"},
                       "rationale": {"type": "string"}, "confidence": {"type": "number"}},
    }
    segment = {
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
