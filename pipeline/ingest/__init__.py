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
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field

from pipeline.errors import PrecodeError
from pipeline.ingest.readers import SUPPORTED_EXTENSIONS, metadata_from_mapping, read_transcript
from pipeline.models import Transcript, TranscriptMetadata
from pipeline.project import Project
from pipeline.segment import iter_segments

METADATA_FILE = "metadata.csv"
_SKIPPED_NAMES = ("readme", "license", "licence", "changelog")


class IngestStatus(StrEnum):
    ingested = "ingested"
    new_version = "new version"
    unchanged = "unchanged"
    failed = "failed"
    skipped = "skipped"


class IngestResult(BaseModel):
    path: str
    status: IngestStatus
    transcript_id: str | None = None
    version: int | None = None
    segments: int = 0
    message: str = ""
    warnings: list[str] = Field(default_factory=list)


def transcript_id(name: str, sha256: str) -> str:
    return hashlib.sha256(f"{name}\0{sha256}".encode()).hexdigest()[:16]


def read_metadata_csv(path: Path) -> dict[str, TranscriptMetadata]:
    """Sidecar metadata keyed by file name and by stem: columns file, participant_id, group, site, date, …"""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise PrecodeError("metadata CSV is not UTF-8", path=str(path), hint="save it as UTF-8 CSV") from None
    reader = csv.DictReader(text.splitlines())
    key = next((k for k in ("file", "transcript", "name") if k in (reader.fieldnames or [])), None)
    if key is None:
        raise PrecodeError("line 1: metadata CSV needs a 'file' column naming each transcript file", path=str(path),
                           hint="columns: file,participant_id,group,site,date (more columns are kept as extra)")
    table: dict[str, TranscriptMetadata] = {}
    for line_no, row in enumerate(reader, start=2):
        name = (row.get(key) or "").strip()
        if not name:
            raise PrecodeError(f"line {line_no}: empty '{key}' value", path=str(path))
        meta = metadata_from_mapping({k: (v or "").strip() for k, v in row.items() if k and k != key}, str(path))
        table[name] = meta
        table.setdefault(Path(name).stem, meta)
    return table


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[IngestResult]]:
    """Expand directories into transcript files; report what was passed over and why."""
    files: list[Path] = []
    skipped: list[IngestResult] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.name == METADATA_FILE or child.name.startswith("."):
                    continue
                if child.stem.casefold() in _SKIPPED_NAMES:
                    continue
                if child.suffix.lower() in SUPPORTED_EXTENSIONS:
                    files.append(child)
                else:
                    skipped.append(IngestResult(path=str(child), status=IngestStatus.skipped,
                                                message=f"unsupported file type '{child.suffix}'"))
        else:
            files.append(path)
    return files, skipped


def _sidecars(files: list[Path], explicit: Path | None) -> dict[Path, dict[str, TranscriptMetadata]]:
    tables: dict[Path, dict[str, TranscriptMetadata]] = {}
    for folder in {f.parent for f in files}:
        candidate = folder / METADATA_FILE
        if candidate.is_file():
            tables[folder] = read_metadata_csv(candidate)
    if explicit is not None:
        explicit_table = read_metadata_csv(explicit)
        for folder in {f.parent for f in files}:
            tables[folder] = {**tables.get(folder, {}), **explicit_table}
    return tables


def ingest_file(project: Project, path: Path, sidecar: dict[str, TranscriptMetadata]) -> IngestResult:
    if not path.exists():
        raise PrecodeError("file not found", path=str(path))
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    name = path.stem
    db = project.db
    existing = db.find_transcript_by_hash(name, sha)
    if existing:
        return IngestResult(path=str(path), status=IngestStatus.unchanged, transcript_id=existing,
                            message="unchanged since last ingest")
    parsed = read_transcript(path, project.settings.ingest, data)
    del data  # a large file's bytes need not outlive its decoded text
    metadata = parsed.metadata
    if name in sidecar or path.name in sidecar:
        metadata = metadata.merged(sidecar.get(path.name) or sidecar[name])
    with db.transaction() as conn:
        version = db.next_version(name)
        transcript = Transcript(
            id=transcript_id(name, sha), name=name, source_path=str(path.resolve()), source_sha256=sha,
            version=version, format=parsed.format, encoding=parsed.encoding, text=parsed.text, turns=parsed.turns,
            metadata=metadata, warnings=parsed.warnings,
        )
        segments = iter_segments(transcript, project.settings.segment.max_chars,
                                 project.settings.ingest.interviewer_labels)
        n_segments = db.insert_transcript(conn, transcript, segments)
    return IngestResult(
        path=str(path), status=IngestStatus.ingested if version == 1 else IngestStatus.new_version,
        transcript_id=transcript.id, version=version, segments=n_segments, warnings=parsed.warnings,
        message="" if version == 1 else f"changed since version {version - 1}: stored as version {version}; "
                                        "the earlier version and its codes are kept",
    )


def ingest_paths(project: Project, paths: Iterable[Path], metadata_csv: Path | None = None) -> list[IngestResult]:
    """Ingest every transcript under `paths`; a failing file is reported and the rest go on."""
    files, results = discover(paths)
    sidecars = _sidecars(files, metadata_csv)
    for path in files:
        try:
            results.append(ingest_file(project, path, sidecars.get(path.parent, {})))
        except PrecodeError as exc:
            results.append(IngestResult(path=str(path), status=IngestStatus.failed, message=str(exc)))
    return results
