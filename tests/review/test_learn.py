"""Review learns (`precode review --learn`): the session retrains the learned model on the decisions
made so far, re-ranks the queue by the model's uncertainty, and proposes codes the run's coder did
not suggest (verbatim quotes, provenance kept), which are exported once accepted.

A small clinic project (three topics, three interviews; the first two hand-coded by 'ana') and a
run of a fixed coder through the public coder contract; real SQLite, real chromadb, real MiniLM.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.embed import go_offline

go_offline()

from eval.sources import reviewed_codings, run_codings  # noqa: E402
from pipeline.cli import app  # noqa: E402
from pipeline.codebook import Codebook, load_codebook  # noqa: E402
from pipeline.coders.base import CodedBatch, CodingContext, suggestion_id  # noqa: E402
from pipeline.coding import run_coder  # noqa: E402
from pipeline.errors import PrecodeError  # noqa: E402
from pipeline.ingest import ingest_paths  # noqa: E402
from pipeline.models import Grounding, Run, Segment, Suggestion, utcnow  # noqa: E402
from pipeline.project import Project, init_project  # noqa: E402
from pipeline.review.active import LearnSettings  # noqa: E402
from pipeline.review.models import DecisionIn, Order, QueueFilter, Status  # noqa: E402
from pipeline.review.service import ReviewSession  # noqa: E402
from pipeline.reviewed import accepted_codings  # noqa: E402
from pipeline.store.annotations import Annotation, upsert_annotation  # noqa: E402
from pipeline.store.proposals import run_learned_proposals  # noqa: E402

CODEBOOK = """\
schema_version: 1
id: clinic
name: Clinic study
version: "1"
levels: [domain, theme]
codes:
  - id: money
    label: Money
    definition: Talk about costs, budgets and funding.
  - id: money.cost
    label: Cost
    parent: money
    definition: What the system costs to buy or run, and who pays.
  - id: people
    label: People
    definition: Talk about staff.
  - id: people.training
    label: Staff training
    parent: people
    definition: Learning to use the system, courses and teaching for staff.
  - id: safety
    label: Patient safety
    definition: Errors, harm to patients and near misses.
"""

ANSWERS = {
    "money.cost": [
        "The licence cost us forty thousand a year and the finance office was not happy about the budget.",
        "Running costs doubled once we paid for the extra servers and the maintenance contract.",
        "Nobody told us who would pay for it after the pilot funding ran out.",
        "The price went up when the vendor changed the contract, so the budget was gone.",
    ],
    "people.training": [
        "We had a two-hour course on the system before go-live and a few refresher sessions.",
        "The new nurses learned it from the senior ones at the bedside, there was no formal teaching.",
        "I ran the training sessions for the junior doctors myself on Tuesday afternoons.",
        "The e-learning module was too long, most staff clicked through it without learning anything.",
    ],
    "safety": [
        "One patient got the wrong dose because the alert was missed, which was a serious error.",
        "We had a near miss when the system showed another patient's results.",
        "I worry the tool will harm patients if people trust it blindly.",
        "An incident report was filed after a medication error on the ward.",
    ],
}
CODES = list(ANSWERS)


def truth(text: str) -> str:
    return next(code for code, answers in ANSWERS.items() if any(a in text for a in answers))


def write_transcripts(folder: Path) -> None:
    folder.mkdir()
    for t in range(3):
        lines = [ANSWERS[code][(t + k) % 4] for k in range(2) for code in CODES]
        body = []
        for i, line in enumerate(lines):
            body.append(f"Interviewer: Could you tell me more about that, question {i + 1}?\n")
            body.append(f"P1: {line}\n")
        (folder / f"t{t + 1}.txt").write_text("\n".join(body), encoding="utf-8")


class Fixed:
    """A coder through the public contract: on each segment, the codes `pick(segment, index)` names, score 0.5."""

    model = None
    prompt_hash = None
    batch_segments = 0
    embeds_quote_units = False

    def __init__(self, pick: Any):
        self.name = "fixed"
        self.pick = pick

    def params(self) -> dict[str, Any]:
        return {}

    def counts(self, totals: Any) -> dict[str, int]:
        return {}

    def code(self, segments: Sequence[Segment], context: CodingContext) -> Iterator[CodedBatch]:
        out = [Suggestion(id=suggestion_id(context.run_id, s.id, code), run_id=context.run_id, segment_id=s.id,
                          transcript_id=s.transcript_id, code_id=code, quote=s.text, quote_start=s.start,
                          quote_end=s.end, grounding=Grounding.exact, score=0.5)
               for n, s in enumerate(segments) for code in self.pick(s, n)]
        yield CodedBatch(out, done=[s.id for s in segments])


@pytest.fixture()
def codebook(tmp_path: Path) -> Codebook:
    path = tmp_path / "clinic.yaml"
    path.write_text(CODEBOOK, encoding="utf-8")
    return load_codebook(str(path))


@pytest.fixture()
def clinic(tmp_path: Path) -> Iterator[Project]:
    """Three interviews ingested; t1 and t2 hand-coded by 'ana' (each answer with its code)."""
    write_transcripts(tmp_path / "transcripts")
    project, _ = init_project(tmp_path / "project")
    ingest_paths(project, [tmp_path / "transcripts"])
    with project.db.transaction() as conn:
        for tr in project.db.current_transcripts():
            if tr.name == "t3":
                continue
            for code, answers in ANSWERS.items():
                for answer in answers:
                    start = tr.text.find(answer)
                    if start >= 0:
                        upsert_annotation(conn, Annotation(f"{tr.name}:{start}", "ana", "test", tr.id, start,
                                                           start + len(answer), code, None, None, utcnow()))
    yield project
    project.close()


def every_code_run(project: Project, codebook: Codebook) -> Run:
    """Every code on every participant segment of every interview (score 0.5: the stored order is reading order)."""
    return run_coder(project, Fixed(lambda s, n: CODES), codebook, "leaf")


def walk(session: ReviewSession, order: Order, status: Status = Status.pending) -> list[str]:
    out: list[str] = []
    after = None
    while True:
        view = session.queue(QueueFilter(order=order, status=status), after=after)
        if view.item is None or view.wrapped or view.item.id in out:
            return out
        out.append(view.item.id)
        after = view.item.id


def test_retraining_on_decisions_reranks_the_queue_by_the_models_uncertainty(clinic, codebook):
    run = every_code_run(clinic, codebook)
    session = ReviewSession.open(clinic, run.id, "rev", learn=LearnSettings(every=0, propose=False))
    assert session.learn_status().training_segments == 0  # nothing decided yet: the codebook prior alone
    texts = {s.id: s.text for s in clinic.db.segments()}
    names = {t.id: t.name for t in clinic.db.current_transcripts()}
    suggestions = clinic.db.suggestions(run.id)
    before = walk(session, Order.learned)
    stored = walk(session, Order.uncertainty)

    # the reviewer decides t1 and t2: the right code accepted, the two others rejected
    decided = 0
    for s in suggestions:
        if names[s.transcript_id] != "t3":
            session.decide(s.id, DecisionIn(action="accept" if s.code_id == truth(texts[s.segment_id]) else "reject"))
            decided += 1
    assert session.learn_status().decisions_since == decided
    status = session.retrain()
    assert status.training_segments == 12 and status.decisions_since == 0
    assert status.examples["review_positive"] == 12 and status.examples["review_negative"] == 24

    after = walk(session, Order.learned)
    assert after != before[:len(after)]  # the decisions changed the learned order ...
    assert walk(session, Order.uncertainty) == [i for i in stored if i in set(after)]  # ... not the stored one
    # the learned order is the model's uncertainty, least sure first, ties in reading order
    items = [session.item(i) for i in after]
    u = [abs(it.learned_probability - 0.5) for it in items if it.learned_probability is not None]
    assert len(u) == len(items) and u == sorted(u)
    # the model learned from the decisions: on t3 it tells the right code from the wrong ones
    right = [it.learned_probability > 0.5 for it in items if it.code.id == truth(it.segment.text)]
    wrong = [it.learned_probability < 0.5 for it in items if it.code.id != truth(it.segment.text)]
    assert len(right) == 6 and len(wrong) == 12
    assert np.mean(right + wrong) >= 0.8
    # deterministic: the same decisions, retrained again, give the same order
    session.retrain()
    assert walk(session, Order.learned) == after


def test_it_retrains_after_every_n_decisions_not_per_decision(clinic, codebook):
    run = every_code_run(clinic, codebook)
    session = ReviewSession.open(clinic, run.id, "rev", learn=LearnSettings(every=3, propose=False))
    first = session.learn_status().trained_at
    ids = walk(session, Order.position)
    for n, sid in enumerate(ids[:2], start=1):
        session.decide(sid, DecisionIn(action="reject"))
        assert session.learn_status().trained_at == first and session.learn_status().decisions_since == n
    session.decide(ids[2], DecisionIn(action="accept"))
    status = session.learn_status()
    assert status.trained_at is not None and first is not None and status.trained_at > first
    assert status.decisions_since == 0 and status.training_segments == 1  # the three codes of the first answer


def test_codes_nobody_suggested_are_proposed_with_a_verbatim_quote_and_exported_once_accepted(clinic, codebook,
                                                                                              tmp_path):
    # the run's coder suggested something only on the first answer of each interview
    seen: set[str] = set()

    def first_answer(s: Segment, n: int) -> list[str]:
        if s.transcript_id in seen:
            return []
        seen.add(s.transcript_id)
        return [truth(s.text)]

    run = run_coder(clinic, Fixed(first_answer), codebook, "leaf")
    before = {s.id for s in clinic.db.suggestions(run.id)}
    assert len(before) == 3
    session = ReviewSession.open(clinic, run.id, "rev", learn=LearnSettings(every=0, from_coders=["ana"]))
    status = session.learn_status()
    assert status.proposed > 0 and status.proposals_total == status.proposed
    texts = {t.id: t.text for t in clinic.db.current_transcripts()}
    names = {t.id: t.name for t in clinic.db.current_transcripts()}
    proposed = [s for s in clinic.db.suggestions(run.id) if s.id not in before]
    assert len(proposed) == status.proposed
    provenance = {p.suggestion_id: p for p in run_learned_proposals(clinic.db.conn, run.id)}
    assert set(provenance) == {s.id for s in proposed}
    for s in proposed:
        # only where nobody coded: ana's interviews are hers, and never a code the run already suggested there
        assert names[s.transcript_id] == "t3" and s.id not in before
        assert s.quote_start is not None and s.quote_end is not None
        assert texts[s.transcript_id][s.quote_start:s.quote_end] == s.quote  # verbatim, exact offsets
        assert s.code_id == truth(s.quote)
        p = provenance[s.id]
        assert p.training_segments == 12 and p.reviewer == "rev" and p.probability >= 0.8
        assert p.model.startswith("learned") and p.params["from_coders"] == ["ana"]
        item = session.item(s.id)
        assert item.proposed_by is not None and item.proposed_by.training_segments == 12
        assert "Proposed by the learned model" in (item.rationale or "")
    # the proposals are in the queue, and a retrain does not propose them again
    assert {s.id for s in proposed} <= set(walk(session, Order.position))
    assert session.retrain().proposed == 0

    accepted = proposed[0]
    session.decide(accepted.id, DecisionIn(action="accept"))
    session.decide(proposed[1].id, DecisionIn(action="reject"))
    codings = accepted_codings(clinic.db, session.run)
    assert accepted.id in {c.suggestion.id for c in codings}
    assert proposed[1].id not in {c.suggestion.id for c in codings}
    out = tmp_path / "accepted.csv"
    result = CliRunner().invoke(app, ["export", "--format", "csv", "--accepted", "--run", run.id, "--out", str(out),
                                      "--project", str(clinic.root)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    quotes = [(r.get("code_id"), r.get("quote")) for r in rows]
    assert (accepted.code_id, accepted.quote) in quotes


def test_the_learned_order_needs_a_session_that_learns(clinic, codebook):
    run = every_code_run(clinic, codebook)
    session = ReviewSession.open(clinic, run.id, "rev")
    assert session.info().learn.enabled is False
    with pytest.raises(PrecodeError, match="learn"):
        session.queue(QueueFilter(order=Order.learned))
    with pytest.raises(PrecodeError, match="--learn"):
        session.retrain()


def test_a_learned_run_is_reviewed_learning_from_its_own_coders(clinic, codebook):
    from pipeline.coders.learned import create

    run = run_coder(clinic, create(clinic, from_coder="ana", codebook=codebook, level="leaf"), codebook, "leaf")
    assert run.coder == "learned" and run.params["from_coders"] == ["ana"]
    coded = {s.id: (s.segment_id, s.code_id) for s in clinic.db.suggestions(run.id)}
    session = ReviewSession.open(clinic, run.id, "rev", learn=LearnSettings(every=0, propose_min=0.5))
    assert session.learn_status().training_segments == 12  # ana's annotations, without naming her again
    # the learned run coded t3 already: a proposal is never a code it suggested there, nor one of its suggestions
    proposed = clinic.db.suggestions_by_id([p.suggestion_id for p in run_learned_proposals(clinic.db.conn, run.id)])
    assert not set(proposed) & set(coded)
    assert not {(s.segment_id, s.code_id) for s in proposed.values()} & set(coded.values())
    assert len(clinic.db.suggestions(run.id)) == len(coded) + len(proposed)


def test_learning_from_an_unknown_coder_is_one_clear_error(clinic, codebook):
    run = every_code_run(clinic, codebook)
    with pytest.raises(PrecodeError, match="no annotations by coder"):
        ReviewSession.open(clinic, run.id, "rev", learn=LearnSettings(from_coders=["nobody"]))


def test_learn_options_without_learn_are_one_clear_error(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "pipeline", "review", "--retrain-every", "3", "--project",
                           str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "belong to --learn" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow  # a real terminal (tmux) and a subprocess that loads the embedder: several seconds
def test_the_terminal_review_retrains_on_demand_and_shows_proposals(clinic, codebook):
    from pipeline.project import open_project

    from .test_tui import Tmux

    seen: set[str] = set()

    def first_answer(s: Segment, n: int) -> list[str]:
        if s.transcript_id in seen:
            return []
        seen.add(s.transcript_id)
        return [truth(s.text)]

    run = run_coder(clinic, Fixed(first_answer), codebook, "leaf")
    root = clinic.root
    clinic.close()
    command = [sys.executable, "-c", "from pipeline.cli import main; main()", "review", "-p", str(root), "--run",
               run.id, "--reviewer", "tess", "--tui", "--learn", "--retrain-every", "0", "--from-coder", "ana"]
    term = Tmux(command)
    try:
        screen = term.wait_for("your decision")
        assert "Learning: trained" in screen and "on 12 human-coded segments" in screen, screen
        assert "l:retrain" in screen, screen
        for _ in range(12):  # accept until a code the learned model proposed is on the screen
            if "PROPOSED BY THE LEARNED MODEL" in screen:
                break
            term.keys("a", "Enter")
            time.sleep(0.5)
            screen = term.wait_for("your decision")
        assert "PROPOSED BY THE LEARNED MODEL" in screen, screen
        term.keys("a", "Enter")  # accept the proposal: a human-coded segment of t3 from now on
        term.wait_for("your decision")
        term.keys("l", "Enter")
        screen = term.wait_for("retrained in")
        trained_on = int(re.search(r"retrained in [\d.]+ s on (\d+) human-coded segments", screen)[1])  # type: ignore[index]
        assert trained_on > 12, screen  # the decisions made in the terminal count
        term.keys("q", "Enter")
        time.sleep(0.5)
    finally:
        term.close()
    project = open_project(root)
    try:
        proposed = {p.suggestion_id for p in run_learned_proposals(project.db.conn, run.id)}
        accepted = {c.suggestion.id for c in accepted_codings(project.db, project.db.run(run.id))}
        assert proposed & accepted  # the proposal accepted in the terminal is an accepted coding
    finally:
        project.close()


@pytest.mark.slow  # a real browser (Debian's Chromium via Playwright) and a server thread: several seconds
def test_the_web_page_marks_proposals_and_retrains_on_demand(clinic, codebook):
    from playwright.sync_api import expect, sync_playwright

    from pipeline.review.app import create_app, new_token
    from pipeline.review.server import bind_socket, serve_in_thread

    from .test_browser import CHROMIUM_ARGS

    seen: set[str] = set()

    def first_answer(s: Segment, n: int) -> list[str]:
        if s.transcript_id in seen:
            return []
        seen.add(s.transcript_id)
        return [truth(s.text)]

    run = run_coder(clinic, Fixed(first_answer), codebook, "leaf")
    session = ReviewSession.open(clinic, run.id, "alice", learn=LearnSettings(every=0, from_coders=["ana"]))
    assert session.learn_status().training_segments == 12
    proposal = run_learned_proposals(clinic.db.conn, run.id)[0].suggestion_id
    sock = bind_socket("127.0.0.1", 0)
    token = new_token()
    port = sock.getsockname()[1]
    server, thread = serve_in_thread(create_app(session, token, port), sock)
    for _ in range(200):
        if server.started:
            break
        thread.join(0.02)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{port}/?token={token}")
            expect(page.locator("#p-text")).not_to_be_empty()
            expect(page.locator("#learn-box")).to_be_visible()
            expect(page.locator("#learn-status")).to_contain_text("on 12 human-coded segments")
            assert page.locator("#f-order").input_value() == "learned"  # a learning session walks the learned order
            # a code the learned model proposed is marked as such
            page.goto(f"http://127.0.0.1:{port}/#status=all&order=learned&item={proposal}")
            page.reload()
            expect(page.locator("#e-proposed")).to_be_visible()
            expect(page.locator("#e-proposed")).to_contain_text("Proposed by the learned model")
            assert page.evaluate("S.current.item.id") == proposal
            page.keyboard.press("a")
            expect(page.locator("#toast")).to_contain_text("Accepted")
            # retrain on demand: the accepted proposal's passage is now a human-coded one
            page.click("#learn-retrain")
            expect(page.locator("#learn-status")).to_contain_text("on 13 human-coded segments", timeout=30_000)
            expect(page.locator("#learn-status")).to_contain_text("0 decisions since")
            browser.close()
            assert errors == [], errors
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    assert proposal in {c.suggestion.id for c in accepted_codings(clinic.db, clinic.db.run(run.id))}


def test_machine_agreement_leaves_out_what_the_learned_model_proposed_during_review(clinic, codebook):
    """A run's own codings (what `precode eval --run` scores) are its coder's output: codes the learned
    model added while the run was reviewed are left out, until a reviewer accepts them."""
    run = run_coder(clinic, Fixed(lambda s, n: [truth(s.text)] if n == 0 else []), codebook, "leaf")
    coded = {s.id for s in clinic.db.suggestions(run.id)}
    session = ReviewSession.open(clinic, run.id, "rev", learn=LearnSettings(every=0, from_coders=["ana"]))
    proposed = [s for s in clinic.db.suggestions(run.id) if s.id not in coded]
    assert proposed, "the learned model proposed nothing: the test has nothing to check"

    _, machine = run_codings(clinic, run.id)
    assert len(machine.codings) == len(coded)
    (summary,) = machine.summaries
    assert summary.detail["left_out"].startswith(f"{len(proposed)} code(s) the learned model proposed")

    session.decide(proposed[0].id, DecisionIn(action="accept"))
    reviewed = reviewed_codings(clinic, session.run)
    assert (proposed[0].transcript_id, proposed[0].code_id) in {(c.transcript_id, c.code) for c in reviewed.codings}
