"""Prompts as versioned template files: load them, hash them, render the codebook and the segments.

A prompt version is three Jinja2 files in `prompts/` (shipped as `pipeline.prompts`):
`NAME.system.j2` (instructions and the rendered codebook: identical for every request of a run, so
a provider's prompt cache can reuse it), `NAME.user.j2` (the segments of one request, each with its
interviewer question as context, and with candidate narrowing the candidates' full entries) and
`NAME.reask.j2` (the follow-up sent after an invalid answer). `[llm] prompt` names a shipped
version ("code.v1", or "code.v2": rationale before the code, the study's research question from
`[llm] research_question`, the participant's group when known, the lead-in of an answer split
into several segments, and each code's exclusion notes as near misses) or the path prefix of your
own three files ("my/prompts/code.v3"). The
prompt hash is the SHA-256 of the version name and the three files; it is stored with the run
and with every suggestion, and it is part of the response cache key.

Transcript text is data: it is placed inside <transcript> tags, and any tag-like text in it that
could close or open those tags is defused (its "<" becomes a fullwidth "＜", which quote grounding
reads as "<"), so a transcript cannot end the data block early.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from pipeline.codebook import Codebook
from pipeline.errors import PrecodeError
from pipeline.models import Code, Segment
from pipeline.package_data import data_dir

PARTS = ("system", "user", "reask")
_TAG_LIKE = re.compile(r"<(?=/?\s*(?:transcript|segment|question|answer|lead_in)\b)", re.IGNORECASE)
CONTEXT_MAX_CHARS = 600


def defuse(text: str) -> str:
    """Make transcript text unable to open or close the prompt's data tags."""
    return _TAG_LIKE.sub("\uff1c", text)


def shorten_context(question: str | None) -> str | None:
    """The interviewer's question, cut to its last `CONTEXT_MAX_CHARS` characters at a word boundary."""
    if not question:
        return None
    question = question.strip()
    if len(question) <= CONTEXT_MAX_CHARS:
        return question
    tail = question[-CONTEXT_MAX_CHARS:]
    return "…" + tail[tail.find(" ") + 1:] if " " in tail else "…" + tail


@dataclass(frozen=True)
class SegmentView:
    """One segment as the prompt shows it: a short label, its text and its question (pseudonymized);
    `lead_in`: the end of the same answer's previous segment when a long answer was split;
    `participant`: who speaks (e.g. their group or role), when the transcript's metadata says."""

    label: str
    text: str
    question: str | None
    lead_in: str | None = None
    participant: str | None = None


LEAD_IN_MAX_CHARS = 240
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


_INDEXED: list[tuple[list[Segment], dict[tuple[str, int], Segment]]] = []


def _segment_index(segments: list[Segment]) -> dict[tuple[str, int], Segment]:
    """(transcript, index) -> segment, built once per list (a run plans many groups of one list)."""
    if not _INDEXED or _INDEXED[0][0] is not segments or len(_INDEXED[0][1]) != len(segments):
        _INDEXED[:] = [(segments, {(seg.transcript_id, seg.index): seg for seg in segments})]
    return _INDEXED[0][1]


def lead_ins(group: list[Segment], segments: list[Segment]) -> list[str | None]:
    """For each segment of `group`: the last sentence of the previous piece of the same answer, if
    the answer was split (same transcript and speaker, next index, same question, adjacent text)."""
    by_index = _segment_index(segments)
    out: list[str | None] = []
    for seg in group:
        prev = by_index.get((seg.transcript_id, seg.index - 1))
        if (prev is None or prev.speaker != seg.speaker or prev.context_start != seg.context_start
                or not 0 <= seg.start - prev.end <= 2):
            out.append(None)
            continue
        last = _SENTENCE_END.split(prev.text.strip())[-1]
        out.append(last if len(last) <= LEAD_IN_MAX_CHARS else "…" + last[-LEAD_IN_MAX_CHARS:].split(" ", 1)[-1])
    return out


def _code_entry(codebook: Codebook, code: Code) -> dict[str, Any]:
    return {"id": code.id, "label": code.label, "path": codebook.path(code.id), "definition": code.definition,
            "include": code.include, "exclude": code.exclude, "examples": code.examples,
            "near_misses": code.exclude}


class PromptSet:
    """The three templates of one prompt version, ready to render."""

    def __init__(self, version: str, sources: dict[str, str], research_question: str = ""):
        self.version = version
        self.research_question = research_question.strip()
        digest = hashlib.sha256(version.encode())
        for part in PARTS:
            digest.update(f"\0{part}\0".encode() + sources[part].encode())
        self.hash = digest.hexdigest()
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                 keep_trailing_newline=False, autoescape=False)
        try:
            self.templates = {part: env.from_string(sources[part]) for part in PARTS}
        except jinja2.TemplateSyntaxError as exc:
            raise PrecodeError(f"prompt template syntax error on line {exc.lineno}: {exc.message}",
                               path=f"{version}.{exc.name or '?'}.j2") from None

    def _render(self, part: str, **values: Any) -> str:
        try:
            return self.templates[part].render(**values).strip() + "\n"
        except jinja2.UndefinedError as exc:
            raise PrecodeError(f"prompt template '{self.version}.{part}.j2': {exc.message}",
                               hint="use only the variables listed in docs/llm.md") from None

    def system(self, codebook: Codebook, codes: list[Code], level: str, narrowed: bool, propose_codes: bool) -> str:
        """Instructions and codebook: the stable prefix of every request."""
        return self._render("system", codebook=codebook, level=level, narrowed=narrowed, propose_codes=propose_codes,
                            codes=[_code_entry(codebook, c) for c in codes], research_question=self.research_question)

    def user(self, codebook: Codebook, segments: list[SegmentView], candidates: list[Code] | None,
             propose_codes: bool) -> str:
        views = [SegmentView(s.label, defuse(s.text), defuse(s.question) if s.question else None,
                             defuse(s.lead_in) if s.lead_in else None, defuse(s.participant) if s.participant else None)
                 for s in segments]
        return self._render("user", segments=views, propose_codes=propose_codes,
                            candidates=[_code_entry(codebook, c) for c in candidates] if candidates is not None else None)

    def reask(self, error: str, labels: list[str]) -> str:
        return self._render("reask", error=error, labels=labels)


def load_prompt(ref: str, research_question: str = "") -> PromptSet:
    """A shipped prompt version by name, or your own templates by path prefix."""
    shipped = data_dir("prompts") / ref
    prefix = shipped if (shipped.parent / f"{shipped.name}.system.j2").is_file() else Path(ref).expanduser()
    sources = {}
    for part in PARTS:
        path = prefix.parent / f"{prefix.name}.{part}.j2"
        if not path.is_file():
            shipped_names = sorted(p.name.removesuffix(".system.j2") for p in data_dir("prompts").glob("*.system.j2"))
            raise PrecodeError(f"prompt template not found: {path}", path="[llm] prompt",
                               hint=f"use a shipped version ({', '.join(shipped_names)}) or a path prefix with "
                                    f"{', '.join(f'.{p}.j2' for p in PARTS)} files")
        sources[part] = path.read_text(encoding="utf-8")
    return PromptSet(prefix.name, sources, research_question)
