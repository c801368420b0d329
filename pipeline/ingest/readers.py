"""One reader per transcript format, each turning a file's bytes into text + turns + metadata."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import srt
import webvtt
import yaml
from docx import Document
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph
from lxml import etree
from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.errors import PrecodeError
from pipeline.ingest.decode import decode_bytes, normalize_text
from pipeline.ingest.speakers import build_text, find_turns, merge_consecutive
from pipeline.models import TranscriptMetadata, Turn
from pipeline.settings import IngestSettings

SUPPORTED_EXTENSIONS = (".txt", ".md", ".vtt", ".srt", ".docx", ".json")
_CUE_SPEAKER = re.compile(r"^(?P<speaker>[^:\n]{1,40}?):\s+(?P<text>.+)$", re.DOTALL)
_VTT_TIMING = re.compile(r"^(\d{2,}:)?\d{2}:\d{2}\.\d{3}\s+-->\s+(\d{2,}:)?\d{2}:\d{2}\.\d{3}(\s+.*)?$")
_META_FIELDS = {"participant_id", "group", "site", "date"}
_TIMESTAMP = re.compile(r"(?:(\d{2,}):)?(\d{2}):(\d{2})[.,](\d{3})")


def _time_out_of_range(parts: tuple[str, str, str, str]) -> bool:
    """mm and ss of an hh:mm:ss.ttt (or mm:ss.ttt) timestamp must be below 60."""
    return int(parts[1]) >= 60 or int(parts[2]) >= 60


@dataclass
class ParsedTranscript:
    text: str
    turns: list[Turn]
    encoding: str
    format: str
    metadata: TranscriptMetadata = field(default_factory=TranscriptMetadata)
    warnings: list[str] = field(default_factory=list)


def metadata_from_mapping(data: dict[str, Any], source: str) -> TranscriptMetadata:
    if not isinstance(data, dict):
        raise PrecodeError("metadata must be a mapping of field: value", path=source)
    known = {k: str(v) for k, v in data.items() if k in _META_FIELDS and v not in (None, "")}
    extra = {str(k): str(v) for k, v in data.items() if k not in _META_FIELDS and v not in (None, "")}
    return TranscriptMetadata(**known, extra=extra)


def _front_matter(text: str, path: str) -> tuple[TranscriptMetadata, int]:
    """YAML front matter between '---' lines at the top; returns metadata and where the body starts."""
    if not text.startswith("---\n"):
        return TranscriptMetadata(), 0
    close = text.find("\n---", 4)
    if close == -1:
        raise PrecodeError("line 1: front matter opened with '---' is never closed", path=path,
                           hint="add a closing '---' line after the metadata")
    try:
        data = yaml.safe_load(text[4:close]) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 2}: " if mark else ""
        raise PrecodeError(f"{line}invalid YAML in front matter", path=path) from None
    body = text.find("\n", close + 4)
    return metadata_from_mapping(data, path), len(text) if body == -1 else body + 1


def read_labelled_text(data: bytes, path: str, settings: IngestSettings, fmt: str) -> ParsedTranscript:
    text, encoding = decode_bytes(data, path)
    metadata, body = _front_matter(text, path)
    turns, warnings = find_turns(text, settings.speaker_patterns, settings.interviewer_labels, start=body)
    if not turns:
        raise PrecodeError("the file has no transcript text", path=path)
    return ParsedTranscript(text, turns, encoding, fmt, metadata, warnings)


def _cue_utterance(raw_text: str, voice: str | None) -> tuple[str, str]:
    text = " ".join(raw_text.split())
    if voice:
        return voice.strip(), text
    match = _CUE_SPEAKER.match(text)
    if match:
        return match.group("speaker").strip(), match.group("text")
    return "", text


def _with_speakers(utterances: list[tuple[str, str, str | None]]) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    if any(speaker for speaker, _, _ in utterances):
        last = "Unknown"
        filled = []
        for speaker, text, ts in utterances:
            last = speaker or last
            filled.append((last, text, ts))
        return filled, []
    return [("Unknown", t, ts) for _, t, ts in utterances], [
        "no speaker labels found: ingested as one speaker 'Unknown'"
    ]


def read_vtt(data: bytes, path: str, settings: IngestSettings) -> ParsedTranscript:
    text, encoding = decode_bytes(data, path)
    if not text.lstrip().startswith("WEBVTT"):
        raise PrecodeError("line 1: a WebVTT file must start with 'WEBVTT'", path=path,
                           hint="export the transcript again as .vtt, or rename it .txt if it is plain text")
    lines = text.splitlines()
    bad_cues: set[int] = set()
    time_warnings: list[str] = []
    cue_index = 0
    for line_no, line in enumerate(lines, start=1):
        if "-->" not in line:
            continue
        if not _VTT_TIMING.match(line.strip()):
            raise PrecodeError(f"line {line_no}: malformed WebVTT cue timing '{line.strip()[:60]}'", path=path,
                               hint="a cue timing looks like '00:00:01.000 --> 00:00:04.500'")
        if any(_time_out_of_range(t) for t in _TIMESTAMP.findall(line)):
            # webvtt-py silently drops such a cue with its speech: keep the speech, drop only the time
            time_warnings.append(f"line {line_no}: cue time '{line.strip()[:60]}' is out of range (minutes and "
                                 "seconds must be below 60); the cue's speech is kept without its time")
            lines[line_no - 1] = "00:00:00.000 --> 00:00:00.000"
            bad_cues.add(cue_index)
        cue_index += 1
    try:
        captions = webvtt.from_buffer(io.StringIO("\n".join(lines))).captions
    except Exception as exc:  # webvtt raises its own MalformedFileError / MalformedCaptionError
        raise PrecodeError(f"malformed WebVTT ({exc})", path=path, hint="check the cue timings and blank lines") from None
    if not captions:
        raise PrecodeError("the WebVTT file has no cues", path=path)
    by_index = len(captions) == cue_index
    utterances = []
    for i, caption in enumerate(captions):
        voice = getattr(caption, "voice", None)
        speaker, utterance = _cue_utterance(caption.text, voice)
        start = None if (i in bad_cues if by_index else caption.start == "00:00:00.000" and bad_cues) else caption.start
        utterances.append((speaker, utterance, start))
    utterances, warnings = _with_speakers(utterances)
    warnings = time_warnings + warnings
    out_text, turns = build_text(merge_consecutive(utterances))
    return ParsedTranscript(out_text, turns, encoding, "vtt", warnings=warnings)


def read_srt(data: bytes, path: str, settings: IngestSettings) -> ParsedTranscript:
    text, encoding = decode_bytes(data, path)
    try:
        subtitles = list(srt.parse(text))
    except srt.SRTParseError as exc:
        line = text[: exc.actual_start].count("\n") + 1
        raise PrecodeError(f"line {line}: malformed SubRip cue", path=path,
                           hint="each cue needs a number, a '00:00:01,000 --> 00:00:02,000' line and text") from None
    if not subtitles:
        raise PrecodeError("the SubRip file has no cues", path=path)
    time_warnings: list[str] = []
    bad_cues: set[int] = set()
    timing_lines = [(n, raw) for n, raw in enumerate(text.splitlines(), start=1) if "-->" in raw]
    for index, (line_no, timing) in enumerate(timing_lines):
        if any(_time_out_of_range(t) for t in _TIMESTAMP.findall(timing)):
            bad_cues.add(index)
            time_warnings.append(f"line {line_no}: cue time '{timing.strip()[:60]}' is out of range (minutes and "
                                 "seconds must be below 60); the cue's speech is kept without its time")
    by_index = len(timing_lines) == len(subtitles)
    utterances = []
    for i, sub in enumerate(subtitles):
        speaker, utterance = _cue_utterance(sub.content, None)
        bad = i in bad_cues if by_index else bool(bad_cues)
        utterances.append((speaker, utterance, None if bad else srt.timedelta_to_srt_timestamp(sub.start)))
    utterances, warnings = _with_speakers(utterances)
    warnings = time_warnings + warnings
    out_text, turns = build_text(merge_consecutive(utterances))
    return ParsedTranscript(out_text, turns, encoding, "srt", warnings=warnings)


def read_docx(data: bytes, path: str, settings: IngestSettings) -> ParsedTranscript:
    try:
        document = Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several types for a bad package
        raise PrecodeError(f"not a readable Word .docx file ({type(exc).__name__})", path=path,
                           hint="open it in Word and save as .docx again") from None
    # body paragraphs, tables and text boxes in reading order; headers and footers stay out
    lines = list(_docx_lines(document))
    notes = _docx_notes(document)
    text = normalize_text("\n".join(lines + ([""] if notes else []) + notes)).strip() + "\n"
    if not text.strip():
        raise PrecodeError("the Word document has no text", path=path)
    turns, warnings = find_turns(text, settings.speaker_patterns, settings.interviewer_labels)
    if notes:
        warnings = [f"{len(notes)} footnote/endnote paragraph(s) appended at the end of the text "
                    "(Word keeps them apart from the body)", *warnings]
    props = document.core_properties
    return ParsedTranscript(text, turns, "docx", "docx", warnings=warnings,
                            metadata=TranscriptMetadata(date=props.created.date().isoformat() if props.created else None))


_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_DOCX_TIME = re.compile(r"^[\[(]?\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?[\])]?$")
_HEADER_WORDS = {"speaker", "sprecher", "sprecherin", "talare", "puhuja", "name", "namn", "nimi", "person", "who",
                 "time", "timestamp", "zeit", "tid", "aika", "text", "transcript", "utterance", "äußerung", "yttrande",
                 "puhe", "content", "inhalt", "innehåll", "sisältö", "#", "nr", "no"}


def _textbox_lines(paragraph: Paragraph) -> list[str]:
    """Text boxes anchored in a paragraph (python-docx's Paragraph.text leaves them out)."""
    lines = []
    for box in paragraph._p.iter(qn("w:txbxContent")):
        if any(a.tag == _MC_FALLBACK for a in box.iterancestors()):
            continue  # the same box again, in the legacy VML fallback
        for p in box.iter(qn("w:p")):
            lines.append("".join(t.text or "" for t in p.iter(qn("w:t"))))
    return lines


def _speaker_column(rows: list[list[str]]) -> int | None:
    """The column holding speaker labels: short, label-like values that repeat, beside a longer text column."""
    width = max((len(r) for r in rows), default=0)
    data = rows[1:] if rows and all(c.casefold().strip(" :") in _HEADER_WORDS for c in rows[0] if c) else rows
    if width < 2 or len(data) < 2:
        return None
    for j in range(width):
        values = [r[j] for r in data if j < len(r) and r[j]]
        if len(values) < 2 or any(len(v) > 40 or "\n" in v or v[-1] in ".?!…" or _DOCX_TIME.match(v) for v in values):
            continue
        others = [len(c) for r in data for k, c in enumerate(r) if k != j and c and not _DOCX_TIME.match(c)]
        if len(set(values)) < len(values) and others and sum(others) / len(others) > max(len(v) for v in values):
            return j
    return None


def _table_lines(table: Table) -> list[str]:
    """Cell text in reading order; a row per turn ('Speaker: text') when a column holds speaker labels."""
    rows: list[list[str]] = []
    for row in table.rows:
        seen: list[object] = []
        cells = []
        for cell in row.cells:
            if any(cell._tc is tc for tc in seen):
                continue  # a merged cell is returned once per grid column it spans
            seen.append(cell._tc)
            cells.append("\n".join(_docx_lines(cell)).strip())
        rows.append(cells)
    column = _speaker_column(rows)
    if column is None:
        return [c for r in rows for c in r if c]
    lines = []
    header = all(c.casefold().strip(" :") in _HEADER_WORDS for c in rows[0] if c)
    for r in rows[1:] if header else rows:
        speaker = r[column].strip().rstrip(":") if column < len(r) else ""
        time = next((c for c in r if _DOCX_TIME.match(c)), None)
        rest = " ".join(c for k, c in enumerate(r) if k != column and c and c is not time)
        if speaker and rest:
            lines.append(f"[{time.strip('[]()')}] {speaker}: {rest}" if time else f"{speaker}: {rest}")
        elif rest or speaker:
            lines.append(rest or speaker)
    return lines


def _docx_notes(document: Any) -> list[str]:
    """Footnote and endnote text (python-docx has no API for it): '[footnote 2] text' lines."""
    lines = []
    for part in document.part.package.iter_parts():
        kind = {"/word/footnotes.xml": "footnote", "/word/endnotes.xml": "endnote"}.get(str(part.partname))
        if kind is None:
            continue
        root = etree.fromstring(part.blob)
        for note in root.iter(qn(f"w:{kind}")):
            if note.get(qn("w:type")) in ("separator", "continuationSeparator", "continuationNotice"):
                continue
            body = " ".join("".join(t.text or "" for t in p.iter(qn("w:t"))) for p in note.iter(qn("w:p"))).strip()
            if body:
                lines.append(f"[{kind} {note.get(qn('w:id'))}] {body}")
    return lines


def _docx_lines(container: Any) -> Iterator[str]:
    for block in container.iter_inner_content():
        if isinstance(block, Paragraph):
            yield block.text
            yield from _textbox_lines(block)
        else:
            yield from _table_lines(block)


class _JsonTurn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    speaker: str
    text: str
    start: str | None = None


class _JsonTranscript(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str
    version: int
    metadata: dict[str, Any] = {}
    turns: list[_JsonTurn]


def read_json(data: bytes, path: str, settings: IngestSettings) -> ParsedTranscript:
    text, encoding = decode_bytes(data, path)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PrecodeError(f"line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})", path=path) from None
    try:
        doc = _JsonTranscript.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"field '{'.'.join(map(str, e['loc']))}': {e['msg']}" for e in exc.errors()[:5])
        raise PrecodeError(f"not a precode JSON transcript ({problems})", path=path,
                           hint='expected {"format": "precode-transcript", "version": 1, "metadata": {...}, '
                                '"turns": [{"speaker": ..., "text": ...}]}') from None
    if doc.format != "precode-transcript" or doc.version != 1:
        raise PrecodeError("field 'format'/'version': expected 'precode-transcript' version 1", path=path)
    utterances = [(normalize_text(t.speaker).strip() or "Unknown", normalize_text(t.text), t.start) for t in doc.turns]
    out_text, turns = build_text(merge_consecutive(utterances))
    if not turns:
        raise PrecodeError("the JSON transcript has no turns with text", path=path)
    return ParsedTranscript(out_text, turns, encoding, "json", metadata_from_mapping(doc.metadata, path))


READERS = {
    ".txt": lambda d, p, s: read_labelled_text(d, p, s, "txt"),
    ".md": lambda d, p, s: read_labelled_text(d, p, s, "md"),
    ".vtt": read_vtt,
    ".srt": read_srt,
    ".docx": read_docx,
    ".json": read_json,
}


def read_transcript(path: Path, settings: IngestSettings, data: bytes | None = None) -> ParsedTranscript:
    """Read one transcript file with the reader for its extension."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise PrecodeError(f"unsupported file type '{path.suffix or '(none)'}'", path=str(path),
                           hint=f"supported: {', '.join(SUPPORTED_EXTENSIONS)}")
    if data is None:
        data = path.read_bytes()
    return reader(data, str(path), settings)
