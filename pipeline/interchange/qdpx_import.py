"""Import a REFI-QDA project (.qdpx): text sources become transcripts, codings become coder annotations.

One REFI user is one coder in the `annotations` table, named after the user (`precode eval`
reads human coders from there). A source whose normalized text equals a transcript already in
the project is matched to it, so human codes made in MAXQDA/NVivo/ATLAS.ti on the same interview
land on the transcript the machine coded; other sources are stored as new transcripts (or a new
version of a transcript with the same name), segmented like ingested files.

Positions are mapped from the source's text to the normalized stored text (see `offsets`). All of
it happens in one transaction: any problem, and nothing is stored (nor the --save-codebook file
written).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from array import array
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from enum import StrEnum
from pathlib import Path, PurePath
from typing import overload

from pydantic import BaseModel, Field

from pipeline.codebook import load_codebook
from pipeline.ingest import transcript_id
from pipeline.ingest.speakers import find_turns
from pipeline.interchange.atomic import atomic_output
from pipeline.interchange.import_details import annotation_id as _annotation_id
from pipeline.interchange.import_details import store_details
from pipeline.interchange.offsets import OffsetMap
from pipeline.interchange.qdc import (
    CodeMapping,
    Matched,
    assign_code_ids,
    codebook_document,
    codebook_problems,
    codebook_yaml,
)
from pipeline.interchange.qdpx_read import ReadLimits, RefiProject, RefiTextSource, read_qdpx
from pipeline.interchange.refi import slugify
from pipeline.models import Transcript, TranscriptMetadata, Turn, utcnow
from pipeline.project import Project
from pipeline.segment import iter_segments
from pipeline.store import annotations as store

_DOCUMENT_EXTENSIONS = (".txt", ".rtf", ".docx", ".doc", ".odt", ".md", ".pdf", ".html", ".htm")
_METADATA_NAMES = {"participant_id": "participant_id", "participant": "participant_id", "participantid": "participant_id",
                   "group": "group", "site": "site", "date": "date"}


class SourceStatus(StrEnum):
    new = "new transcript"
    new_version = "new version"
    matched = "matched existing transcript"


class SourceResult(BaseModel):
    guid: str
    name: str
    status: SourceStatus
    transcript_id: str
    transcript_name: str
    codings: int = 0
    warnings: list[str] = Field(default_factory=list)


class ImportReport(BaseModel):
    file: str
    import_id: str
    project_name: str
    origin: str | None = None
    codebook_id: str | None = None
    sources: list[SourceResult] = Field(default_factory=list)
    coders: dict[str, int] = Field(default_factory=dict)      # coder name → codings imported
    codes: list[CodeMapping] = Field(default_factory=list)
    annotations_new: int = 0
    annotations_updated: int = 0
    skipped: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    codebook_file: str | None = None
    codebook_problems: list[str] = Field(default_factory=list)

    @property
    def unmatched_codes(self) -> list[CodeMapping]:
        return [c for c in self.codes if c.matched is Matched.new]


def transcript_name(source_name: str) -> str:
    """A source's name without a document extension ('int01.txt' → 'int01'), as ingest names files."""
    pure = PurePath(source_name)
    return pure.stem if pure.suffix.lower() in _DOCUMENT_EXTENSIONS and pure.stem else source_name


def source_metadata(variables: dict[str, str]) -> TranscriptMetadata:
    """REFI variables → metadata: participant/group/site/date by name (any case), the rest as extra."""
    known, extra = {}, {}
    for name, value in variables.items():
        key = _METADATA_NAMES.get(re.sub(r"[\s\-]+", "_", name.strip().casefold()))
        if key and key not in known:
            known[key] = value
        else:
            extra[name] = value
    return TranscriptMetadata(**known, extra=extra)


class _Turns(Sequence[Turn]):
    """Speaker turns as three arrays and a table of speakers (20-odd bytes a turn, where a list of Turn
    models takes several hundred: more than the text itself for a book-length source). Turns are made
    on demand, for storing them and segmenting the text."""

    def __init__(self, turns: Iterable[Turn]):
        self._speakers: list[str] = []
        self._stamps: dict[int, str] = {}
        self._start, self._end, self._who = array("q"), array("q"), array("l")
        known: dict[str, int] = {}
        for i, turn in enumerate(turns):
            self._start.append(turn.start)
            self._end.append(turn.end)
            self._who.append(known.setdefault(turn.speaker, len(known)))
            if len(known) > len(self._speakers):
                self._speakers.append(turn.speaker)
            if turn.timestamp is not None:
                self._stamps[i] = turn.timestamp

    def __len__(self) -> int:
        return len(self._start)

    @overload
    def __getitem__(self, index: int) -> Turn: ...
    @overload
    def __getitem__(self, index: slice) -> list[Turn]: ...

    def __getitem__(self, index: int | slice) -> Turn | list[Turn]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        return Turn.model_construct(speaker=self._speakers[self._who[index]], start=self._start[index],
                                    end=self._end[index], timestamp=self._stamps.get(index))


def _store_source(project: Project, source: RefiTextSource, offsets: OffsetMap, qdpx: Path,
                  used_names: set[str], fresh_ids: set[str] | None = None) -> SourceResult:
    db, text = project.db, offsets.normalized
    name = transcript_name(source.name)
    match = store.transcript_with_text(db.conn, text, name)
    if match is not None and match.id not in (fresh_ids or set()):  # two sources of one file stay two
        used_names.add(match.name)
        return SourceResult(guid=source.guid, name=source.name, status=SourceStatus.matched,
                            transcript_id=match.id, transcript_name=match.name)
    base, n = name, 2
    while name in used_names:  # two different sources with one name in this file stay apart
        name, n = f"{base} ({n})", n + 1
    used_names.add(name)
    settings = project.settings
    turns, warnings = find_turns(text, settings.ingest.speaker_patterns, settings.ingest.interviewer_labels)
    version = db.next_version(name)
    transcript = Transcript(
        id=transcript_id(name, source.sha256), name=name, source_path=f"{qdpx.resolve()}#{source.guid}",
        source_sha256=source.sha256, version=version, format="qdpx", encoding="utf-8", text=text, turns=turns,
        metadata=source_metadata(source.variables), warnings=warnings,
    )
    transcript.turns = _Turns(turns)  # type: ignore[assignment]  # checked as a list above, then kept compact
    del turns
    # Segments are streamed into SQLite, never held as a list (each would carry its text and its question's).
    segments = iter_segments(transcript, settings.segment.max_chars, settings.ingest.interviewer_labels)
    db.insert_transcript(db.conn, transcript, segments)
    return SourceResult(guid=source.guid, name=source.name,
                        status=SourceStatus.new if version == 1 else SourceStatus.new_version,
                        transcript_id=transcript.id, transcript_name=name, warnings=warnings)


def _store_codings(project: Project, refi: RefiProject, source: RefiTextSource, offsets: OffsetMap,
                   result: SourceResult, mapping: dict[str, CodeMapping], origin: str, report: ImportReport) -> None:
    conn = project.db.conn
    names = {c.guid: c.name for c in refi.codes}
    for selection in source.selections:
        start, end = offsets.start(selection.start), offsets.end(selection.end)
        for coding in selection.codings:
            coder = refi.users[coding.user_guid or ""].coder
            annotation_id = _annotation_id(result.transcript_id, coding.guid)
            existed = store.annotation_exists(conn, annotation_id)
            store.upsert_annotation(conn, store.Annotation(
                id=annotation_id, coder=coder, source=origin, transcript_id=result.transcript_id, start=start, end=end,
                code_id=mapping[coding.code_guid].code_id, code_label=names[coding.code_guid],
                note=selection.description or None, created_at=coding.created_at or utcnow(),
            ))
            if existed:
                report.annotations_updated += 1
            else:
                report.annotations_new += 1
            report.coders[coder] = report.coders.get(coder, 0) + 1
            result.codings += 1


def _store_import_record(project: Project, refi: RefiProject, report: ImportReport, qdpx: Path) -> None:
    by_guid = {m.guid: m for m in report.codes}
    store.record_refi_import(
        project.db.conn,
        store.RefiImport(id=report.import_id, file=qdpx.name, sha256=hashlib.sha256(qdpx.read_bytes()).hexdigest(),
                         project_name=refi.name, origin=refi.origin, codebook_id=report.codebook_id,
                         report_json=report.model_dump_json()),
        [store.RefiUser(guid=u.guid, name=u.name, coder=u.coder) for u in refi.users.values()],
        [store.RefiCode(guid=c.guid, parent_guid=c.parent_guid, name=c.name, code_id=by_guid[c.guid].code_id,
                        matched=by_guid[c.guid].matched.value, is_codable=bool(c.is_codable), color=c.color,
                        description=c.description) for c in refi.codes],
    )


def import_qdpx(project: Project, qdpx: Path, codebook: str | None = None,
                save_codebook: Path | None = None, limits: ReadLimits | None = None) -> ImportReport:
    """Import a .qdpx into the project in one transaction; return what was stored and what was skipped.

    `codebook` (nasss / qif / FILE.yaml) is what foreign codes are matched against (exact id, then
    case-insensitive label); `save_codebook` also writes the imported code tree as a YAML codebook.
    """
    refi = read_qdpx(qdpx, limits)
    book = load_codebook(codebook) if codebook else None
    mapping = assign_code_ids(refi.codes, book)
    report = ImportReport(file=str(qdpx), import_id=secrets.token_hex(8), project_name=refi.name, origin=refi.origin,
                          codebook_id=book.id if book else None, codes=list(mapping.values()),
                          skipped=list(refi.skipped), warnings=list(refi.warnings))
    document = None
    if save_codebook is not None:
        depth = max((c.depth for c in refi.codes), default=1)
        document = codebook_document(
            refi.codes, mapping, codebook_id=slugify(refi.name), name=refi.name, version="1.0",
            levels=book.levels if book and len(book.levels) >= depth else None,
            description=f"Code tree imported from {qdpx.name}" + (f" ({refi.origin})." if refi.origin else "."),
        )
        report.codebook_file = str(save_codebook)
        report.codebook_problems = codebook_problems(document, str(save_codebook))
    with ExitStack() as stack:
        if document is not None and save_codebook is not None:  # written beside, renamed into place only once the import has committed
            stack.enter_context(atomic_output(save_codebook)).write_text(codebook_yaml(document), encoding="utf-8")
        with project.db.transaction():
            used_names: set[str] = set()
            for source in refi.sources:
                fresh = {r.transcript_id for r in report.sources if r.status is not SourceStatus.matched}
                # One source's texts at a time: once mapped, the original is let go (the map keeps its
                # breakpoints and the normalized text, which goes once into SQLite and is then let go too).
                offsets = OffsetMap(source.data)
                source.data = b""
                result = _store_source(project, source, offsets, qdpx, used_names, fresh)
                _store_codings(project, refi, source, offsets, result, mapping, f"qdpx:{qdpx.name}", report)
                report.sources.append(result)
                del offsets
            _store_import_record(project, refi, report, qdpx)
            store_details(project.db.conn, report.import_id, refi, {r.guid: r.transcript_id for r in report.sources})
    return report


def imported_colors(project: Project) -> dict[str, str]:
    """code id → the colour a QDA team gave it in the latest import that matched it to a precode code."""
    return store.imported_colors(project.db.conn)


def import_summary(report: ImportReport) -> str:
    """One line for logs and the CLI."""
    counts = {status: sum(1 for s in report.sources if s.status is status) for status in SourceStatus}
    return (f"{len(report.sources)} text source(s) ({', '.join(f'{n} {s.value}' for s, n in counts.items() if n) or 'none'}), "
            f"{report.annotations_new} new and {report.annotations_updated} updated coding(s) by "
            f"{len(report.coders)} coder(s)")

