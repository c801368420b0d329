"""The review state tables (migration 0005) agree with pipeline.decisions.current_decisions.

current_decisions replays every decision in Python and is the reference; the review queue reads
the trigger-maintained tables instead, so they must give the same answer for any sequence of
accepts, rejects, edits and undos by several reviewers, and for decisions recorded before the
migration existed (its backfill).
"""

from __future__ import annotations

import hashlib
import itertools
import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.decisions import Action, Decision, current_decisions, record_decision
from pipeline.models import Grounding, Suggestion
from pipeline.store.database import Database, _migrations, _split_sql

from .conftest import RUN_ID

REVIEWERS = ("alice", "bob", "chen")
AT = "2026-01-01T00:00:00"
_counter = itertools.count()

step = st.tuples(
    st.integers(0, 2),                                     # which suggestion
    st.sampled_from(REVIEWERS),
    st.sampled_from(["accept", "reject", "edit-same", "edit-other", "undo", "undo"]),
)


def _state(conn: sqlite3.Connection, ids: list[str]) -> tuple[dict, dict]:
    marks = ",".join("?" * len(ids))
    per_reviewer = {(r["reviewer"], r["suggestion_id"]): (r["decision_id"], r["outcome"]) for r in conn.execute(
        f"SELECT * FROM review_state WHERE suggestion_id IN ({marks})", ids)}
    current = {r["suggestion_id"]: (r["decision_id"], r["outcome"]) for r in conn.execute(
        f"SELECT * FROM review_current WHERE suggestion_id IN ({marks})", ids)}
    return per_reviewer, current


def _outcome(decision: Decision, suggested_code: str) -> str:
    if decision.action is Action.reject:
        return "rejected"
    if decision.action is Action.edit and decision.code_id and decision.code_id != suggested_code:
        return "changed"
    return "accepted"


def _expected(db: Database, ids: list[str], codes: dict[str, str]) -> tuple[dict, dict]:
    per_reviewer = {}
    for reviewer in REVIEWERS:
        for sid, d in current_decisions(db, RUN_ID, reviewer).items():
            if sid in ids:
                per_reviewer[(reviewer, sid)] = (d.id, _outcome(d, codes[sid]))
    current = {sid: (d.id, _outcome(d, codes[sid])) for sid, d in current_decisions(db, RUN_ID).items() if sid in ids}
    return per_reviewer, current


def _fresh_suggestions(db: Database, n: int) -> list[Suggestion]:
    """New suggestions on existing segments, so each example starts with no decisions."""
    segs = db.conn.execute("SELECT id, transcript_id FROM segments WHERE role = 'participant' LIMIT ?", (n,)).fetchall()
    tag = next(_counter)
    made = [Suggestion(id=hashlib.sha256(f"state{tag}:{i}".encode()).hexdigest()[:16], run_id=RUN_ID,
                       segment_id=seg["id"], transcript_id=seg["transcript_id"], code_id=f"condition.x{tag}",
                       quote="q", quote_start=None, quote_end=None, grounding=Grounding.ungrounded, score=0.5)
            for i, seg in enumerate(segs)]
    with db.transaction() as conn:
        db.insert_suggestions(conn, made)
    return made


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, max_size=25))
def test_triggers_agree_with_replay(project, steps):
    db = project.db
    made = _fresh_suggestions(db, 3)
    ids = [s.id for s in made]
    codes = {s.id: s.code_id for s in made}
    with db.transaction() as conn:
        for which, reviewer, kind in steps:
            s = made[which]
            action = Action.undo if kind == "undo" else Action(kind.split("-")[0])
            code = {"edit-same": s.code_id, "edit-other": "adopters.staff"}.get(kind)
            record_decision(conn, Decision(suggestion_id=s.id, reviewer=reviewer, action=action, code_id=code))
    assert _state(db.conn, ids) == _expected(db, ids, codes)


def test_undo_withdraws_only_the_reviewers_own_latest(project):
    db = project.db
    s = _fresh_suggestions(db, 1)[0]
    with db.transaction() as conn:
        a1 = record_decision(conn, Decision(suggestion_id=s.id, reviewer="alice", action=Action.accept))
        b1 = record_decision(conn, Decision(suggestion_id=s.id, reviewer="bob", action=Action.reject))
        record_decision(conn, Decision(suggestion_id=s.id, reviewer="alice", action=Action.undo))
    per_reviewer, current = _state(db.conn, [s.id])
    assert per_reviewer == {("bob", s.id): (b1.id, "rejected")}
    assert current == {s.id: (b1.id, "rejected")}
    assert db.conn.execute("SELECT decision_id FROM decision_withdrawals").fetchall()[-1][0] == a1.id


def test_migration_backfills_decisions_recorded_before_it(tmp_path):
    """A database at schema 4 with decisions and undos gets the same state when 0005 arrives."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    for number, script in _migrations():
        if number < 5:
            for statement in _split_sql(script):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, ?)", (number, AT))
    conn.execute("INSERT INTO codebooks VALUES ('h', 'cb', 'CB', '1', '{}', ?)", (AT,))
    conn.execute("INSERT INTO runs (id, coder, codebook_hash, started_at, status) VALUES (?, 'llm', 'h', ?, 'running')",
                 (RUN_ID, AT))
    conn.execute("INSERT INTO transcripts VALUES ('t', 'n', 1, 'p', 'sha', 'txt', 'utf-8', 'text', '{}', '[]', ?)",
                 (AT,))
    conn.execute("INSERT INTO segments VALUES ('g', 't', 0, 0, 4, 'P1', 'participant', 'text', NULL, NULL)")
    for i in range(3):
        conn.execute("INSERT INTO suggestions VALUES (?, ?, 'g', 't', ?, 'q', 0, 4, 'exact', 0.5, NULL, ?)",
                     (f"s{i}", RUN_ID, f"code{i}", AT))
    script = [("s0", "alice", "accept", None), ("s0", "alice", "reject", None), ("s0", "alice", "undo", None),
              ("s0", "bob", "edit", "other"), ("s1", "alice", "accept", None), ("s1", "alice", "undo", None),
              ("s1", "alice", "undo", None), ("s1", "bob", "reject", None), ("s2", "chen", "edit", "code2"),
              ("s2", "alice", "accept", None), ("s2", "alice", "accept", None), ("s2", "alice", "undo", None),
              ("s2", "alice", "undo", None), ("s2", "chen", "undo", None), ("s2", "chen", "reject", None)]
    for sid, reviewer, action, code in script:
        conn.execute("INSERT INTO decisions (suggestion_id, reviewer, action, code_id, at) VALUES (?,?,?,?,?)",
                     (sid, reviewer, action, code, AT))
    conn.close()

    db = Database(path)  # applies 0005 and later
    ids = ["s0", "s1", "s2"]
    expected = _expected(db, ids, {f"s{i}": f"code{i}" for i in range(3)})
    assert _state(db.conn, ids) == expected
    assert expected[1] == {"s0": (4, "changed"), "s1": (8, "rejected"), "s2": (15, "rejected")}
    db.close()
