"""The whole loop as a researcher runs it, through the command line:

import a .qdpx with hand-coded interviews -> precode code --coder learned --from-coder NAME ->
review (the review service) -> retrain on the reviews -> export a .qdpx.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.project import find_project
from pipeline.review.models import DecisionIn
from pipeline.review.service import ReviewSession
from tests.learn.conftest import ANSWERS, CODEBOOK, transcript

USER = "5e550000-0000-4000-8000-000000000001"
CODE_GUIDS = {code: f"c0de0000-0000-4000-8000-00000000001{i}" for i, code in enumerate(ANSWERS)}


def _qde(sources: dict[str, str], coded: set[str]) -> str:
    codes = "".join(f'<Code guid="{g}" name="{code}" isCodable="true"/>' for code, g in CODE_GUIDS.items())
    parts = []
    n = 0
    for s_index, (name, text) in enumerate(sources.items()):
        selections = []
        if name in coded:
            for code, answers in ANSWERS.items():
                for answer in answers:
                    start = text.find(answer)
                    if start < 0:
                        continue
                    n += 1
                    selections.append(
                        f'<PlainTextSelection guid="5e1e0000-0000-4000-8000-{n:012d}" startPosition="{start}" '
                        f'endPosition="{start + len(answer)}" creatingUser="{USER}">'
                        f'<Coding guid="c0d10000-0000-4000-8000-{n:012d}" creatingUser="{USER}">'
                        f'<CodeRef targetGUID="{CODE_GUIDS[code]}"/></Coding></PlainTextSelection>')
        parts.append(f'<TextSource guid="50c00000-0000-4000-8000-00000000000{s_index + 1}" name="{name}">'
                     f"<PlainTextContent>{text}</PlainTextContent>{''.join(selections)}</TextSource>")
    return (f'<?xml version="1.0" encoding="utf-8"?><Project xmlns="urn:QDA-XML:project:1.0" name="Clinic" '
            f'origin="MAXQDA 2022"><Users><User guid="{USER}" name="Ana"/></Users>'
            f"<CodeBook><Codes>{codes}</Codes></CodeBook><Sources>{''.join(parts)}</Sources></Project>")


@pytest.mark.slow
def test_import_code_review_retrain_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    runner = CliRunner()
    codebook = tmp_path / "clinic.yaml"
    codebook.write_text(CODEBOOK, encoding="utf-8")
    order = list(ANSWERS)
    sources = {f"interview {t + 1}": transcript([ANSWERS[c][(t + k) % 4] for k in range(2) for c in order])
               for t in range(4)}
    qdpx = tmp_path / "study.qdpx"
    with zipfile.ZipFile(qdpx, "w") as archive:
        archive.writestr("project.qde", _qde(sources, coded={"interview 1", "interview 2"}))
    root = tmp_path / "project"
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> str:
        result = runner.invoke(app, [*args, "--project", str(root)] if args[0] != "init" else list(args))
        assert result.exit_code == 0, result.output + repr(result.exception)
        return result.output

    run("init", str(root))
    out = run("import", str(qdpx), "--codebook", str(codebook))
    assert "Ana" in out
    project = find_project(root)
    coder = "Ana"  # the REFI-QDA user's name is the coder name
    assert [r[0] for r in project.db.conn.execute("SELECT DISTINCT coder FROM annotations")] == [coder]

    # 1. learn from Ana's two interviews, code the two she did not
    out = run("code", "--codebook", str(codebook), "--coder", "learned", "--from-coder", coder)
    assert "Learned from 12 human-coded segments" in out
    assert "fewer than" in out  # 4 examples per code: reported as too few
    first = project.db.run(None)
    assert first.coder == "learned" and first.params["training"]["codes"]["safety"]["positives"] == 4
    suggestions = project.db.suggestions(first.id)
    texts = {t.id: t for t in project.db.current_transcripts()}
    coded_by_ana = {t.id for t in texts.values() if t.name in ("interview 1", "interview 2")}
    assert suggestions and not {s.transcript_id for s in suggestions} & coded_by_ana
    for s in suggestions:
        assert texts[s.transcript_id].text[s.quote_start:s.quote_end] == s.quote

    # 2. review: accept what is right, correct what is wrong (through the review service)
    session = ReviewSession.open(project, first.id, reviewer="ana")
    segments = {s.id: s.text for s in project.db.segments()}
    right = wrong = 0
    for s in suggestions:
        truth = next(c for c, answers in ANSWERS.items() if any(a in segments[s.segment_id] for a in answers))
        if truth == s.code_id:
            session.decide(s.id, DecisionIn(action="accept"))
            right += 1
        else:
            session.decide(s.id, DecisionIn(action="edit", code_id=truth))
            wrong += 1
    assert right > wrong

    # 3. retrain: the reviews are examples too; nothing reviewed is suggested again
    out = run("code", "--codebook", str(codebook), "--coder", "learned", "--from-coder", coder)
    second = project.db.run(None)
    assert second.id != first.id
    counts = second.params["training"]["examples"]
    assert counts["review_positive"] == right + wrong
    reviewed_segments = {s.segment_id for s in suggestions}
    assert not {s.segment_id for s in project.db.suggestions(second.id)} & reviewed_segments

    # 4. export the reviewed codings of the first run for the QDA tool
    out = run("export", "--format", "qdpx", "--run", first.id, "--out", str(tmp_path / "reviewed.qdpx"))
    with zipfile.ZipFile(tmp_path / "reviewed.qdpx") as archive:
        qde = archive.read("project.qde").decode("utf-8")
    assert qde.count("<Coding ") >= right + wrong


def test_learned_options_belong_to_the_learned_coder(tmp_path: Path):
    result = CliRunner().invoke(app, ["code", "--codebook", "nasss", "--single", "--project", str(tmp_path)])
    assert result.exit_code != 0


def test_an_unknown_coder_name_is_one_line_and_exit_2(tmp_path: Path):
    import subprocess
    import sys

    runner = CliRunner()
    root = tmp_path / "p"
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    done = subprocess.run([sys.executable, "-m", "pipeline", "code", "--codebook", "nasss", "--coder", "learned",
                           "--from-coder", "nobody", "--project", str(root)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "no annotations by coder(s) nobody" in done.stderr
    assert "Traceback" not in done.stderr
