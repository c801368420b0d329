"""Ingest transcript files into a project: read, attach metadata, segment, store — one file at a time.

Each file is stored in its own transaction, so a bad file is reported and skipped while the others
go through, and nothing is left half-written. Ids derive from content: re-ingesting an unchanged
file is a no-op; a changed file becomes a new version next to the old one (whose coded material
stays), never an overwrite.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import PrecodeError
from pipeline.ingest.decode import decode_bytes
from pipeline.ingest.readers import SUPPORTED_EXTENSIONS, metadata_from_mapping, read_transcript
from pipeline.ingest.roles import describe, infer_roles, refresh_roles
from pipeline.models import Transcript, TranscriptMetadata
from pipeline.project import Project
from pipeline.segment import iter_segments
from pipeline.store.transcripts import SpeakerRecord, nfc, roles_by_speaker

METADATA_FILE = "metadata.csv"
_SKIPPED_NAMES = ("readme", "license", "licence", "changelog")


class IngestStatus(StrEnum):
    ingested = "ingested"
    new_version = "new version"
    unchanged = "unchanged"
    failed = "failed"
    skipped = "skipped"


class IngestResult(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: str
    status: IngestStatus
    name: str | None = None
    transcript_id: str | None = None
    version: int | None = None
    segments: int = 0
    message: str = ""
    warnings: list[str] = Field(default_factory=list)
    roles: str = ""
    speakers: list[SpeakerRecord] = Field(default_factory=list)


def transcript_id(name: str, sha256: str) -> str:
    return hashlib.sha256(f"{name}\0{sha256}".encode()).hexdigest()[:16]


@dataclass
class MetadataRow:
    line: int
    key: str
    metadata: TranscriptMetadata
    used: bool = False


@dataclass
class MetadataTable:
    """One metadata CSV: its rows (with line numbers) and what was odd about it."""

    path: Path
    rows: list[MetadataRow]
    warnings: list[str] = field(default_factory=list)


def read_metadata_table(path: Path) -> MetadataTable:
    """Rows of a metadata CSV: columns file, participant_id, group, site, date, … (comma, ';' or tab separated).

    A non-UTF-8 file is decoded like a transcript (cp1252 …) with a warning; a file listed twice is
    an error naming both lines.
    """
    data = path.read_bytes()
    text, encoding = decode_bytes(data, str(path))
    warnings = [] if encoding in ("utf-8", "utf-8-sig") else [
        f"{path.name}: not UTF-8; read as {encoding} (save it as UTF-8 CSV to be sure)"]
    lines = text.splitlines()
    header = lines[0] if lines else ""
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(header, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(lines, dialect=dialect)
    key = next((k for k in ("file", "transcript", "name") if k in [f.strip().lower() for f in reader.fieldnames or []]),
               None)
    if key is None:
        raise PrecodeError("line 1: metadata CSV needs a 'file' column naming each transcript file", path=str(path),
                           hint="columns: file,participant_id,group,site,date (more columns are kept as extra)")
    rows: list[MetadataRow] = []
    first_line: dict[str, int] = {}
    for line_no, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): v for k, v in row.items() if k is not None}
        name = nfc((row.get(key) or "").strip()).replace("\\", "/")
        if not name:
            if not any((v or "").strip() for v in row.values()):
                continue  # a blank line
            raise PrecodeError(f"line {line_no}: empty '{key}' value", path=str(path))
        folded = name.casefold()
        if folded in first_line:
            raise PrecodeError(f"line {line_no}: '{name}' is listed again (first on line {first_line[folded]})",
                               path=str(path), hint="keep one row per transcript file")
        first_line[folded] = line_no
        meta = metadata_from_mapping({k: (v or "").strip() for k, v in row.items() if k and k != key}, str(path))
        rows.append(MetadataRow(line_no, name, meta))
    return MetadataTable(path, rows, warnings)


def read_metadata_csv(path: Path) -> dict[str, TranscriptMetadata]:
    """Sidecar metadata keyed by file name and by stem."""
    table: dict[str, TranscriptMetadata] = {}
    for row in read_metadata_table(path).rows:
        table[row.key] = row.metadata
        table.setdefault(PurePosixPath(row.key).stem, row.metadata)
    return table


@dataclass
class Found:
    """A transcript file and the folder it was found under (its name is the path relative to that)."""

    path: Path
    root: Path

    @property
    def relative(self) -> str:
        try:
            return nfc(self.path.relative_to(self.root).as_posix())
        except ValueError:
            return nfc(self.path.name)

    @property
    def name(self) -> str:
        """The transcript's identity: path relative to the ingested folder, without the extension."""
        rel = PurePosixPath(self.relative)
        return str(rel.with_suffix("")) if rel.suffix else str(rel)


def _is_lock_file(path: Path) -> bool:
    return path.name.startswith("~$")


def discover(paths: Iterable[Path]) -> tuple[list[Found], list[IngestResult]]:
    """Expand directories into transcript files; report what was passed over and why."""
    files: list[Found] = []
    skipped: list[IngestResult] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                rel_parts = child.relative_to(path).parts
                if child.name == METADATA_FILE or any(part.startswith(".") for part in rel_parts):
                    continue
                if child.stem.casefold() in _SKIPPED_NAMES:
                    continue
                if _is_lock_file(child):
                    skipped.append(IngestResult(path=str(child), status=IngestStatus.skipped, message=_LOCK_NOTE))
                elif child.suffix.lower() in SUPPORTED_EXTENSIONS:
                    files.append(Found(child, path))
                else:
                    skipped.append(IngestResult(path=str(child), status=IngestStatus.skipped,
                                                message=f"unsupported file type '{child.suffix}'"))
        elif _is_lock_file(path):
            skipped.append(IngestResult(path=str(path), status=IngestStatus.skipped, message=_LOCK_NOTE))
        else:
            files.append(Found(path, path.parent))
    return files, skipped


_LOCK_NOTE = "Word lock file (the document is open in Word, or Word closed without removing it): skipped"


class _Sidecars:
    """metadata.csv beside the files (for that folder) and an explicit --metadata CSV (for all files)."""

    def __init__(self, files: list[Found], explicit: Path | None):
        self.folder_tables: dict[Path, MetadataTable] = {}
        for folder in sorted({f.path.parent for f in files}):
            candidate = folder / METADATA_FILE
            if candidate.is_file():
                self.folder_tables[folder] = read_metadata_table(candidate)
        self.explicit = read_metadata_table(explicit) if explicit is not None else None
        if self.explicit is not None:
            self._check_ambiguous(self.explicit, files)

    @staticmethod
    def _matches(row: MetadataRow, found: Found, bare: bool) -> bool:
        key = row.key.casefold()
        rel = found.relative.casefold()
        names = {rel, str(PurePosixPath(rel).with_suffix(""))}
        if bare or "/" not in key:
            names |= {found.path.name.casefold(), nfc(found.path.stem).casefold(), nfc(found.path.name).casefold()}
        return key in names

    def _check_ambiguous(self, table: MetadataTable, files: list[Found]) -> None:
        for row in table.rows:
            hits = [f for f in files if self._matches(row, f, False)]
            if len(hits) > 1:
                raise PrecodeError(f"line {row.line}: '{row.key}' matches {len(hits)} files "
                                   f"({', '.join(f.relative for f in hits[:4])})", path=str(table.path),
                                   hint="name the file with its folder, e.g. " + hits[0].relative)

    def metadata_for(self, found: Found) -> TranscriptMetadata | None:
        result: TranscriptMetadata | None = None
        for table, bare in ((self.folder_tables.get(found.path.parent), True), (self.explicit, False)):
            if table is None:
                continue
            for row in table.rows:
                if self._matches(row, found, bare):
                    row.used = True
                    result = row.metadata if result is None else result.merged(row.metadata)
                    break
        return result

    def report(self) -> list[IngestResult]:
        """Warnings about the metadata files: encoding, and rows naming no ingested file."""
        results = []
        tables = [*self.folder_tables.values(), *([self.explicit] if self.explicit else [])]
        for table in tables:
            notes = list(table.warnings)
            notes += [f"line {row.line}: no transcript file '{row.key}' was ingested; the row is not used"
                      for row in table.rows if not row.used]
            for note in notes:
                results.append(IngestResult(path=str(table.path), status=IngestStatus.skipped, message=note))
        return results


def ingest_file(project: Project, path: Path | Found, sidecar: TranscriptMetadata | None = None) -> IngestResult:
    found = path if isinstance(path, Found) else Found(path, path.parent)
    path = found.path
    if not path.exists():
        raise PrecodeError("file not found", path=str(path))
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    name = found.name
    db = project.db
    existing = db.find_transcript_by_hash(name, sha)
    if existing:
        # the file is the same, but the settings may not be: e.g. interviewer_names added since
        note = refresh_roles(project, existing)
        return IngestResult(path=str(path), status=IngestStatus.unchanged, transcript_id=existing, name=name,
                            message="unchanged since last ingest" + (f"; {note}" if note else ""))
    for other_id, other in db.transcripts_with_hash(sha):
        if other.endswith("/" + name) or name.endswith("/" + other):
            return IngestResult(path=str(path), status=IngestStatus.unchanged, transcript_id=other_id, name=other,
                                message=f"already ingested as '{other}' (from another folder level)")
    settings = project.settings
    parsed = read_transcript(path, settings.ingest, data)
    del data  # a large file's bytes need not outlive its decoded text
    metadata = parsed.metadata
    if sidecar is not None:
        metadata = metadata.merged(sidecar)
    with db.transaction() as conn:
        version = db.next_version(name)
        transcript = Transcript(
            id=transcript_id(name, sha), name=name, source_path=str(path.resolve()), source_sha256=sha,
            version=version, format=parsed.format, encoding=parsed.encoding, text=parsed.text, turns=parsed.turns,
            metadata=metadata, warnings=parsed.warnings,
        )
        speakers = infer_roles(parsed.text, parsed.turns, settings.ingest, db.previous_speaker_roles(name))
        segments = iter_segments(transcript, settings.segment.max_chars, roles_by_speaker(speakers))
        n_segments = db.insert_transcript(conn, transcript, segments, speakers)
    return IngestResult(
        path=str(path), status=IngestStatus.ingested if version == 1 else IngestStatus.new_version, name=name,
        transcript_id=transcript.id, version=version, segments=n_segments, warnings=parsed.warnings,
        roles=describe(name, speakers), speakers=speakers,
        message="" if version == 1 else f"changed since version {version - 1}: stored as version {version}; "
                                        "the earlier version and its codes are kept",
    )


def ingest_paths(project: Project, paths: Iterable[Path], metadata_csv: Path | None = None) -> list[IngestResult]:
    """Ingest every transcript under `paths`; a failing file is reported and the rest go on.

    A transcript's name is its path relative to the folder given (siteA/P01 and siteB/P01 are two
    transcripts); a file given directly is named by its stem.
    """
    files, results = discover(paths)
    sidecars = _Sidecars(files, metadata_csv)
    for found in files:
        try:
            results.append(ingest_file(project, found, sidecars.metadata_for(found)))
        except PrecodeError as exc:
            results.append(IngestResult(path=str(found.path), status=IngestStatus.failed, name=found.name,
                                        message=str(exc)))
    results.extend(sidecars.report())
    return results
