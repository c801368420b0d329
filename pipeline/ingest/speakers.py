"""Find speaker turns in labelled text (`Interviewer:`, `P3:`, `HCP 2:`, `[00:01:23] Name:` …).

Works on the stored text in place, so each turn's offsets point at the utterance itself (the label
and timestamp stay in the text but outside the turn). A candidate label must occur at least twice
at a line start, or be an interviewer label, so a sentence such as "One thing: …" at the start of
a line is not mistaken for a speaker.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from pipeline.models import Turn

_PARTICIPANT_ID = re.compile(r"^[A-Z]{1,4} ?\d{1,3}$")


@dataclass
class _Label:
    line_start: int
    text_start: int
    speaker: str
    timestamp: str | None


def _clean_speaker(raw: str) -> str:
    return " ".join(raw.strip().strip("*_").split())


def find_turns(
    text: str, patterns: list[str], interviewer_labels: list[str], start: int = 0
) -> tuple[list[Turn], list[str]]:
    """Return the turns found in `text[start:]` and warnings (e.g. no speaker labels)."""
    compiled = [re.compile(p, re.MULTILINE) for p in patterns]
    candidates: list[_Label] = []
    pos = start
    length = len(text)
    while pos < length:
        newline = text.find("\n", pos)
        line_end = length if newline == -1 else newline
        for pattern in compiled:
            match = pattern.match(text, pos, line_end)
            if match:
                candidates.append(_Label(pos, match.end(), _clean_speaker(match.group("speaker")),
                                         match.groupdict().get("timestamp")))
                break
        pos = line_end + 1
    frequency = Counter(c.speaker.casefold() for c in candidates)
    interviewer = {label.casefold() for label in interviewer_labels}
    labels = [
        c for c in candidates
        if frequency[c.speaker.casefold()] >= 2 or c.speaker.casefold() in interviewer or _PARTICIPANT_ID.match(c.speaker)
    ]

    if not labels:
        body_start = start + (len(text[start:]) - len(text[start:].lstrip()))
        body_end = len(text.rstrip())
        if body_end <= body_start:
            return [], ["no text found"]
        return [Turn(speaker="Unknown", start=body_start, end=body_end)], [
            "no speaker labels found: ingested as one speaker 'Unknown' (set [ingest] speaker_patterns "
            "in precode.toml if your transcripts label speakers differently)"
        ]

    turns: list[Turn] = []
    for i, label in enumerate(labels):
        end = labels[i + 1].line_start if i + 1 < len(labels) else length
        seg_start = label.text_start
        chunk = text[seg_start:end]
        seg_end = seg_start + len(chunk.rstrip())
        seg_start += len(chunk) - len(chunk.lstrip())
        if seg_end > seg_start:
            turns.append(Turn(speaker=label.speaker, start=seg_start, end=seg_end, timestamp=label.timestamp))
    return turns, []


def build_text(utterances: list[tuple[str, str, str | None]]) -> tuple[str, list[Turn]]:
    """Lay (speaker, text, timestamp) utterances out as 'Speaker: text' paragraphs with turn offsets.

    Used by formats whose source is not itself readable text (VTT, SRT, JSON): the stored text is
    what a reader would see, and turns point into it.
    """
    parts: list[str] = []
    turns: list[Turn] = []
    offset = 0
    for speaker, utterance, timestamp in utterances:
        prefix = f"{speaker}: "
        turns.append(Turn(speaker=speaker, start=offset + len(prefix), end=offset + len(prefix) + len(utterance),
                          timestamp=timestamp))
        block = prefix + utterance + "\n\n"
        parts.append(block)
        offset += len(block)
    return "".join(parts).rstrip("\n") + "\n", turns


def merge_consecutive(utterances: list[tuple[str, str, str | None]]) -> list[tuple[str, str, str | None]]:
    """Join consecutive cues of one speaker into one turn (Teams splits a long answer into many cues)."""
    merged: list[tuple[str, str, str | None]] = []
    for speaker, utterance, timestamp in utterances:
        utterance = " ".join(utterance.split())
        if not utterance:
            continue
        if merged and merged[-1][0] == speaker:
            merged[-1] = (speaker, f"{merged[-1][1]} {utterance}", merged[-1][2])
        else:
            merged.append((speaker, utterance, timestamp))
    return merged
