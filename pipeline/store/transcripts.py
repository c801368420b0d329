"""Transcripts, turns, segments, speaker roles and stale runs in the project database.

A transcript's identity is its `name`: the file's path relative to the folder that was ingested,
without the extension, in NFC (`siteA/P01`). A changed file at the same path is a new version of
that name. Speaker roles are stored per transcript version (`speakers`) and are what segments'
roles derive from; changing one re-derives the segments' roles and context in place (segment ids
depend only on the spans, so codes and decisions stay attached) and marks the runs that coded the
transcript stale (`stale_runs`).

`TranscriptStore` is mixed into `pipeline.store.database.Database`; every query uses `self.conn`.
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from pipeline.errors import PrecodeError
from pipeline.models import Segment, SegmentRole, Transcript, TranscriptMetadata, Turn, utcnow


class SegmentKey(NamedTuple):
    """A segment's id and its transcript's: what a run's scope needs, without the text."""

    id: str
    transcript_id: str


@dataclass
class SpeakerRecord:
    """One speaker of one transcript version: the role its segments get, and why."""

    speaker: str
    role: SegmentRole
    source: str  # label | name | inferred | first | default | user | stored
    evidence: str = ""
    turns: int = 0
    questions: int = 0
    words: int = 0


@dataclass
class StaleRun:
    run_id: str
    transcript_id: str
    transcript_name: str
    reason: str
    marked_at: str


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def speaker_key(speaker: str) -> str:
    """How speaker names are compared: NFC, case-insensitive, whitespace collapsed."""
    return " ".join(nfc(speaker).casefold().split())


class TranscriptStore:
    """Queries on transcripts, turns, segments, speakers and stale runs (mixed into Database)."""

    conn: sqlite3.Connection

    # -- transcripts ------------------------------------------------------------------------
    def find_transcript_by_hash(self, name: str, sha256: str) -> str | None:
        row = self.conn.execute(
            "SELECT id FROM transcripts WHERE name = ? AND source_sha256 = ?", (name, sha256)
        ).fetchone()
        return row["id"] if row else None

    def transcripts_with_hash(self, sha256: str) -> list[tuple[str, str]]:
        """(id, name) of every stored version with these exact bytes."""
        return [(r["id"], r["name"]) for r in
                self.conn.execute("SELECT id, name FROM transcripts WHERE source_sha256 = ?", (sha256,))]

    def next_version(self, name: str) -> int:
        row = self.conn.execute("SELECT MAX(version) FROM transcripts WHERE name = ?", (name,)).fetchone()
        return (row[0] or 0) + 1

    def insert_transcript(self, conn: sqlite3.Connection, t: Transcript, segments: Iterable[Segment],
                          speakers: Iterable[SpeakerRecord] | None = None) -> int:
        """Store a transcript with its turns, segments and speaker roles; returns the number of segments.

        Without `speakers`, each speaker's role is recorded as its segments have it (source 'stored').
        """
        conn.execute(
            "INSERT INTO transcripts (id, name, version, source_path, source_sha256, format, encoding, text,"
            " metadata_json, warnings_json, ingested_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (t.id, t.name, t.version, t.source_path, t.source_sha256, t.format, t.encoding, t.text,
             t.metadata.model_dump_json(), json.dumps(t.warnings), utcnow().isoformat()),
        )
        conn.executemany(
            'INSERT INTO turns (transcript_id, idx, speaker, start, "end", timestamp) VALUES (?,?,?,?,?,?)',
            [(t.id, i, u.speaker, u.start, u.end, u.timestamp) for i, u in enumerate(t.turns)],
        )
        seen: dict[str, SegmentRole] = {}

        def rows() -> Iterator[tuple[object, ...]]:
            for s in segments:
                seen.setdefault(s.speaker, s.role)
                yield (s.id, s.transcript_id, s.index, s.start, s.end, s.speaker, s.role.value, s.text,
                       s.context_start, s.context_end)

        cursor = conn.executemany(
            'INSERT INTO segments (id, transcript_id, idx, start, "end", speaker, role, text, context_start,'
            " context_end) VALUES (?,?,?,?,?,?,?,?,?,?)", rows(),
        )
        n_segments = cursor.rowcount
        records = list(speakers) if speakers is not None else [
            SpeakerRecord(speaker, role, "stored", "as the segments were stored") for speaker, role in seen.items()
        ]
        self._write_speakers(conn, t.id, records)
        return n_segments

    def _write_speakers(self, conn: sqlite3.Connection, transcript_id: str, records: Iterable[SpeakerRecord]) -> None:
        now = utcnow().isoformat()
        conn.executemany(
            "INSERT INTO speakers (transcript_id, speaker, role, source, evidence, turns, questions, words,"
            " updated_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (transcript_id, speaker) DO UPDATE SET"
            " role = excluded.role, source = excluded.source, evidence = excluded.evidence,"
            " updated_at = excluded.updated_at",
            [(transcript_id, r.speaker, r.role.value, r.source, r.evidence, r.turns, r.questions, r.words, now)
             for r in records],
        )

    def _transcript_from_row(self, row: sqlite3.Row) -> Transcript:
        turns = [
            Turn(speaker=r["speaker"], start=r["start"], end=r["end"], timestamp=r["timestamp"])
            for r in self.conn.execute(
                'SELECT speaker, start, "end", timestamp FROM turns WHERE transcript_id = ? ORDER BY idx', (row["id"],)
            )
        ]
        return Transcript(
            id=row["id"], name=row["name"], version=row["version"], source_path=row["source_path"],
            source_sha256=row["source_sha256"], format=row["format"], encoding=row["encoding"], text=row["text"],
            turns=turns, metadata=TranscriptMetadata.model_validate_json(row["metadata_json"]),
            warnings=json.loads(row["warnings_json"]),
        )

    def transcript(self, transcript_id: str) -> Transcript:
        row = self.conn.execute("SELECT * FROM transcripts WHERE id = ?", (transcript_id,)).fetchone()
        if row is None:
            raise PrecodeError(f"no transcript with id '{transcript_id}' in this project")
        return self._transcript_from_row(row)

    def current_transcripts(self) -> list[Transcript]:
        """The latest version of every transcript name."""
        rows = self.conn.execute(
            "SELECT * FROM transcripts t WHERE version = (SELECT MAX(version) FROM transcripts WHERE name = t.name)"
            " ORDER BY name"
        ).fetchall()
        return [self._transcript_from_row(r) for r in rows]

    def current_transcript_headers(self) -> list[Transcript]:
        """The latest version of every transcript name without its text and turns (text "", turns []):
        what a whole-project export lists, without holding every book-length text as a string."""
        rows = self.conn.execute(
            "SELECT id, name, version, source_path, source_sha256, format, encoding, metadata_json, warnings_json"
            " FROM transcripts t WHERE version = (SELECT MAX(version) FROM transcripts WHERE name = t.name)"
            " ORDER BY name")
        return [Transcript(id=r["id"], name=r["name"], version=r["version"], source_path=r["source_path"],
                           source_sha256=r["source_sha256"], format=r["format"], encoding=r["encoding"], text="",
                           turns=[], metadata=TranscriptMetadata.model_validate_json(r["metadata_json"]),
                           warnings=json.loads(r["warnings_json"]))
                for r in rows]

    def has_transcripts(self) -> bool:
        """Whether any transcript (of any version) is stored; reads no text."""
        return self.conn.execute("SELECT 1 FROM transcripts LIMIT 1").fetchone() is not None

    def transcript_text(self, transcript_id: str) -> str:
        """One transcript's text ("" when there is no such transcript)."""
        row = self.conn.execute("SELECT text FROM transcripts WHERE id = ?", (transcript_id,)).fetchone()
        return str(row[0]) if row is not None and row[0] is not None else ""

    def transcript_utf8(self, transcript_id: str) -> bytes:
        """One transcript's text as the UTF-8 bytes SQLite holds (read as a BLOB: no Python string, no encoded
        copy), b"" when there is no such transcript."""
        row = self.conn.execute("SELECT CAST(text AS BLOB) FROM transcripts WHERE id = ?", (transcript_id,)).fetchone()
        return bytes(row[0]) if row is not None and row[0] is not None else b""

    def transcript_overview(self) -> list[dict[str, Any]]:
        """One row per current transcript for `precode status`: name, version, format, counts, stale runs."""
        rows = self.conn.execute(
            "SELECT t.id, t.name, t.version, t.format, t.source_path,"
            " (SELECT COUNT(*) FROM segments s WHERE s.transcript_id = t.id) AS segments,"
            " (SELECT COUNT(*) FROM segments s WHERE s.transcript_id = t.id AND s.role = 'participant') AS coded,"
            " (SELECT group_concat(speaker || '=' || role, ', ') FROM (SELECT speaker, role FROM speakers"
            "   WHERE transcript_id = t.id ORDER BY role, speaker)) AS roles"
            " FROM transcripts t WHERE version = (SELECT MAX(version) FROM transcripts WHERE name = t.name)"
            " ORDER BY t.name"
        ).fetchall()
        return [dict(r) for r in rows]

    def resolve_transcript_names(self, names: Iterable[str]) -> list[Transcript]:
        """Current transcripts named (NFC/NFD-insensitively) by `names`; a bare file name matches when unique."""
        current = self.current_transcripts()
        by_name = {nfc(t.name).casefold(): t for t in current}
        chosen: dict[str, Transcript] = {}
        unknown: list[str] = []
        for raw in names:
            key = nfc(raw).strip().replace("\\", "/").casefold()
            for suffix in (".txt", ".md", ".vtt", ".srt", ".docx", ".json"):
                if key.endswith(suffix) and key not in by_name:
                    key = key[: -len(suffix)]
            if key in by_name:
                chosen[by_name[key].id] = by_name[key]
                continue
            tail = [t for n, t in by_name.items() if n.rsplit("/", 1)[-1] == key]
            if len(tail) == 1:
                chosen[tail[0].id] = tail[0]
            elif len(tail) > 1:
                raise PrecodeError(f"'{raw}' names {len(tail)} transcripts: "
                                   + ", ".join(sorted(t.name for t in tail)),
                                   hint="give the path as 'precode status' lists it, e.g. " + tail[0].name)
            else:
                unknown.append(raw)
        if unknown:
            raise PrecodeError(f"no transcript named {', '.join(sorted(unknown))} in this project",
                               hint="'precode status' lists the transcript names")
        return [t for t in current if t.id in chosen]

    def transcript_texts(self, ids: Iterable[str]) -> dict[str, str]:
        ids = list(ids)
        marks = ",".join("?" * len(ids))
        return {r["id"]: r["text"] for r in self.conn.execute(f"SELECT id, text FROM transcripts WHERE id IN ({marks})", ids)}

    # -- segments ---------------------------------------------------------------------------
    def segment_keys(self, transcript_ids: Iterable[str], role: SegmentRole | None = None) -> list[SegmentKey]:
        """(id, transcript id) of the transcripts' segments in transcript order, without their texts (a run's scope)."""
        ids = list(transcript_ids)
        sql = (f"SELECT s.id, s.transcript_id FROM segments s JOIN transcripts t ON t.id = s.transcript_id "
               f"WHERE s.transcript_id IN ({','.join('?' * len(ids))})" + (" AND s.role = ?" if role else "")
               + " ORDER BY t.name, t.version, s.idx")
        return [SegmentKey(r[0], r[1]) for r in self.conn.execute(sql, [*ids, *([role.value] if role else [])])]

    def segments(self, transcript_ids: Iterable[str] | None = None, role: SegmentRole | None = None,
                 segment_ids: Iterable[str] | None = None) -> list[Segment]:
        """Segments with their text and the context question's text, in transcript order (of these ids: a chunk).

        The context is sliced from each transcript's text read once, not by SQL per row (`substr` reads
        the whole text for every row: quadratic on one long transcript, 40 s for 7,000 segments of 5 MB).
        """
        sql = "SELECT s.* FROM segments s JOIN transcripts t ON t.id = s.transcript_id"
        clauses, params = [], []
        if transcript_ids is not None:
            ids = list(transcript_ids)
            clauses.append(f"s.transcript_id IN ({','.join('?' * len(ids))})")
            params.extend(ids)
        if role is not None:
            clauses.append("s.role = ?")
            params.append(role.value)
        if segment_ids is not None:
            wanted = list(segment_ids)
            clauses.append(f"s.id IN ({','.join('?' * len(wanted))})")
            params.extend(wanted)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY t.name, t.version, s.idx"
        out: list[Segment] = []
        current, text = None, ""
        for r in self.conn.execute(sql, params).fetchall():
            start, end = r["context_start"], r["context_end"]
            if start is not None and end is not None and r["transcript_id"] != current:
                current, text = r["transcript_id"], self.transcript_text(r["transcript_id"])
            out.append(Segment(
                id=r["id"], transcript_id=r["transcript_id"], index=r["idx"], start=r["start"], end=r["end"],
                speaker=r["speaker"], role=SegmentRole(r["role"]), text=r["text"], context_start=start,
                context_end=end, context=text[start:end] if start is not None and end is not None else None,
            ))
        return out

    def update_segment_roles(self, conn: sqlite3.Connection,
                             changes: Iterable[tuple[str, SegmentRole, int | None, int | None]]) -> int:
        """Set (segment id, role, context start, context end); returns how many segments changed."""
        cursor = conn.executemany(
            "UPDATE segments SET role = ?, context_start = ?, context_end = ? WHERE id = ?",
            [(role.value, cs, ce, sid) for sid, role, cs, ce in changes],
        )
        return cursor.rowcount

    # -- speakers ---------------------------------------------------------------------------
    def speakers(self, transcript_id: str) -> list[SpeakerRecord]:
        return [
            SpeakerRecord(r["speaker"], SegmentRole(r["role"]), r["source"], r["evidence"], r["turns"],
                          r["questions"], r["words"])
            for r in self.conn.execute(
                "SELECT s.* FROM speakers s LEFT JOIN (SELECT speaker, MIN(idx) AS first FROM turns"
                " WHERE transcript_id = ? GROUP BY speaker) f ON f.speaker = s.speaker"
                " WHERE s.transcript_id = ? ORDER BY COALESCE(f.first, 1e9), s.speaker",
                (transcript_id, transcript_id),
            )
        ]

    def previous_speaker_roles(self, name: str) -> dict[str, SpeakerRecord]:
        """Roles a user set by hand on the latest stored version of `name` (carried to a new version)."""
        row = self.conn.execute("SELECT id FROM transcripts WHERE name = ? ORDER BY version DESC LIMIT 1",
                                (name,)).fetchone()
        if row is None:
            return {}
        return {speaker_key(r.speaker): r for r in self.speakers(row["id"]) if r.source == "user"}

    def set_speaker_roles(self, conn: sqlite3.Connection, transcript_id: str, records: Iterable[SpeakerRecord]) -> None:
        self._write_speakers(conn, transcript_id, records)

    # -- stale runs -------------------------------------------------------------------------
    def runs_touching(self, transcript_id: str) -> list[str]:
        """Runs that set out to code this transcript version (their recorded scope) or coded segments of it."""
        sql = ("SELECT DISTINCT run_id FROM suggestions WHERE transcript_id = ?"
               " UNION SELECT DISTINCT rs.run_id FROM run_segments rs JOIN segments s ON s.id = rs.segment_id"
               " WHERE s.transcript_id = ?")
        params: list[str] = [transcript_id, transcript_id]
        if self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'run_scope'").fetchone():
            sql += " UNION SELECT run_id FROM run_scope, json_each(run_scope.transcript_ids_json) WHERE json_each.value = ?"
            params.append(transcript_id)
        return sorted(r[0] for r in self.conn.execute(sql, params))

    def mark_runs_stale(self, conn: sqlite3.Connection, transcript_id: str, reason: str) -> list[str]:
        run_ids = self.runs_touching(transcript_id)
        now = utcnow().isoformat()
        conn.executemany(
            "INSERT INTO stale_runs (run_id, transcript_id, reason, marked_at) VALUES (?,?,?,?)"
            " ON CONFLICT (run_id, transcript_id) DO UPDATE SET reason = excluded.reason, marked_at = excluded.marked_at",
            [(run_id, transcript_id, reason, now) for run_id in run_ids],
        )
        return run_ids

    def stale_runs(self) -> dict[str, list[StaleRun]]:
        """Run id -> why it is stale (one entry per transcript whose segments changed after it ran)."""
        found: dict[str, list[StaleRun]] = {}
        for r in self.conn.execute(
            "SELECT x.run_id, x.transcript_id, t.name, x.reason, x.marked_at FROM stale_runs x"
            " JOIN transcripts t ON t.id = x.transcript_id ORDER BY x.run_id, t.name"
        ):
            found.setdefault(r[0], []).append(StaleRun(r[0], r[1], r[2], r[3], r[4]))
        return found


def roles_by_speaker(records: Iterable[SpeakerRecord]) -> Mapping[str, SegmentRole]:
    return {r.speaker: r.role for r in records}
