"""Segmentation invariants, versioned re-ingest, the database schema, and the coded sample project."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from pipeline.codebook import load_codebook
from pipeline.coders import make_coder
from pipeline.coding import run_coder
from pipeline.ingest import IngestStatus, ingest_paths
from pipeline.interchange.tabular import EXPORT_COLUMNS, write_export
from pipeline.models import SegmentRole
from pipeline.project import init_project
from pipeline.segment import segment_transcript
from pipeline.store.database import SCHEMA_VERSION


def test_every_segment_is_an_exact_slice_of_its_transcript(sample_project):
    db = sample_project.db
    for transcript in db.current_transcripts():
        segments = db.segments([transcript.id])
        assert segments
        for s in segments:
            assert transcript.text[s.start:s.end] == s.text
            if s.role is SegmentRole.participant and s.context_start is not None:
                assert transcript.text[s.context_start:s.context_end] == s.context
                assert s.context.strip().endswith(("?", ".", "…", "!")) or len(s.context) > 0


def test_long_turns_split_at_sentence_boundaries(sample_project):
    db = sample_project.db
    max_chars = sample_project.settings.segment.max_chars
    split_pieces = 0
    for transcript in db.current_transcripts():
        for turn in transcript.turns:
            inside = [s for s in db.segments([transcript.id]) if turn.start <= s.start and s.end <= turn.end]
            if turn.end - turn.start > max_chars:
                split_pieces += len(inside)
                assert len(inside) >= 2
                for s in inside:
                    assert len(s.text) <= max_chars
                    assert s.text[-1] in ".?!…\"”'’)" or s.end == turn.end, s.text[-30:]
    assert split_pieces > 0  # the sample has long answers


def test_interviewer_context_attached_and_interviewer_not_coded(sample_project):
    db = sample_project.db
    run = db.run()
    coded = {s.segment_id for s in db.suggestions(run.id)}
    interviewer = db.segments(role=SegmentRole.interviewer)
    assert interviewer and not coded & {s.id for s in interviewer}
    participant = db.segments(role=SegmentRole.participant)
    with_context = [s for s in participant if s.context]
    assert len(with_context) >= 0.9 * len(participant)


def test_split_turn_pieces_share_the_question(tmp_path: Path):
    path = tmp_path / "long.txt"
    answer = " ".join(f"Sentence number {i} explains how the alert changed our night shifts." for i in range(60))
    path.write_text(f"Interviewer: What changed?\nP1: {answer}\n", encoding="utf-8")
    project, _ = init_project(tmp_path / "p")
    [result] = ingest_paths(project, [path])
    segments = project.db.segments(role=SegmentRole.participant)
    assert result.segments == len(segments) + 1 and len(segments) >= 3
    assert {s.context for s in segments} == {"What changed?"}
    transcript = project.db.current_transcripts()[0]
    assert segment_transcript(transcript, 1200, ["interviewer"]) == project.db.segments([transcript.id])


def test_reingest_unchanged_is_noop_and_changed_is_new_version(tmp_path: Path):
    project, _ = init_project(tmp_path / "p")
    path = tmp_path / "a.txt"
    path.write_text("Interviewer: Why?\nP1: Because the alerts were late.\n", encoding="utf-8")
    assert ingest_paths(project, [path])[0].status is IngestStatus.ingested
    assert ingest_paths(project, [path])[0].status is IngestStatus.unchanged
    assert project.db.counts()["transcript_versions"] == 1
    path.write_text("Interviewer: Why?\nP1: Because the alerts were late and noisy.\n", encoding="utf-8")
    result = ingest_paths(project, [path])[0]
    assert result.status is IngestStatus.new_version and result.version == 2
    assert project.db.counts()["transcript_versions"] == 2 and project.db.counts()["transcripts"] == 1
    [current] = project.db.current_transcripts()
    assert current.version == 2 and "noisy" in current.text


def test_changed_file_keeps_coded_material_of_the_old_version(sample_project, tmp_path: Path):
    db = sample_project.db
    before = db.counts()
    run = db.run()
    old = db.suggestions(run.id)
    assert old
    # the coded transcript rows are still there and still match their quotes
    texts = db.transcript_texts({s.transcript_id for s in old})
    for s in old:
        assert texts[s.transcript_id][s.quote_start:s.quote_end] == s.quote
    assert db.counts() == before


def test_schema_version_wal_and_foreign_keys(sample_project):
    conn = sample_project.db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert sample_project.db.schema_version() == SCHEMA_VERSION
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO segments VALUES ('x','no-such-transcript',0,0,1,'P','participant','a',NULL,NULL)")


def test_finished_runs_are_immutable(sample_project):
    run = sample_project.db.run()
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        sample_project.db.conn.execute("UPDATE runs SET coder = 'x' WHERE id = ?", (run.id,))


def test_newer_schema_is_refused(tmp_path: Path):
    project, _ = init_project(tmp_path / "p")
    project.db.conn.execute("INSERT INTO schema_version VALUES (999, 'future')")
    project.close()
    from pipeline.errors import PrecodeError
    from pipeline.store.database import Database

    with pytest.raises(PrecodeError, match="newer than this precode"):
        Database(tmp_path / "p" / "precode.db")


def test_run_record_and_export(sample_project, tmp_path: Path):
    db = sample_project.db
    run = db.run()
    assert run.coder == "similarity" and run.codebook_id == "nasss" and run.level == "leaf"
    assert run.ended_at is not None and run.params["threshold"] == sample_project.settings.similarity.threshold
    assert run.counts["suggestions"] > 50
    assert db.codebook(run.codebook_hash).content_hash == run.codebook_hash
    out = tmp_path / "export.csv"
    n = write_export(sample_project, "csv", out)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert n == len(rows) == run.counts["suggestions"]
    assert list(rows[0]) == EXPORT_COLUMNS
    transcripts = {t.name: t for t in db.current_transcripts()}
    codebook = load_codebook("nasss")
    for row in rows:
        text = transcripts[row["transcript"]].text
        assert row["quote"] and text[int(row["quote_start"]):int(row["quote_end"])] == row["quote"]
        assert int(row["segment_start"]) <= int(row["quote_start"]) < int(row["quote_end"]) <= int(row["segment_end"])
        assert row["code_path"] == codebook.path(row["code_id"]) and " > " in row["code_path"]
        assert row["group"] in {"HCP", "AI expert"} and row["participant"]
    jsonl = tmp_path / "export.jsonl"
    assert write_export(sample_project, "jsonl", jsonl) == n
    assert len(jsonl.read_text(encoding="utf-8").splitlines()) == n


def test_at_most_top_k_codes_per_segment_and_scores_above_threshold(sample_project):
    # The default rule is calibrated on the codebook (issue 12): a suggestion's score is its probability
    # among the codes, at least the calibrated cut. The cosine rule keeps its threshold (below).
    from pipeline.coders.similarity import calibrate_codebook

    db = sample_project.db
    settings = sample_project.settings.similarity
    codebook = load_codebook("nasss")
    run = next(r for r in db.runs() if r.coder == "similarity" and r.level == "leaf" and r.params.get("rule") == "calibrated")
    calibration = calibrate_codebook(sample_project.embeddings, codebook, codebook.at_level("leaf"), settings.top_k)
    assert calibration is not None and 0 < calibration.p_min < 1
    suggestions = db.suggestions(run.id)
    per_segment: dict[str, int] = {}
    for s in suggestions:
        per_segment[s.segment_id] = per_segment.get(s.segment_id, 0) + 1
        assert calibration.p_min <= s.score <= 1
    assert max(per_segment.values()) <= settings.top_k


def test_the_cosine_rule_keeps_its_threshold_and_top_k(sample_project):
    settings = sample_project.settings.similarity
    run = run_coder(sample_project, make_coder("similarity", sample_project, threshold=settings.threshold),
                    load_codebook("nasss"))
    assert run.params["rule"] == "cosine" and "calibration" not in run.params
    per_segment: dict[str, int] = {}
    for s in sample_project.db.suggestions(run.id):
        per_segment[s.segment_id] = per_segment.get(s.segment_id, 0) + 1
        assert s.score >= settings.threshold
    assert per_segment and max(per_segment.values()) <= settings.top_k


def test_rerun_embeds_nothing_again_and_levels_work(sample_project):
    run = run_coder(sample_project, make_coder("similarity", sample_project), load_codebook("nasss"), level="domain")
    assert run.counts["quote_units_encoded"] == 0 and run.counts["quote_units"] > 0
    codebook = load_codebook("nasss")
    domains = {c.id for c in codebook.at_level("domain")}
    assert {s.code_id for s in sample_project.db.suggestions(run.id)} <= domains
