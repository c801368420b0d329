"""Bad input: each case gives a clear message naming the file (and line/field), loses nothing, and the
other files in the same command still go through."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from pipeline.errors import PrecodeError
from pipeline.ingest import IngestStatus, ingest_paths
from pipeline.project import find_project, init_project


def precode(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


GOOD = "Interviewer: How did the rollout go?\nP1: Slowly, because the alerts were noisy.\n"


@pytest.fixture
def project(tmp_path: Path):
    project, _ = init_project(tmp_path / "proj")
    return project


def _bad_files(folder: Path) -> dict[str, str]:
    """file name → a fragment the error message must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    (folder / "undecodable.txt").write_bytes(b"Interviewer: ok\nP1: " + b"\x81\x8d\x8f\x90\x9d" * 50)
    (folder / "broken.vtt").write_text("WEBVTT\n\n00:00:01.000 --> nonsense\n<v Interviewer>Hello</v>\n", encoding="utf-8")
    (folder / "notvtt.vtt").write_text("Interviewer: hello\n", encoding="utf-8")
    (folder / "broken.json").write_text('{"format": "precode-transcript", "version": 1, "turns": [\n{"speaker": }]}',
                                         encoding="utf-8")
    (folder / "wrong.json").write_text('{"hello": 1}', encoding="utf-8")
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 this is not really a zip")
    return {
        "empty.txt": "empty", "binary.txt": "binary", "undecodable.txt": "encoding", "broken.vtt": "line 3: malformed WebVTT",
        "notvtt.vtt": "line 1", "broken.json": "line 2", "wrong.json": "field", "broken.docx": ".docx",
    }


def test_each_bad_file_is_reported_and_good_files_still_go_in(project, tmp_path: Path):
    folder = tmp_path / "in"
    expected = _bad_files(folder)
    (folder / "good.txt").write_text(GOOD, encoding="utf-8")
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4")
    results = {Path(r.path).name: r for r in ingest_paths(project, [folder])}
    assert results["good.txt"].status is IngestStatus.ingested
    assert results["notes.pdf"].status is IngestStatus.skipped and ".pdf" in results["notes.pdf"].message
    for name, fragment in expected.items():
        result = results[name]
        assert result.status is IngestStatus.failed, name
        assert name in result.message and fragment in result.message, result.message
    counts = project.db.counts()
    assert counts["transcripts"] == 1  # nothing half-written for the bad ones
    names = {r[0] for r in project.db.conn.execute("SELECT name FROM transcripts")}
    assert names == {"good"}


def test_unknown_extension_named_explicitly_is_an_error(project, tmp_path: Path):
    path = tmp_path / "interview.rtf"
    path.write_text(GOOD, encoding="utf-8")
    [result] = ingest_paths(project, [path])
    assert result.status is IngestStatus.failed
    assert "interview.rtf" in result.message and "unsupported file type '.rtf'" in result.message


def test_no_speaker_labels_ingested_as_one_speaker_with_warning(project, tmp_path: Path):
    path = tmp_path / "monologue.txt"
    path.write_text("We started the pilot in March. The nurses liked the dashboard.\n", encoding="utf-8")
    [result] = ingest_paths(project, [path])
    assert result.status is IngestStatus.ingested
    assert any("no speaker labels" in w for w in result.warnings)
    [transcript] = project.db.current_transcripts()
    assert [t.speaker for t in transcript.turns] == ["Unknown"] and transcript.warnings


def test_huge_file_is_ingested_without_many_copies_in_memory(project, tmp_path: Path):
    path = tmp_path / "huge.txt"
    turn = ("Interviewer: What happened next on the ward?\nP1: " + "The alert fired again and we checked the patient. " * 20 + "\n")
    repeats = 50 * 1024 * 1024 // len(turn) + 1
    with path.open("w", encoding="utf-8") as f:
        for _ in range(repeats):
            f.write(turn)
    size = path.stat().st_size
    assert size >= 50 * 1024 * 1024
    tracemalloc.start()
    [result] = ingest_paths(project, [path])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.status is IngestStatus.ingested, result.message
    assert result.segments == 2 * repeats
    # bytes + decoded text + the text handed to SQLite twice (transcript and segments) is about 4x;
    # more than 6x would mean the file is being copied around.
    assert peak < 6 * size, f"peak {peak / size:.1f}x the file size"


def test_missing_project_and_not_a_project(tmp_path: Path):
    with pytest.raises(PrecodeError, match="does not exist"):
        find_project(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(PrecodeError, match="not a precode project"):
        find_project(tmp_path / "plain")
    with pytest.raises(PrecodeError, match="no precode project here"):
        find_project(start=tmp_path / "plain")


def test_cli_errors_are_one_clear_line_without_traceback(tmp_path: Path):
    result = precode("status", "--project", str(tmp_path / "missing dir"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "missing dir" in result.stderr and "does not exist" in result.stderr
    result = precode("status", cwd=tmp_path)
    assert result.returncode == 2 and "precode init" in result.stderr and "Traceback" not in result.stderr


def test_cli_ingest_exit_code_reflects_failed_files(tmp_path: Path):
    assert precode("init", str(tmp_path / "p")).returncode == 0
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "good.txt").write_text(GOOD, encoding="utf-8")
    (tmp_path / "in" / "empty.txt").write_bytes(b"")
    result = precode("ingest", str(tmp_path / "in"), "--project", str(tmp_path / "p"))
    assert result.returncode == 1
    assert "empty.txt" in result.stderr and "Traceback" not in result.stderr
    status = precode("status", "--project", str(tmp_path / "p"))
    assert "transcripts: 1" in status.stdout


def test_bad_metadata_csv_names_file_and_line(project, tmp_path: Path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text(GOOD, encoding="utf-8")
    (folder / "metadata.csv").write_text("name_of_file,group\na.txt,HCP\n", encoding="utf-8")
    with pytest.raises(PrecodeError, match=r"metadata.csv: line 1: .*'file' column"):
        ingest_paths(project, [folder])


def test_invalid_settings_name_the_field(tmp_path: Path):
    project, _ = init_project(tmp_path / "p")
    (project.root / "precode.toml").write_text("[segment]\nmax_chars = 5\n[similarity]\ntop_kk = 2\n", encoding="utf-8")
    with pytest.raises(PrecodeError) as info:
        find_project(project.root)
    message = str(info.value)
    assert "precode.toml" in message and "max_chars" in message and "top_kk" in message


def test_cli_prints_bracketed_names_in_messages_verbatim(tmp_path: Path):
    """Messages name sections like [llm] or [similarity]; the terminal must not eat them as markup."""
    assert precode("init", str(tmp_path / "p")).returncode == 0
    (tmp_path / "p" / "precode.toml").write_text("[similarity]\ntop_kk = 2\n", encoding="utf-8")
    result = precode("status", "--project", str(tmp_path / "p"))
    assert result.returncode == 2
    assert "[similarity] top_kk" in result.stderr
