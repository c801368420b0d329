"""Cross-site request forgery: every state-changing route refuses a request that did not come from
the review page itself, even when the browser sends the session cookie along (a page on another
127.0.0.1 port is "same-site", so SameSite=Strict does not keep the cookie back).

The routes are enumerated from the FastAPI app, so a new POST/PUT/DELETE route is covered (and a
new path parameter name makes the test say which value to use).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi.routing import APIRoute

from pipeline.decisions import current_decisions
from pipeline.review.app import CSRF_HEADER, SAFE_METHODS, cookie_name, create_app, csrf_token, flags, saved_place
from pipeline.review.models import DecisionIn, QueueFilter

from .conftest import RUN_ID, Server

BODIES = {  # a body each route would accept, so a forged request would succeed if let through
    "/api/place": {"place": "status=all"},
    "/api/items/{suggestion_id}/flag": {"comment": "forged"},
    "/api/items/{suggestion_id}/decisions": {"action": "reject", "reason": "too_vague"},
    "/api/missed": {"segment_id": "", "code_id": "condition"},
    "/api/bulk": {"filter": {"status": "all"}, "action": "reject", "expected": 0},
    "/api/proposals/{proposal_id}/adopt": {"code_id": "x.y", "label": "X", "definition": "d", "include": ["i"],
                                           "exclude": ["e"], "examples": ["x"]},
    "/api/claims": {},
    "/api/items/{suggestion_id}/adjudicate": {"first": "bob", "second": "carol", "decision": {"action": "reject"}},
}


def state_changing_routes(server: Server) -> list[tuple[str, str]]:
    app = create_app(server.session, server.token, 1)  # the same routes as the served app
    routes = sorted((method, route.path) for route in app.routes if isinstance(route, APIRoute)
                    for method in route.methods - SAFE_METHODS)
    assert len(routes) >= 7, routes
    return routes


def decided_state(server: Server) -> tuple[int, dict, dict]:
    db = server.reader.project.db
    rows = db.conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    decisions = {k: (d.action, d.code_id, d.quote_start) for k, d in current_decisions(db, RUN_ID, "alice").items()}
    proposals = {p.id: p.state for p in server.reader.proposals()}
    return rows, decisions, proposals


def lived_in(server: Server) -> dict[str, str]:
    """A few decisions through the legitimate API (so an undo would change something); the path values."""
    client = server.client()
    ids, after = [], None
    for _ in range(4):
        view = server.reader.queue(QueueFilter(), after)
        ids.append(view.item.id)
        after = view.item.id
    for sid in ids:
        assert client.post(f"/api/items/{sid}/decisions", json={"action": "accept"}).status_code == 200
    BODIES["/api/missed"]["segment_id"] = server.reader.item(ids[0]).segment.id
    BODIES["/api/bulk"]["expected"] = server.reader.bulk_preview(QueueFilter(status="all")).count
    return {"suggestion_id": ids[-1], "proposal_id": "prop1", "transcript_id": server.reader.item(ids[0]).transcript.id}


def fill(path: str, values: dict[str, str]) -> str:
    for name in [p[1:-1] for p in path.split("/") if p.startswith("{")]:
        assert name in values, f"test_csrf: say which value to use for the path parameter {{{name}}}"
        path = path.replace("{" + name + "}", values[name])
    return path


def test_cookie_alone_cannot_change_anything(server):
    values = lived_in(server)
    before = decided_state(server)
    port = int(server.url.rsplit(":", 1)[1])
    browser = httpx.Client(base_url=server.url, cookies={cookie_name(port): server.token}, timeout=30)
    routes = state_changing_routes(server)
    for method, path in routes:
        url = fill(path, values)
        body = BODIES.get(path)
        for kwargs in ({}, {"json": body}, {"content": json.dumps(body), "headers": {"content-type": "text/plain"}}):
            r = browser.request(method, url, **kwargs)
            assert r.status_code == 403 and "anti-CSRF" in r.json()["error"], (method, path, r.text)
        # the right token, but sent from another origin (or another site, by Sec-Fetch-Site)
        for headers in ({"origin": "http://127.0.0.1:1"}, {"sec-fetch-site": "same-site"}, {"origin": "null"}):
            r = browser.request(method, url, headers={CSRF_HEADER: csrf_token(server.token), **headers}, json=body)
            assert r.status_code == 403 and "another site" in r.json()["error"], (method, path, headers)
    assert decided_state(server) == before
    assert saved_place(server.reader) == ""  # PUT /api/place did not get through either
    assert flags(server.reader) == []  # nor PUT/DELETE of a flag
    # the page's own way: cookie + the token it reads from /api/csrf + its own origin
    token = browser.get("/api/csrf").json()["token"]
    r = browser.post("/api/undo", headers={CSRF_HEADER: token, "origin": server.url, "sec-fetch-site": "same-origin"})
    assert r.status_code == 200
    assert decided_state(server)[0] == before[0] + 1


def test_host_header_must_name_this_server(server):
    client = server.client()
    port = server.url.rsplit(":", 1)[1]
    for host in (f"evil.example:{port}", "127.0.0.1:1", f"rebind.127.0.0.1.nip.io:{port}", ""):
        r = client.get("/api/session", headers={"host": host})
        assert r.status_code == 403 and "Host" in r.json()["error"], host
    assert client.post("/api/undo", headers={"host": f"evil.example:{port}"}).status_code == 403
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert client.get("/api/session", headers={"host": host}).status_code == 200


def test_a_token_header_client_needs_no_second_token(server):
    """Scripts (and the tests) that send X-Precode-Token: a custom header a forged request cannot carry."""
    sid = server.reader.queue(QueueFilter()).item.id
    r = server.client().post(f"/api/items/{sid}/decisions", json=DecisionIn(action="accept").model_dump())
    assert r.status_code == 200


# -- in a real browser: a page on another 127.0.0.1 port tries every route --------------------------

ATTACK = """<!doctype html><meta charset="utf-8"><title>cat pictures</title><body><script>
async function attack(target, routes) {
  let done = 0;
  const waits = [];
  for (const [method, path, body] of routes) {
    const url = target + path;
    const simple = ["GET", "HEAD", "POST"].includes(method);
    const mode = simple ? "no-cors" : "cors";
    for (const init of [{}, {headers: {"Content-Type": "text/plain"}, body: JSON.stringify(body || {})},
                        {headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "action=accept"}]) {
      try { await fetch(url, {method, mode, credentials: "include", ...init}); } catch (e) {}
      done++;
    }
    if (method !== "POST") continue;
    for (const enctype of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]) {
      const name = "f" + done++;
      const frame = document.createElement("iframe");
      frame.name = name;
      document.body.append(frame);
      waits.push(new Promise((ok) => { frame.onload = ok; setTimeout(ok, 5000); }));
      const form = document.createElement("form");
      form.method = "post"; form.action = url; form.target = name; form.enctype = enctype;
      const input = document.createElement("input");
      const json = JSON.stringify(body || {});
      input.name = json.slice(0, -1) + ',"pad":"'; input.value = '"}';
      form.append(input);
      document.body.append(form);
      form.submit();
    }
  }
  await Promise.all(waits);
  return done;
}
</script></body>"""


@pytest.fixture
def attacker_site() -> Iterator[str]:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = ATTACK.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.slow
def test_a_page_on_another_port_changes_nothing(server, attacker_site):
    from playwright.sync_api import expect, sync_playwright

    from .test_browser import CHROMIUM_ARGS

    values = lived_in(server)
    routes = [(m, fill(p, values), BODIES.get(p)) for m, p in state_changing_routes(server)]
    before = decided_state(server)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context()
        review = context.new_page()
        review.goto(f"{server.url}/?token={server.token}")  # the reviewer is logged in: the cookie is set
        expect(review.locator("#p-text")).not_to_be_empty()
        assert any(c["name"].startswith("precode_review_") for c in context.cookies())
        evil = context.new_page()
        evil.goto(attacker_site)
        tried = evil.evaluate("([t, r]) => attack(t, r)", [server.url, routes])
        assert tried == 6 * sum(m == "POST" for m, _, _ in routes) + 3 * sum(m != "POST" for m, _, _ in routes)
        # the review page itself still works (its own requests carry the token)
        review.bring_to_front()
        shown = review.evaluate("S.current.item.id")
        review.keyboard.press("a")
        expect(review.locator("#toast")).to_contain_text("Accepted")
        browser.close()
    assert "status=all" not in saved_place(server.reader)  # the page's own place, not the forged one
    assert flags(server.reader) == []
    rows, decisions, proposals = decided_state(server)
    assert proposals == before[2]
    assert rows == before[0] + 1  # only the page's own accept
    assert decisions == before[1] | {shown: decisions[shown]} and decisions[shown][0].value == "accept"
