"""Fixtures for the review app: a project with an LLM-like run, copied fresh for each test, and a
review server on 127.0.0.1 in a background thread.

The run is written through the DB layer (no embedding model, no LLM): every participant segment
of the sample transcripts gets one or two codes with a rationale and a confidence, and quotes of
every grounding kind (exact, normalized, fuzzy, ungrounded), so the review screen has every case
to show. Two new-code proposals sit beside it.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import httpx
import pytest

from pipeline.embed import go_offline

go_offline()

from pipeline.codebook import load_codebook  # noqa: E402
from pipeline.ingest import ingest_paths  # noqa: E402
from pipeline.models import Grounding, Run, RunStatus, SegmentRole, Suggestion  # noqa: E402
from pipeline.project import Project, init_project, open_project  # noqa: E402
from pipeline.review.app import create_app, new_token  # noqa: E402
from pipeline.review.server import bind_socket, serve_in_thread  # noqa: E402
from pipeline.review.service import ReviewSession  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
RUN_ID = "20260301-090000-llm1"
CODES = [
    "technology.material_properties.usability", "technology.knowledge_generated.communicate_meaning",
    "technology.supply_model.data_quality", "value_proposition.demand_side.perceived_value",
    "adopters.staff", "organization.routines.fit_practice", "wider_system.regulatory_legal.responsibility",
    "adopters.relationships",
]


def first_sentence(text: str) -> tuple[int, int]:
    """Offsets of the segment's first sentence (or all of it)."""
    for mark in (". ", "? ", "! "):
        at = text.find(mark)
        if 20 < at < 400:
            return 0, at + 1
    return 0, min(len(text), 300)


def make_llm_run(project: Project, run_id: str = RUN_ID, seed: int = 7) -> Run:
    """An LLM-like completed run over every participant segment, through the DB layer."""
    db = project.db
    codebook = load_codebook("nasss")
    codes = [c for c in CODES if c in codebook.by_id]
    assert codes == CODES, "the NASSS codebook changed: update CODES"
    db.save_codebook(codebook)
    run = Run(id=run_id, coder="llm", model="stub-llm-1", params={"temperature": 0}, prompt_hash="p" * 12,
              codebook_id=codebook.id, codebook_hash=codebook.content_hash, level="leaf")
    db.start_run(run)
    rng = random.Random(seed)
    suggestions = []
    for n, seg in enumerate(db.segments(role=SegmentRole.participant)):
        a, b = first_sentence(seg.text)
        start, end = seg.start + a, seg.start + b
        for code_id in rng.sample(codes, 2 if n % 3 == 0 else 1):
            quote, grounding, qs, qe = seg.text[a:b], Grounding.exact, start, end
            if n % 17 == 5:
                quote, grounding = "We never had that problem at all, honestly.", Grounding.ungrounded
                qs = qe = None
            elif n % 13 == 4:
                quote, grounding = quote.replace(" ", "  ", 1), Grounding.normalized
            elif n % 11 == 3:
                quote, grounding = quote[:-2] + "x.", Grounding.fuzzy
            suggestions.append(Suggestion(
                id=hashlib.sha256(f"{run_id}:{seg.id}:{code_id}".encode()).hexdigest()[:16], run_id=run_id,
                segment_id=seg.id, transcript_id=seg.transcript_id, code_id=code_id, quote=quote, quote_start=qs,
                quote_end=qe, grounding=grounding, score=round(rng.uniform(0.3, 0.99), 2),
                rationale=f"The participant talks about {codebook.by_id[code_id].label.lower()} here.",
            ))
    with db.transaction() as conn:
        db.insert_suggestions(conn, suggestions)
    db.finish_run(run_id, RunStatus.completed, {"suggestions": len(suggestions)})
    segments = db.segments(role=SegmentRole.participant)
    with db.transaction() as conn:
        for i, (seg, label, parent) in enumerate([(segments[3], "Alert fatigue", "technology.material_properties"),
                                                  (segments[40], "Vendor lock-in", None)]):
            a, b = first_sentence(seg.text)
            conn.execute(
                "INSERT INTO code_proposals VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (f"prop{i + 1}", run_id, seg.id, seg.transcript_id, label,
                 f"Talk about {label.lower()} as a barrier to using the tool.", parent, seg.text[a:b],
                 seg.start + a, seg.start + b, "exact", "No code in the codebook covers this.", "2026-03-01T09:00:00"),
            )
    return db.run(run_id)


def add_quoted_run(project: Project, transcript: Path, quote: str, run_id: str,
                   code_id: str = "adopters.staff") -> Suggestion:
    """Ingest `transcript` and a completed run of one suggestion quoting `quote` (exactly) in it."""
    [result] = ingest_paths(project, [transcript])
    assert result.transcript_id, result.message
    db = project.db
    codebook = load_codebook("nasss")
    db.save_codebook(codebook)
    seg = next(s for s in db.segments([result.transcript_id]) if quote in s.text)
    start = seg.start + seg.text.index(quote)  # Python counts code points, as the stored offsets do
    db.start_run(Run(id=run_id, coder="llm", model="stub-llm-1", params={}, prompt_hash="p" * 12,
                     codebook_id=codebook.id, codebook_hash=codebook.content_hash, level="leaf"))
    suggestion = Suggestion(id=hashlib.sha256(run_id.encode()).hexdigest()[:16], run_id=run_id, segment_id=seg.id,
                            transcript_id=seg.transcript_id, code_id=code_id, quote=quote, quote_start=start,
                            quote_end=start + len(quote), grounding=Grounding.exact, score=0.8,
                            rationale="The participant talks about staff here.")
    with db.transaction() as conn:
        db.insert_suggestions(conn, [suggestion])
    db.finish_run(run_id, RunStatus.completed, {"suggestions": 1})
    return suggestion


@pytest.fixture(scope="session")
def review_template(tmp_path_factory) -> Path:
    """The sample transcripts plus the LLM-like run; a space and non-ASCII characters in the path."""
    root = tmp_path_factory.mktemp("review") / "revue pilote ü"
    project, _ = init_project(root)
    ingest_paths(project, [SAMPLE])
    make_llm_run(project)
    project.close()
    return root


def copy_project(template: Path, target: Path) -> Project:
    """A private copy (the SQLite backup API copies committed WAL content too)."""
    target.mkdir(parents=True)
    shutil.copy(template / "precode.toml", target / "precode.toml")
    source = sqlite3.connect(template / "precode.db")
    dest = sqlite3.connect(target / "precode.db")
    source.backup(dest)
    source.close()
    dest.close()
    return open_project(target)


@pytest.fixture
def project(review_template, tmp_path) -> Iterator[Project]:
    project = copy_project(review_template, tmp_path / "projet é")
    yield project
    project.close()


@pytest.fixture
def session(project) -> ReviewSession:
    return ReviewSession.open(project, RUN_ID, "alice")


@dataclass
class Server:
    url: str
    token: str
    session: ReviewSession  # the server's own (used from its threads only while it is idle)

    @cached_property
    def reader(self) -> ReviewSession:
        """The same review on a connection of its own, for a test to check the store while the server runs."""
        return ReviewSession.open(open_project(self.session.project.root), self.session.run.id, self.session.reviewer)

    def client(self, token: str | None = "same") -> httpx.Client:
        headers = {"x-precode-token": self.token if token == "same" else token} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def start_server(project: Project, reviewer: str, run_id: str = RUN_ID) -> tuple[Server, object]:
    session = ReviewSession.open(project, run_id, reviewer)
    sock = bind_socket("127.0.0.1", 0)
    token = new_token()
    port = sock.getsockname()[1]
    server, thread = serve_in_thread(create_app(session, token, port), sock)
    for _ in range(200):
        if server.started:
            break
        thread.join(0.02)
    assert server.started, "the review server did not start"
    return Server(f"http://127.0.0.1:{port}", token, session), (server, thread, sock)


def stop_server(handle) -> None:
    server, thread, sock = handle
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture
def server(project) -> Iterator[Server]:
    srv, handle = start_server(project, "alice")
    yield srv
    stop_server(handle)
    if "reader" in srv.__dict__:
        srv.reader.project.close()
