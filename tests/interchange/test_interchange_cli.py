"""The command line: `precode import`, `precode export --format qdpx|xlsx [--all]`, `precode codebook convert`."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from refi_fixtures import table_counts
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.codebook import load_codebook

runner = CliRunner()


def _precode(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120)


def test_export_qdpx_and_xlsx_from_the_command_line(reviewed, tmp_path):
    root = str(reviewed.project.root)
    result = runner.invoke(app, ["export", "-p", root, "--format", "qdpx", "--out", str(tmp_path / "a.qdpx")])
    assert result.exit_code == 0, result.output
    assert f"{len(reviewed.accepted)} codings (accepted review decisions)" in result.output
    assert "Alice Ngata" in result.output
    with zipfile.ZipFile(tmp_path / "a.qdpx") as archive:
        assert "project.qde" in archive.namelist()
    result = runner.invoke(app, ["export", "-p", root, "-f", "xlsx", "--all", "--out", str(tmp_path / "a.xlsx")])
    assert result.exit_code == 0 and "(all grounded suggestions)" in result.output
    assert (tmp_path / "a.xlsx").stat().st_size > 0


def test_export_options_that_do_not_fit_the_format_are_refused(reviewed, tmp_path):
    root = str(reviewed.project.root)
    done = _precode("export", "-p", root, "-f", "csv", "--all", "--out", str(tmp_path / "x.csv"))
    assert done.returncode == 2 and "--all applies to --format qdpx or xlsx" in done.stderr
    done = _precode("export", "-p", root, "-f", "qdpx", "--include-ungrounded", "--out", str(tmp_path / "x.qdpx"))
    assert done.returncode == 2 and "--include-ungrounded applies to csv/jsonl" in done.stderr
    done = _precode("export", "-p", root, "-f", "pdf", "--out", str(tmp_path / "x.pdf"))
    assert done.returncode == 2 and "choose one of: csv, jsonl, qdpx, xlsx" in done.stderr
    assert not list(tmp_path.iterdir())
    # csv keeps its old behaviour
    result = runner.invoke(app, ["export", "-p", root, "-f", "csv", "--out", str(tmp_path / "s.csv")])
    assert result.exit_code == 0 and (tmp_path / "s.csv").read_text(encoding="utf-8").startswith("transcript,")


def test_import_reports_coders_codes_and_skips(fresh, foreign, tmp_path):
    path = foreign.write(tmp_path / "ward.qdpx")
    result = runner.invoke(app, ["import", str(path), "-p", str(fresh.root), "--codebook", "nasss",
                                 "--save-codebook", str(tmp_path / "ward.yaml")])
    assert result.exit_code == 0, result.output
    out = result.output
    for expected in ("Dana Okafor", "Eli Brandt", "Interview 1.txt", "new transcript", "2 code(s) not found in",
                     "Technology > Alarm fatigue  →  technology.alarm_fatigue", "skipped", "PDF source 'Protocol'",
                     "Wrote the code tree to", "the codebook is a draft", "2 text source(s)"):
        assert expected in out, expected
    assert table_counts(fresh)["annotations"] == 6


def test_import_errors_exit_2_with_the_message_and_store_nothing(fresh, tmp_path):
    bad = tmp_path / "bad.qdpx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    before = table_counts(fresh)
    done = _precode("import", str(bad), "-p", str(fresh.root))
    assert done.returncode == 2
    assert "not a REFI-QDA project" in done.stderr and "Traceback" not in done.stderr
    assert table_counts(fresh) == before
    done = _precode("import", str(tmp_path / "x.qdc"), "-p", str(fresh.root))
    assert done.returncode == 2 and "precode codebook convert" in done.stderr


def test_codebook_convert_both_ways(tmp_path):
    result = runner.invoke(app, ["codebook", "convert", "qif", str(tmp_path / "qif.qdc")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["codebook", "convert", str(tmp_path / "qif.qdc"), str(tmp_path / "qif.yaml"),
                                 "--id", "qif", "--name", "QIF", "--version", "2", "--levels", "phase,step,activity"])
    assert result.exit_code == 0, result.output
    assert "draft" not in result.output
    back = load_codebook(tmp_path / "qif.yaml")
    assert (back.id, back.name, back.version, back.levels) == ("qif", "QIF", "2", ["phase", "step", "activity"])
    assert [c.id for c in back.codes] == [c.id for c in load_codebook("qif").codes]
