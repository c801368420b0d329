"""Team review (issue 13 #5): claiming transcripts, the stale-view check, adjudication, per-reviewer export."""

from __future__ import annotations

import pytest

from pipeline.decisions import current_decisions
from pipeline.review.errors import Conflict
from pipeline.review.models import AdjudicateIn, BulkIn, DecisionIn, MissedIn, QueueFilter, Status
from pipeline.review.service import ReviewSession

from .conftest import RUN_ID


def items_of(session: ReviewSession, f: QueueFilter) -> list[str]:
    seen, after = [], None
    while True:
        view = session.queue(f, after)
        if view.item is None or view.item.id in seen:
            return seen
        seen.append(view.item.id)
        after = view.item.id


def test_a_claimed_transcript_is_decided_by_its_claimant_only(project):
    alice = ReviewSession.open(project, RUN_ID, "alice")
    bob = ReviewSession.open(project, RUN_ID, "bob")
    claim = alice.claim()  # the first transcript with items pending for alice
    first = alice.queue(QueueFilter()).item
    assert claim.mine and claim.reviewer == "alice" and claim.transcript.id == first.transcript.id
    assert [(c.reviewer, c.mine) for c in bob.claims()] == [("alice", False)]
    # bob's queue skips alice's transcript, and bob cannot decide there (nor bulk-decide, nor add codes)
    bobs = items_of(bob, QueueFilter())
    assert bobs and all(bob.item(i).transcript.id != claim.transcript.id for i in bobs)
    with pytest.raises(Conflict, match="claimed by alice"):
        bob.decide(first.id, DecisionIn(action="reject"))
    with pytest.raises(Conflict, match="claimed by alice"):
        bob.add_missed(MissedIn(segment_id=first.segment.id, code_id="condition.nature"))
    with pytest.raises(Conflict, match="already claimed by alice"):
        bob.claim(claim.transcript.id)
    # bob claims the next free transcript: not alice's
    assert len(alice.info().transcripts) > 1
    assert bob.claim().transcript.id != claim.transcript.id
    preview = bob.bulk_preview(QueueFilter())
    assert bob.bulk(BulkIn(filter=QueueFilter(), action="accept", expected=preview.count)) == len(bobs)
    assert first.id not in current_decisions(project.db, RUN_ID, "bob")
    alice.decide(first.id, DecisionIn(action="accept"))
    with pytest.raises(Conflict, match="claimed by alice, not by bob"):
        bob.release(claim.transcript.id)
    alice.release(claim.transcript.id)
    bob.decide(first.id, DecisionIn(action="reject"))  # released: anyone may decide again
    # a claim left behind (a colleague away) can be released for them, on purpose
    alice.claim(claim.transcript.id)
    bob.release(claim.transcript.id, force=True)
    assert [c.reviewer for c in bob.claims()] == ["bob"]
    assert current_decisions(project.db, RUN_ID, "bob")[first.id].action.value == "reject"


def test_two_claiming_reviewers_never_decide_the_same_item(project):
    """Issue 13 #5: shared work had no claiming (14 of 16 items decided twice)."""
    sessions = [ReviewSession.open(project, RUN_ID, name) for name in ("alice", "bob")]
    decided: dict[str, list[str]] = {"alice": [], "bob": []}
    for _ in range(8):
        for s in sessions:
            view = s.queue(QueueFilter())
            if view.item is None or view.item.transcript.id not in {c.transcript.id for c in s.claims() if c.mine}:
                s.claim()
                view = s.queue(QueueFilter())
            s.decide(view.item.id, DecisionIn(action="accept", seen=view.item.version))
            decided[s.reviewer].append(view.item.id)
    assert len(decided["alice"]) == len(decided["bob"]) == 8
    assert not set(decided["alice"]) & set(decided["bob"])


def test_a_decision_on_a_stale_view_is_refused(project):
    """Issue 13 #5: a stale tab silently overrode another tab's (or reviewer's) decision."""
    tab1 = ReviewSession.open(project, RUN_ID, "alice")
    tab2 = ReviewSession.open(project, RUN_ID, "alice")
    bob = ReviewSession.open(project, RUN_ID, "bob")
    shown = tab1.queue(QueueFilter()).item
    assert tab2.item(shown.id).version == shown.version == 0
    tab2.decide(shown.id, DecisionIn(action="reject", seen=shown.version))
    with pytest.raises(Conflict, match="changed since it was shown: you .* recorded reject"):
        tab1.decide(shown.id, DecisionIn(action="accept", seen=shown.version))
    assert current_decisions(project.db, RUN_ID, "alice")[shown.id].action.value == "reject"
    fresh = tab1.item(shown.id)
    assert fresh.version > shown.version
    bob.decide(shown.id, DecisionIn(action="accept"))
    with pytest.raises(Conflict, match="bob recorded accept"):
        tab1.decide(shown.id, DecisionIn(action="accept", seen=fresh.version))
    tab1.decide(shown.id, DecisionIn(action="accept", seen=tab1.item(shown.id).version))  # after a reload: fine
    tab1.decide(shown.id, DecisionIn(action="reject"))  # no version sent: no check (older clients)
    assert current_decisions(project.db, RUN_ID, "alice")[shown.id].action.value == "reject"


def test_adjudication_lists_disagreements_side_by_side_and_records_the_third_decision(project):
    alice = ReviewSession.open(project, RUN_ID, "alice")
    bob = ReviewSession.open(project, RUN_ID, "bob")
    carol = ReviewSession.open(project, RUN_ID, "carol")
    ids = items_of(alice, QueueFilter(grounding="exact"))[:4]
    for i in ids:
        alice.decide(i, DecisionIn(action="accept"))
    bob.decide(ids[0], DecisionIn(action="accept"))                       # agree
    bob.decide(ids[1], DecisionIn(action="reject", reason="not_supported"))  # disagree
    bob.decide(ids[2], DecisionIn(action="edit", code_id="adopters.staff"))  # disagree: another code
    item3 = bob.item(ids[3])
    bob.decide(ids[3], DecisionIn(action="edit", quote_start=item3.quote_start + 3, quote_end=item3.quote_end))
    listed = carol.disagreements("alice", "bob")
    assert [d.item.id for d in listed] == [i for i in items_of(carol, QueueFilter(status=Status.all)) if i in ids[1:]]
    by_id = {d.item.id: d for d in listed}
    assert (by_id[ids[1]].first.outcome, by_id[ids[1]].second.outcome) == ("accepted", "rejected")
    assert by_id[ids[2]].second.code_id == "adopters.staff" and by_id[ids[3]].second.action == "edit"
    assert all(d.adjudicated_by is None for d in listed)
    with pytest.raises(Conflict, match="third reviewer"):
        alice.adjudicate(ids[1], AdjudicateIn(first="alice", second="bob", decision=DecisionIn(action="accept")))
    settled = carol.adjudicate(ids[1], AdjudicateIn(first="alice", second="bob",
                                                    decision=DecisionIn(action="reject", reason="exclusion_rule")))
    assert settled.adjudicated_by == "carol" and settled.adjudication.outcome == "rejected"
    row = project.db.conn.execute("SELECT adjudicator, first_reviewer, second_reviewer, decision_id FROM adjudications"
                                  " WHERE suggestion_id = ?", (ids[1],)).fetchone()
    assert tuple(row) == ("carol", "alice", "bob", settled.adjudication.id)
    # the settled decision is the latest: what the export of everyone's decisions takes
    assert current_decisions(project.db, RUN_ID)[ids[1]].reviewer == "carol"
    again = {d.item.id: d for d in carol.disagreements("alice", "bob")}
    assert again[ids[1]].adjudicated_by == "carol" and again[ids[2]].adjudicated_by is None
    with pytest.raises(Conflict, match="nothing to adjudicate"):
        carol.adjudicate(ids[0], AdjudicateIn(first="alice", second="dave", decision=DecisionIn(action="accept")))


def test_team_routes_over_http(project):
    """The routes the page uses: a stale decision is a 409 naming who changed it; claims; passages; adjudication."""
    from .conftest import start_server, stop_server

    srv, handle = start_server(project, "alice")
    bob = ReviewSession.open(project, RUN_ID, "bob")
    try:
        c = srv.client()
        shown = c.get("/api/queue").json()["item"]
        assert shown["version"] == 0
        bob.decide(shown["id"], DecisionIn(action="reject"))
        r = c.post(f"/api/items/{shown['id']}/decisions", json={"action": "accept", "seen": shown["version"]})
        assert r.status_code == 409 and "bob recorded reject" in r.json()["error"]
        fresh = c.get(f"/api/items/{shown['id']}").json()
        r = c.post(f"/api/items/{shown['id']}/decisions", json={"action": "accept", "seen": fresh["version"]})
        assert r.status_code == 200 and r.json()["version"] > fresh["version"]
        claimed = c.post("/api/claims", json={}).json()
        assert claimed["reviewer"] == "alice" and claimed["mine"]
        assert c.get("/api/claims").json()[0]["transcript"]["id"] == claimed["transcript"]["id"]
        assert c.post("/api/claims", json={"transcript_id": "nope"}).status_code == 404
        r = c.post(f"/api/claims/{claimed['transcript']['id']}/release")
        assert r.status_code == 200 and c.get("/api/claims").json() == []
        view = c.get("/api/passages", params={"only": "all"}).json()
        assert view["index"] == 1 and view["passage"]["items"]
        segment = view["passage"]["segment"]["id"]
        assert c.get(f"/api/passages/{segment}").json()["segment"]["id"] == segment
        listed = c.get("/api/disagreements", params={"first": "alice", "second": "bob"}).json()
        assert [d["item"]["id"] for d in listed] == [shown["id"]]
        r = c.post(f"/api/items/{shown['id']}/adjudicate",
                   json={"first": "alice", "second": "bob", "decision": {"action": "accept"}})
        assert r.status_code == 409 and "third reviewer" in r.json()["error"]
    finally:
        stop_server(handle)
