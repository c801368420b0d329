"""Turns to segments (units of analysis) with exact character offsets.

A segment is a participant turn, or a piece of a long turn split at sentence boundaries to at most
`max_chars` (langchain's recursive splitter, then each piece is located in the text so that
`text[start:end] == segment.text` holds exactly). Each participant segment carries the preceding
interviewer turn as context. Interviewer turns are stored as segments too, with role
`interviewer`, so coders can skip them by default and a study can choose to code them.
"""

from __future__ import annotations

import hashlib

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


def segment_transcript(transcript: Transcript, max_chars: int, interviewer_labels: list[str]) -> list[Segment]:
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=max_chars, chunk_overlap=0, separators=SENTENCE_SEPARATORS, keep_separator="end",
        strip_whitespace=True,
    )
    segments: list[Segment] = []
    context: Turn | None = None
    for turn in transcript.turns:
        role = SegmentRole.interviewer if is_interviewer(turn.speaker, interviewer_labels) else SegmentRole.participant
        for start, end in split_turn(transcript.text, turn, max_chars, splitter):
            segments.append(Segment(
                id=segment_id(transcript.id, start, end), transcript_id=transcript.id, index=len(segments),
                start=start, end=end, speaker=turn.speaker, role=role, text=transcript.text[start:end],
                context_start=context.start if context and role is SegmentRole.participant else None,
                context_end=context.end if context and role is SegmentRole.participant else None,
            ))
        if role is SegmentRole.interviewer:
            context = turn
    return segments
