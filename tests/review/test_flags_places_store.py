"""Review flags and saved places are rows of precode.db (migration 0017), not JSON files beside it.

Each test fails on the JSON-file version: the rows are read back through the store on a connection of
their own (and from a backup of precode.db alone), an old file is imported once and renamed, and two
sessions writing at the same moment both keep what they wrote.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.project import open_project
from pipeline.review.app import flags, save_place, saved_place, set_flag
from pipeline.review.service import ReviewSession
from pipeline.store.database import Database
from pipeline.store.review_state import ReviewFlag, ReviewPlace, all_flags, all_places, place
from pipeline.store.review_state import flags as stored_flags
from pipeline.store.review_state import set_flag as store_flag

from .conftest import RUN_ID


def suggestion_ids(session: ReviewSession, n: int) -> list[str]:
    return [s.id for s in session.project.db.suggestions(RUN_ID)[:n]]


def test_flags_and_places_are_rows_of_precode_db_and_in_its_backup(project, tmp_path):
    session = ReviewSession.open(project, RUN_ID, "alice")
    first, second = suggestion_ids(session, 2)
    set_flag(session, first, "  ask Ben whether staff roles apply ")
    set_flag(session, second, "")
    set_flag(session, second, "changed my mind: ‘fit’, not staff")  # editing replaces the comment
    save_place(session, "code=adopters.staff&item=abc&evil=<x>")

    other = Database(project.root / "precode.db")  # a connection of its own, as another process has
    try:
        rows = stored_flags(other.conn, RUN_ID)
        assert [(f.suggestion_id, f.reviewer, f.comment) for f in rows] == [
            (second, "alice", "changed my mind: ‘fit’, not staff"), (first, "alice", "ask Ben whether staff roles apply")]
        assert stored_flags(other.conn, RUN_ID, first)[0].at.tzinfo is not None
        stored = place(other.conn, RUN_ID, "alice")
        assert stored is not None and stored.place == "code=adopters.staff&item=abc"
        assert place(other.conn, RUN_ID, "bob") is None
    finally:
        other.close()
    assert not list(project.root.glob("review-*.json*"))  # nothing beside the database any more

    backup_dir = tmp_path / "backup"
    backup_dir.mkdir()
    source = sqlite3.connect(project.root / "precode.db")
    dest = sqlite3.connect(backup_dir / "precode.db")
    source.backup(dest)  # precode.db alone, as a backup takes it
    source.close()
    dest.close()
    copy = Database(backup_dir / "precode.db")
    try:
        assert {(f.suggestion_id, f.comment) for f in all_flags(copy.conn)} == {
            (first, "ask Ben whether staff roles apply"), (second, "changed my mind: ‘fit’, not staff")}
        assert [(p.reviewer, p.place) for p in all_places(copy.conn)] == [("alice", "code=adopters.staff&item=abc")]
    finally:
        copy.close()

    set_flag(session, first, None)  # unflagging deletes the row
    assert [f.suggestion_id for f in flags(session)] == [second]


def write_old_files(root: Path, sids: list[str]) -> tuple[dict, dict]:
    """review-flags.json and review-places.json as the previous version wrote them."""
    old_flags = {
        RUN_ID: {
            sids[0]: {"alice": {"comment": "ask Ben — staff roles? 🙂", "at": "2026-03-02T10:15:30.123456+00:00"},
                      "bob": {"comment": "", "at": "2026-03-02T11:00:00+00:00"}},
            sids[1]: {"bob": {"comment": "quote too short", "at": "2026-03-01T08:00:00+00:00"}},
        },
        "20250101-000000-gone": {"feedbeef00000000": {"alice": {"comment": "a run not in this database",
                                                                "at": "2025-01-01T00:00:00+00:00"}}},
    }
    old_places = {RUN_ID: {"alice": "status=all&code=adopters.staff&item=" + sids[1], "bob": "view=passage"}}
    (root / "review-flags.json").write_text(json.dumps(old_flags, indent=1, ensure_ascii=False), encoding="utf-8")
    (root / "review-places.json").write_text(json.dumps(old_places, indent=1, ensure_ascii=False), encoding="utf-8")
    return old_flags, old_places


def test_old_json_files_are_migrated_once_with_their_content_intact(project):
    root = project.root
    sids = suggestion_ids(ReviewSession.open(open_project(root), RUN_ID, "alice"), 2)
    old_flags, old_places = write_old_files(root, sids)
    flags_text = (root / "review-flags.json").read_text(encoding="utf-8")

    session = ReviewSession.open(open_project(root), RUN_ID, "alice")
    assert session.warnings == []
    assert not (root / "review-flags.json").exists() and not (root / "review-places.json").exists()
    assert (root / "review-flags.json.migrated").read_text(encoding="utf-8") == flags_text  # kept, renamed
    assert (root / "review-places.json.migrated").exists()

    expected = {(run, sid, reviewer, flag["comment"], datetime.fromisoformat(flag["at"]))
                for run, by_sid in old_flags.items() for sid, by in by_sid.items() for reviewer, flag in by.items()}
    assert {(f.run_id, f.suggestion_id, f.reviewer, f.comment, f.at) for f in all_flags(session.conn)} == expected
    assert {(p.run_id, p.reviewer, p.place) for p in all_places(session.conn)} == {
        (RUN_ID, r, p) for r, p in old_places[RUN_ID].items()}
    # what the page shows: this run's flags, latest first (the other run's flag is kept, not listed)
    assert [(f.suggestion_id, f.reviewer) for f in flags(session)] == [(sids[0], "bob"), (sids[0], "alice"),
                                                                      (sids[1], "bob")]
    assert saved_place(session) == f"#status=all&code=adopters.staff&item={sids[1]}"

    set_flag(session, sids[1], None)  # alice has no flag there: bob's stays
    set_flag(ReviewSession.open(open_project(root), RUN_ID, "bob"), sids[1], None)  # bob unflags
    again = ReviewSession.open(open_project(root), RUN_ID, "alice")  # a second open imports nothing more
    assert again.warnings == [] and len(all_flags(again.conn)) == len(expected) - 1
    assert sids[1] not in {f.suggestion_id for f in flags(again)}

    write_old_files(root, sids)  # an older precode wrote the files again: already-stored rows stay newer
    set_flag(again, sids[0], "alice's newer comment")
    again = ReviewSession.open(open_project(root), RUN_ID, "alice")
    assert {f.comment for f in flags(again) if f.reviewer == "alice"} == {"alice's newer comment"}
    assert (root / "review-flags.json.migrated").read_text(encoding="utf-8") == flags_text  # the first copy kept
    assert (root / "review-flags.json.2.migrated").exists() and not (root / "review-flags.json").exists()


def test_an_unreadable_old_file_is_named_in_a_warning_and_left_in_place(project):
    root = project.root
    (root / "review-flags.json").write_text('{"run": {"sid": {"alice": {"comment": "half', encoding="utf-8")
    (root / "review-places.json").write_text(json.dumps({RUN_ID: {"alice": ["not", "a", "place"]}}), encoding="utf-8")

    session = ReviewSession.open(project, RUN_ID, "alice")
    assert len(session.warnings) == 2
    assert str(root / "review-flags.json") in session.warnings[0] and "left in place" in session.warnings[0]
    assert str(root / "review-places.json") in session.warnings[1] and "not text" in session.warnings[1]
    assert (root / "review-flags.json").exists() and (root / "review-places.json").exists()
    assert not list(root.glob("*.migrated"))
    assert all_flags(session.conn) == [] and all_places(session.conn) == []  # nothing half-imported


@pytest.mark.slow  # a real `precode review` process (~5 s)
def test_precode_review_prints_the_warning_and_comes_back_to_an_imported_place(project):
    root = project.root
    sids = suggestion_ids(ReviewSession.open(project, RUN_ID, "alice"), 2)
    write_old_files(root, sids)
    (root / "review-flags.json").write_text("{broken", encoding="utf-8")
    project.close()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")} | {"PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", "from pipeline.cli import main; main()", "review", "-p", str(root),
                             "--run", RUN_ID, "--reviewer", "alice", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Open "):
                break
    finally:
        proc.terminate()
        proc.wait(10)
    out = "".join(lines)
    assert "warning cannot import" in " ".join(out.split()) and "review-flags.json" in out, out
    assert lines[-1].rstrip().endswith(f"#status=all&code=adopters.staff&item={sids[1]}"), out  # the imported place
    assert (root / "review-flags.json").exists() and (root / "review-places.json.migrated").exists()


def test_concurrent_writes_from_two_sessions_both_survive(project):
    root = project.root
    alice = ReviewSession.open(open_project(root), RUN_ID, "alice")  # two connections, as two servers have
    bob = ReviewSession.open(open_project(root), RUN_ID, "bob")
    sids = suggestion_ids(alice, 60)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(session: ReviewSession, mine: list[str]) -> None:
        try:
            start.wait()
            for n, sid in enumerate(mine):
                set_flag(session, sid, f"{session.reviewer} {n}")
                set_flag(session, sids[0], f"{session.reviewer} on the shared one")
                save_place(session, f"item={sid}")
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(alice, sids[1:30])),
               threading.Thread(target=work, args=(bob, sids[30:]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []

    check = ReviewSession.open(open_project(root), RUN_ID, "carol")
    got = {(f.suggestion_id, f.reviewer) for f in flags(check)}
    assert got == ({(s, "alice") for s in sids[1:30]} | {(s, "bob") for s in sids[30:]}
                   | {(sids[0], "alice"), (sids[0], "bob")})
    assert place(check.conn, RUN_ID, "alice") == ReviewPlace(
        run_id=RUN_ID, reviewer="alice", place=f"item={sids[29]}", saved_at=place(check.conn, RUN_ID, "alice").saved_at)
    assert place(check.conn, RUN_ID, "bob").place == f"item={sids[-1]}"


def test_a_flag_keeps_its_time_in_utc_and_orders_latest_first(project):
    db = project.db
    sid = db.suggestions(RUN_ID)[0].id
    with db.transaction() as conn:
        store_flag(conn, ReviewFlag(run_id=RUN_ID, suggestion_id=sid, reviewer="a", comment="x",
                                    at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC)))
        store_flag(conn, ReviewFlag(run_id=RUN_ID, suggestion_id=sid, reviewer="b", comment="y",
                                    at=datetime.fromisoformat("2026-03-02T13:30:00+02:00")))  # 11:30 UTC: older
    assert [f.reviewer for f in stored_flags(db.conn, RUN_ID)] == ["a", "b"]
    assert stored_flags(db.conn, RUN_ID)[1].at == datetime(2026, 3, 2, 11, 30, tzinfo=UTC)
