"""Benchmark of the review app's server side on a project with 50,000 suggestions.

Builds a synthetic project directly through the DB layer (no embedding model, no LLM): 200
transcripts of 125 interviewer/participant exchanges, one completed run with 50,000 suggestions
(two codes per participant segment, scores spread over 0.3-0.99, some ungrounded), and a lived-in
review state: 40% of the suggestions already decided by one reviewer and 20% by a second, with
undos among them. Then it measures the server's own time, in process:

- next item: ReviewSession.queue(filter, after=current), i.e. what GET /api/queue runs, stepping
  through the queue for several filters (pending in reading order, by uncertainty, one code, one
  transcript, a sparse status);
- decision stored: ReviewSession.decide (accept, reject with a reason, change of code), each its
  own committed transaction, i.e. what POST /api/items/{id}/decisions runs;

and, for context, the same two over real HTTP on 127.0.0.1 (uvicorn in a thread, JSON included),
the first open of a run (building its queue order), the progress/precision panel and a bulk
decision. Limits: next item < 50 ms, decision stored < 20 ms (p95). Prints a markdown table.

Run:  .venv/bin/python benchmarks/review.py [--suggestions 50000] [--steps 300] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.embed import go_offline

go_offline()

import httpx  # noqa: E402

from pipeline.codebook import load_codebook  # noqa: E402
from pipeline.decisions import Action, Decision, record_decision  # noqa: E402
from pipeline.models import (  # noqa: E402
    Grounding,
    Run,
    RunStatus,
    Segment,
    SegmentRole,
    Suggestion,
    Transcript,
    TranscriptMetadata,
    Turn,
)
from pipeline.project import Project, init_project  # noqa: E402
from pipeline.review.app import create_app, new_token  # noqa: E402
from pipeline.review.models import BulkIn, DecisionIn, Order, PassageFilter, QueueFilter, Status  # noqa: E402
from pipeline.review.server import bind_socket, serve_in_thread  # noqa: E402
from pipeline.review.service import ReviewSession  # noqa: E402

LIMIT_NEXT_MS = 50.0
LIMIT_DECISION_MS = 20.0
RUN_ID = "20260301-000000-bench"
WORDS = ("the alert model ward nurse data shift trust patient vendor screen training risk score team pathway "
         "doctor audit night workflow consent label threshold image report sepsis tool clinic safety").split()


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def build(root: Path, n_suggestions: int, seed: int = 11) -> Project:
    """A project with one run of `n_suggestions` (two per participant segment) and prior decisions."""
    rng = random.Random(seed)
    project, _ = init_project(root)
    db = project.db
    codebook = load_codebook("nasss")
    db.save_codebook(codebook)
    codes = [c.id for c in codebook.codes if c.depth >= 2]
    run = Run(id=RUN_ID, coder="llm", model="bench", codebook_id=codebook.id, codebook_hash=codebook.content_hash)
    db.start_run(run)
    per_transcript = 125
    n_transcripts = max(1, n_suggestions // (2 * per_transcript))
    suggestions: list[Suggestion] = []
    for t in range(n_transcripts):
        text, turns, spans = "", [], []
        for _ in range(per_transcript):
            for speaker in ("Interviewer", "P1"):
                body = " ".join(sentence(rng) for _ in range(1 if speaker == "Interviewer" else rng.randint(2, 5)))
                start = len(text) + len(speaker) + 2
                text += f"{speaker}: {body}\n\n"
                turns.append(Turn(speaker=speaker, start=start, end=start + len(body)))
                spans.append((speaker, start, start + len(body)))
        tid = hashlib.sha256(f"t{t}".encode()).hexdigest()[:16]
        transcript = Transcript(id=tid, name=f"int{t:04d}", source_path=f"/bench/int{t:04d}.txt", source_sha256=tid,
                                format="txt", encoding="utf-8", text=text, turns=turns,
                                metadata=TranscriptMetadata(participant_id=f"P{t}"))
        segments = []
        for i, (speaker, start, end) in enumerate(spans):
            role = SegmentRole.interviewer if speaker == "Interviewer" else SegmentRole.participant
            question = spans[i - 1] if role is SegmentRole.participant else None
            segments.append(Segment(id=hashlib.sha256(f"{tid}:{i}".encode()).hexdigest()[:16], transcript_id=tid,
                                    index=i, start=start, end=end, speaker=speaker, role=role, text=text[start:end],
                                    context_start=question[1] if question else None,
                                    context_end=question[2] if question else None))
        with db.transaction() as conn:
            db.insert_transcript(conn, transcript, segments)
        for seg in segments:
            if seg.role is not SegmentRole.participant:
                continue
            cut = seg.text.index(".") + 1
            for code in rng.sample(codes, 2):
                grounded = rng.random() > 0.03
                suggestions.append(Suggestion(
                    id=hashlib.sha256(f"{seg.id}:{code}".encode()).hexdigest()[:16], run_id=RUN_ID,
                    segment_id=seg.id, transcript_id=tid, code_id=code, quote=seg.text[:cut],
                    quote_start=seg.start if grounded else None, quote_end=seg.start + cut if grounded else None,
                    grounding=Grounding.exact if grounded else Grounding.ungrounded,
                    score=round(rng.uniform(0.3, 0.99), 3), rationale="The participant describes this.",
                ))
    with db.transaction() as conn:
        db.insert_suggestions(conn, suggestions)
    db.finish_run(RUN_ID, RunStatus.completed, {"suggestions": len(suggestions)})
    with db.transaction() as conn:
        for s in suggestions:
            roll = rng.random()
            if roll < 0.4:
                record_decision(conn, Decision(suggestion_id=s.id, reviewer="alice",
                                               action=Action.accept if rng.random() < 0.7 else Action.reject))
            if roll < 0.2:
                record_decision(conn, Decision(suggestion_id=s.id, reviewer="bob", action=Action.reject))
            if roll < 0.02:
                record_decision(conn, Decision(suggestion_id=s.id, reviewer="bob", action=Action.undo))
    return project


def ms(seconds: float) -> float:
    return seconds * 1000.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def walk(session: ReviewSession, queue_filter: QueueFilter, steps: int) -> list[float]:
    """Step through the queue like a reviewer pressing j: time each next-item answer."""
    times, after = [], None
    for _ in range(steps):
        t0 = time.perf_counter()
        view = session.queue(queue_filter, after)
        times.append(ms(time.perf_counter() - t0))
        if view.item is None:
            break
        after = view.item.id
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suggestions", type=int, default=50_000)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--keep", type=Path, help="build the project here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="precode-review-bench-")) / "project"
    rows: list[tuple[str, float, float | None, str]] = []

    t0 = time.perf_counter()
    project = build(root, args.suggestions)
    n = project.db.conn.execute("SELECT COUNT(*) FROM suggestions").fetchone()[0]
    n_decisions = project.db.conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    print(f"built {n} suggestions, {n_decisions} prior decisions in {time.perf_counter() - t0:.1f} s at {root}")

    t0 = time.perf_counter()
    ReviewSession.open(project, RUN_ID, "alice")
    rows.append(("first review of the run: builds its queue order, loads it", ms(time.perf_counter() - t0), None,
                 "ms once"))
    t0 = time.perf_counter()
    session = ReviewSession.open(project, RUN_ID, "alice")
    rows.append(("open a review session (loads the queue and my statuses)", ms(time.perf_counter() - t0), None,
                 "ms once"))
    t0 = time.perf_counter()
    session.queue(QueueFilter(reviewer="*"))
    rows.append(("first use of the 'anyone' scope (loads its statuses)", ms(time.perf_counter() - t0), None,
                 "ms once"))
    some_code = project.db.conn.execute(
        "SELECT code_id FROM suggestions GROUP BY code_id ORDER BY COUNT(*) LIMIT 1").fetchone()[0]
    some_transcript = project.db.conn.execute("SELECT id FROM transcripts ORDER BY name LIMIT 1 OFFSET 7").fetchone()[0]
    filters = {
        "pending, reading order": QueueFilter(),
        "pending, least certain first": QueueFilter(order=Order.uncertainty),
        "pending, one code (rarest)": QueueFilter(code=some_code),
        "pending, one transcript": QueueFilter(transcript=some_transcript),
        "rejected by anyone": QueueFilter(status=Status.rejected, reviewer="*"),
        "all, confidence 0.4-0.5": QueueFilter(status=Status.all, min_score=0.4, max_score=0.5),
    }
    all_next: list[float] = []
    for name, f in filters.items():
        times = walk(session, f, args.steps)
        all_next.extend(times)
        rows.append((f"next item: {name} (p95 of {len(times)})", pct(times, 0.95), LIMIT_NEXT_MS, "ms"))
    rows.insert(3, (f"next item, all filters (p95 of {len(all_next)})", pct(all_next, 0.95), LIMIT_NEXT_MS, "ms"))
    rows.insert(4, ("next item, all filters (max)", max(all_next), LIMIT_NEXT_MS, "ms"))

    for name, pf in {"all": PassageFilter(), "pending": PassageFilter(only="pending"),
                     "without a suggestion": PassageFilter(only="unsuggested")}.items():
        times, at = [], None
        for _ in range(args.steps):
            t0 = time.perf_counter()
            pview = session.next_passage(pf, at)
            times.append(ms(time.perf_counter() - t0))
            if pview.passage is None:
                break
            at = pview.passage.segment.id
        rows.append((f"next passage (all its suggestions): {name} (p95 of {len(times)})", pct(times, 0.95),
                     LIMIT_NEXT_MS, "ms"))

    decide_times, after = [], None
    kinds = [DecisionIn(action="accept"), DecisionIn(action="reject", reason="not_supported"),
             DecisionIn(action="edit", code_id="adopters.staff")]
    for i in range(args.steps):
        view = session.queue(QueueFilter(), after)
        after = view.item.id
        t0 = time.perf_counter()
        session.decide(after, kinds[i % 3])
        decide_times.append(ms(time.perf_counter() - t0))
    rows.append((f"decision stored (p95 of {len(decide_times)})", pct(decide_times, 0.95), LIMIT_DECISION_MS, "ms"))
    rows.append(("decision stored (median)", statistics.median(decide_times), LIMIT_DECISION_MS, "ms"))
    seen_times = []
    for _ in range(min(args.steps, 100)):  # with the stale-view check the page sends (`seen`)
        view = session.queue(QueueFilter(), after)
        after = view.item.id
        t0 = time.perf_counter()
        session.decide(after, DecisionIn(action="accept", seen=view.item.version))
        seen_times.append(ms(time.perf_counter() - t0))
    rows.append((f"decision stored with the stale-view check (p95 of {len(seen_times)})", pct(seen_times, 0.95),
                 LIMIT_DECISION_MS, "ms"))

    t0 = time.perf_counter()
    session.progress()
    rows.append(("progress + per-code precision", ms(time.perf_counter() - t0), None, "ms"))
    bulk_filter = QueueFilter(code=some_code)
    count = session.bulk_preview(bulk_filter).count
    t0 = time.perf_counter()
    session.bulk(BulkIn(filter=bulk_filter, action="accept", expected=count))
    rows.append((f"bulk accept of {count}", ms(time.perf_counter() - t0), None, "ms"))

    sock = bind_socket()
    token = new_token()
    server, thread = serve_in_thread(create_app(session, token, sock.getsockname()[1]), sock)
    recent_times: list[float] = []
    while not server.started:
        time.sleep(0.01)
    http_next, http_decide = [], []
    with httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", headers={"x-precode-token": token}) as c:
        after = None
        for _ in range(min(args.steps, 200)):
            t0 = time.perf_counter()
            view = c.get("/api/queue", params={"after": after} if after else {}).json()
            http_next.append(ms(time.perf_counter() - t0))
            after = view["item"]["id"]
            t0 = time.perf_counter()
            c.post(f"/api/items/{after}/decisions", json={"action": "accept"}).raise_for_status()
            http_decide.append(ms(time.perf_counter() - t0))
        for _ in range(20):
            t0 = time.perf_counter()
            c.get("/api/recent").raise_for_status()
            recent_times.append(ms(time.perf_counter() - t0))
    server.should_exit = True
    thread.join(10)
    rows.append((f"HTTP round trip: next item (p95 of {len(http_next)})", pct(http_next, 0.95), LIMIT_NEXT_MS, "ms"))
    rows.append((f"HTTP round trip: decision (p95 of {len(http_decide)})", pct(http_decide, 0.95), LIMIT_DECISION_MS,
                 "ms"))

    rows.append((f"HTTP: recent decisions list, 30 items (p95 of {len(recent_times)})", pct(recent_times, 0.95), None,
                 "ms"))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"\n{n} suggestions, {n_decisions} prior decisions; peak RSS {rss:.0f} MB\n")
    print("| what | value | limit | ratio to limit |")
    print("|---|---|---|---|")
    for what, value, limit, unit in rows:
        ratio = f"{value / limit:.2f}" if limit else "–"
        print(f"| {what} | {value:.1f} {unit} | {f'{limit:.0f} ms' if limit else '–'} | {ratio} |")
    project.close()
    if args.keep is None:
        shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
