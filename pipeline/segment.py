"""Turns to segments (units of analysis) with exact character offsets.

A segment is a participant turn, or a piece of a long turn split at sentence boundaries to at most
`max_chars` (langchain's recursive splitter, then each piece is located in the text so that
`text[start:end] == segment.text` holds exactly). Each participant segment carries the preceding
interviewer turn as context. Interviewer turns are stored as segments too, with role
`interviewer`, so coders can skip them by default and a study can choose to code them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence

from langchain_text_splitters import RecursiveCharacterTextSplitter

from pipeline.models import Segment, SegmentRole, Transcript, Turn

SENTENCE_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]


def is_interviewer(speaker: str, interviewer_labels: list[str]) -> bool:
    label = speaker.casefold()
    return label in {x.casefold() for x in interviewer_labels} or label.startswith("interviewer")


def segment_id(transcript_id: str, start: int, end: int) -> str:
    return hashlib.sha256(f"{transcript_id}:{start}:{end}".encode()).hexdigest()[:16]


def split_turn(text: str, turn: Turn, max_chars: int, splitter: RecursiveCharacterTextSplitter) -> list[tuple[int, int]]:
    """(start, end) spans covering one turn, each at most `max_chars` unless a sentence is longer."""
    body = text[turn.start:turn.end]
    if len(body) <= max_chars:
        return [(turn.start, turn.end)]
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in splitter.split_text(body):
        found = body.find(piece, cursor)
        if found == -1:  # the splitter never rewrites text; guard the invariant anyway
            raise AssertionError("text splitter returned text not present in the turn")
        spans.append((turn.start + found, turn.start + found + len(piece)))
        cursor = found + len(piece)
    return spans


Roles = Sequence[str] | Mapping[str, SegmentRole]


def role_of(speaker: str, roles: Roles) -> SegmentRole:
    """A speaker's role: from a speaker -> role mapping (stored roles), or by interviewer labels."""
    if isinstance(roles, Mapping):
        return roles.get(speaker, SegmentRole.participant)
    return SegmentRole.interviewer if is_interviewer(speaker, list(roles)) else SegmentRole.participant


def segment_transcript(transcript: Transcript, max_chars: int, roles: Roles) -> list[Segment]:
    return list(iter_segments(transcript, max_chars, roles))


def iter_segments(transcript: Transcript, max_chars: int, roles: Roles) -> Iterator[Segment]:
    """Segments one at a time, so a very large transcript is never held as a list of models.

    `roles` is a speaker -> role mapping (as inferred at ingest) or a list of interviewer labels.
    """
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=max_chars, chunk_overlap=0, separators=SENTENCE_SEPARATORS, keep_separator="end",
        strip_whitespace=True,
    )
    index = 0
    context: Turn | None = None
    for turn in transcript.turns:
        role = role_of(turn.speaker, roles)
        question = context if role is SegmentRole.participant else None
        for start, end in split_turn(transcript.text, turn, max_chars, splitter):
            yield Segment(
                id=segment_id(transcript.id, start, end), transcript_id=transcript.id, index=index,
                start=start, end=end, speaker=turn.speaker, role=role, text=transcript.text[start:end],
                context_start=question.start if question else None,
                context_end=question.end if question else None,
                context=transcript.text[question.start:question.end] if question else None,
            )
            index += 1
        if role is SegmentRole.interviewer:
            context = turn


def rederive_roles(
    turns: Sequence[Turn], segments: Sequence[Segment], roles: Mapping[str, SegmentRole]
) -> list[tuple[str, SegmentRole, int | None, int | None]]:
    """Segments whose role or context question changes under `roles`: (id, role, context start, end).

    Works on the stored spans (segment ids depend only on them), so nothing is re-read or re-split
    and codes and decisions stay attached to their segments.
    """
    ordered = sorted(segments, key=lambda s: s.start)
    changes = []
    context: Turn | None = None
    i = 0
    for turn in turns:
        role = roles.get(turn.speaker, SegmentRole.participant)
        question = context if role is SegmentRole.participant else None
        cs, ce = (question.start, question.end) if question else (None, None)
        while i < len(ordered) and ordered[i].start < turn.end:
            seg = ordered[i]
            if seg.start >= turn.start and (seg.role, seg.context_start, seg.context_end) != (role, cs, ce):
                changes.append((seg.id, role, cs, ce))
            i += 1
        if role is SegmentRole.interviewer:
            context = turn
    return changes
