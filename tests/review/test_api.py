"""The HTTP API over real sockets: the token check, every action, error statuses, concurrency."""

from __future__ import annotations

import threading

import httpx

from pipeline.decisions import current_decisions
from pipeline.project import open_project

from .conftest import RUN_ID, start_server, stop_server


def test_every_request_needs_the_token(server):
    anonymous = server.client(token=None)
    for path in ("/api/session", "/api/queue", "/", "/static/review.js", "/static/review.css"):
        assert anonymous.get(path).status_code == 401, path
    assert anonymous.post("/api/undo").status_code == 401
    assert "access token" in anonymous.get("/api/session").json()["error"]
    wrong = server.client(token="not-the-token")
    assert wrong.get("/api/session").status_code == 403
    assert wrong.post("/api/items/x/decisions", json={"action": "accept"}).status_code == 403
    assert anonymous.get("/", params={"token": "guess"}).status_code == 403
    guessed = httpx.Client(base_url=server.url, cookies={f"precode_review_{server.url.rsplit(':', 1)[1]}": "guess"})
    assert guessed.get("/api/session").status_code == 403
    assert server.client().get("/api/session").status_code == 200
    assert server.session.project.db.conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 0


def test_opening_the_printed_url_sets_a_strict_cookie(server):
    browser = server.client(token=None)
    first = browser.get("/", params={"token": server.token}, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/"
    cookie = first.headers["set-cookie"]
    port = server.url.rsplit(":", 1)[1]
    assert cookie.startswith(f"precode_review_{port}={server.token}")
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    page = browser.get("/")  # the client keeps the cookie
    assert page.status_code == 200 and "precode review" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert browser.get("/static/review.js").status_code == 200
    assert browser.get("/api/session").json()["reviewer"] == "alice"


def test_every_action_over_http(server):
    c = server.client()
    info = c.get("/api/session").json()
    assert info["run"]["id"] == RUN_ID and info["score_kind"] == "confidence" and info["proposals_open"] == 2
    assert len(info["codes"]) > 40 and "not_supported" in info["reasons"]
    view = c.get("/api/queue", params={"grounding": "exact"}).json()
    item = view["item"]
    assert view["index"] == 1 and item["quote_start"] is not None
    nxt = c.get("/api/queue", params={"grounding": "exact", "after": item["id"]}).json()["item"]
    third = c.get("/api/queue", params={"grounding": "exact", "after": nxt["id"]}).json()["item"]
    # accept, reject with a reason, change the code, set a span
    r = c.post(f"/api/items/{item['id']}/decisions", json={"action": "accept"})
    assert r.status_code == 200 and r.json()["mine"]["outcome"] == "accepted"
    r = c.post(f"/api/items/{nxt['id']}/decisions", json={"action": "reject", "reason": "too_vague", "note": "short"})
    assert r.json()["mine"]["reason"] == "too_vague"
    r = c.post(f"/api/items/{third['id']}/decisions", json={"action": "edit", "code_id": "adopters.patients"})
    assert r.json()["effective_code"]["id"] == "adopters.patients"
    seg = third["segment"]
    r = c.post(f"/api/items/{third['id']}/decisions",
               json={"action": "edit", "quote_start": seg["start"], "quote_end": seg["start"] + 12})
    assert r.json()["effective_start"] == seg["start"] and r.json()["effective_code"]["id"] == "adopters.patients"
    # the pending queue moved on; locate still finds a decided item
    assert c.get("/api/queue").json()["item"]["id"] not in {item["id"], nxt["id"], third["id"]}
    located = c.get(f"/api/queue/locate/{item['id']}").json()
    assert located["index"] is None and located["item"]["mine"]["action"] == "accept"
    assert c.get(f"/api/items/{item['id']}").json()["id"] == item["id"]
    # undo here, undo last
    r = c.post(f"/api/items/{third['id']}/undo").json()
    assert r["undone"]["action"] == "edit" and r["item"]["effective_code"]["id"] == "adopters.patients"
    r = c.post("/api/undo").json()
    assert r["suggestion_id"] == third["id"] and r["item"]["mine"] is None
    # a missed code, removed again by undo
    added = c.post("/api/missed", json={"segment_id": seg["id"], "code_id": "condition"}).json()
    assert added["added_by_reviewer"] and added["outcome"] == "accepted"
    r = c.post(f"/api/items/{added['suggestion_id']}/undo").json()
    assert r["in_queue"] is False and r["item"] is None
    # bulk: preview, refused on a stale count, applied on the right one
    params = {"code": "adopters.relationships"}
    preview = c.get("/api/bulk", params=params).json()
    body = {"filter": params, "action": "accept", "expected": preview["count"] - 1}
    assert c.post("/api/bulk", json=body).status_code == 409
    body["expected"] = preview["count"]
    assert c.post("/api/bulk", json=body).json() == {"recorded": preview["count"]}
    # progress and per-code precision
    progress = c.get("/api/progress").json()
    row = next(p for p in progress["per_code"] if p["code_id"] == "adopters.relationships")
    assert row["reviewed"] >= preview["count"] and progress["reviewed"] == preview["count"] + 2
    assert c.get("/api/progress", params={"reviewer": "*"}).json()["reviewed"] == progress["reviewed"]
    # proposals
    proposals = c.get("/api/proposals", params={"state": "open"}).json()
    assert [p["id"] for p in proposals] == ["prop1", "prop2"]
    assert c.post("/api/proposals/prop2/dismiss", json={"note": "no"}).json()["state"] == "dismissed"
    adopt = {"code_id": "alert_fatigue", "label": "Alert fatigue", "definition": "d", "include": ["i"],
             "exclude": ["e"], "examples": ["x"]}
    r = c.post("/api/proposals/prop1/adopt", json=adopt)
    assert r.status_code == 200 and r.json()["codebook_version"] == "1.1.0"
    assert c.post("/api/proposals/prop1/adopt", json=adopt).status_code == 409
    state = current_decisions(server.session.project.db, RUN_ID, "alice")
    assert state[item["id"]].action.value == "accept" and state[nxt["id"]].reason == "too_vague"
    assert third["id"] not in state


def test_errors_have_clear_statuses(server):
    c = server.client()
    item = c.get("/api/queue").json()["item"]
    r = c.post(f"/api/items/{item['id']}/decisions", json={"action": "reject", "reason": "because"})
    assert r.status_code == 400 and "reason" in r.json()["error"]
    assert c.post("/api/items/ffffffffffffffff/decisions", json={"action": "accept"}).status_code == 404
    assert c.post(f"/api/items/{item['id']}/undo").status_code == 409
    assert c.post(f"/api/items/{item['id']}/decisions", json={"action": "delete"}).status_code == 422
    assert c.get("/api/queue", params={"status": "maybe"}).status_code == 422
    assert c.get("/api/queue", params={"code": "nope"}).status_code == 400
    assert c.post("/api/proposals/nope/dismiss").status_code == 404


def test_two_reviewers_deciding_at_once_lose_nothing(project):
    """Two servers (two SQLite connections) and eight client threads deciding at the same time."""
    alice, handle_a = start_server(project, "alice")
    bob, handle_b = start_server(open_project(project.root), "bob")
    try:
        ids = []
        with alice.client() as c:
            view = c.get("/api/queue", params={"status": "all"}).json()
            while len(ids) < 60:
                ids.append(view["item"]["id"])
                view = c.get("/api/queue", params={"status": "all", "after": ids[-1]}).json()
        errors: list[str] = []

        def work(server, chunk, action):
            with server.client() as c:
                for sid in chunk:
                    r = c.post(f"/api/items/{sid}/decisions", json={"action": action})
                    if r.status_code != 200:
                        errors.append(r.text)

        threads = [threading.Thread(target=work, args=(srv, ids[i::4], action))
                   for srv, action in ((alice, "accept"), (bob, "reject")) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        db = project.db
        counts = dict(db.conn.execute("SELECT reviewer, COUNT(*) FROM decisions GROUP BY reviewer").fetchall())
        assert counts == {"alice": 60, "bob": 60}
        for reviewer, action in (("alice", "accept"), ("bob", "reject")):
            state = current_decisions(db, RUN_ID, reviewer)
            assert {k: v.action.value for k, v in state.items()} == dict.fromkeys(ids, action)
        with httpx.Client(base_url=alice.url, headers={"x-precode-token": alice.token}) as c:
            assert c.get("/api/progress").json()["reviewed"] == 60
            assert c.get("/api/progress", params={"reviewer": "bob"}).json()["overall"]["rejected"] == 60
    finally:
        stop_server(handle_a)
        stop_server(handle_b)


def test_recent_lists_my_standing_decisions_latest_first(server):
    """/api/recent (read through the store's review_state query): mine only, on this run, latest first, limited."""
    c = server.client()
    first = c.get("/api/queue").json()["item"]
    second = c.get("/api/queue", params={"after": first["id"]}).json()["item"]
    assert c.post(f"/api/items/{first['id']}/decisions", json={"action": "accept"}).status_code == 200
    assert c.post(f"/api/items/{second['id']}/decisions", json={"action": "reject"}).status_code == 200
    assert [i["id"] for i in c.get("/api/recent").json()] == [second["id"], first["id"]]
    assert [i["id"] for i in c.get("/api/recent", params={"limit": 1}).json()] == [second["id"]]
    assert c.post(f"/api/items/{second['id']}/undo").status_code == 200
    assert [i["id"] for i in c.get("/api/recent").json()] == [first["id"]]
