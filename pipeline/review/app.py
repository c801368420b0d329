"""The review web app: a JSON API over ReviewSession plus the static page, all behind a token.

Every request must carry the session's token, in the `X-Precode-Token` header or in the cookie
that opening the printed URL (`/?token=…`) sets: no token is 401, a wrong one 403. The cookie is
HttpOnly and SameSite=Strict and its name carries the port, so two review servers (two reviewers)
in one browser do not overwrite each other's. Calls into the session are serialised by a lock:
one SQLite connection, one request at a time, each a few milliseconds.

Cross-site request forgery: SameSite does not separate ports, so a page on another 127.0.0.1 port
in the reviewer's browser gets the cookie sent along. Therefore every request must name this
server in its Host header (no DNS rebinding), any Origin it carries must be this server, and every
state-changing request (any method but GET/HEAD/OPTIONS) that relies on the cookie must also carry
`X-Precode-CSRF`: an HMAC of the cookie that only a page of this origin can read (`GET /api/csrf`).
A custom header cannot be sent by a form or a no-cors fetch, and we answer no CORS preflight.
A client sending the token itself in `X-Precode-Token` (also a custom header) needs no second one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from pipeline.errors import PrecodeError
from pipeline.review.errors import Conflict, NotFound
from pipeline.review.marks import Flag, clean_place, flags, save_place, set_flag
from pipeline.review.marks import saved_place as saved_place  # the CLI and tests import it from here
from pipeline.review.models import (
    AdjudicateIn,
    AdoptIn,
    AdoptResult,
    BulkIn,
    BulkPreview,
    ClaimIn,
    ClaimView,
    DecisionIn,
    Disagreement,
    DismissIn,
    Item,
    LearnStatus,
    MissedIn,
    PassageFilter,
    PassageQueueView,
    PassageView,
    Progress,
    ProposalView,
    QueueFilter,
    QueueView,
    SegmentCode,
    SessionInfo,
    UndoResult,
)
from pipeline.review.service import ReviewSession
from pipeline.store import decisions as decision_store

T = TypeVar("T")
TOKEN_HEADER = "x-precode-token"
CSRF_HEADER = "x-precode-csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def static_dir() -> Path:
    return Path(str(resources.files("pipeline.review").joinpath("static")))


def new_token() -> str:
    return secrets.token_urlsafe(24)


def cookie_name(port: int) -> str:
    return f"precode_review_{port}"


def csrf_token(cookie_value: str) -> str:
    """The anti-CSRF token bound to a session cookie."""
    return hmac.new(cookie_value.encode(), b"precode-review-csrf", hashlib.sha256).hexdigest()


def allowed_hosts(host: str, port: int) -> Callable[[str], bool]:
    """Whether a Host header (host:port) names this server: its own address, or any loopback name
    when bound to loopback; any IP literal (never a DNS name) when bound to all interfaces."""
    def parse(value: str) -> tuple[str, int | None]:
        try:
            parts = urlsplit(f"//{value}")
            return (parts.hostname or ""), parts.port
        except ValueError:
            return "", None

    bound = host.strip("[]").lower()
    loopback = {"localhost", "127.0.0.1", "::1"}
    everywhere = bound in ("0.0.0.0", "::")

    def ok(value: str) -> bool:
        name, p = parse(value)
        if p != port:
            return False
        if name == bound or (name in loopback and (bound in loopback or everywhere)):
            return True
        if everywhere:
            try:
                ipaddress.ip_address(name)
            except ValueError:
                return False
            return True
        return False
    return ok


class PlaceIn(BaseModel):
    place: str = Field(max_length=4000, description="the page's URL fragment: filters, view and item")


class FlagIn(BaseModel):
    comment: str = Field("", max_length=2000, description="why the item is flagged (may be empty)")


class FlaggedItem(BaseModel):
    flag: Flag
    item: Item


def create_app(session: ReviewSession, token: str, port: int, host: str = "127.0.0.1") -> FastAPI:
    """The app for one review session served on host:port (the Host and Origin checks)."""
    app = FastAPI(title="precode review", docs_url=None, redoc_url=None, openapi_url=None)
    lock = threading.Lock()
    cookie = cookie_name(port)
    host_ok = allowed_hosts(host, port)

    def locked(call: Callable[[], T]) -> T:
        with lock:
            return call()

    @app.middleware("http")
    async def require_token(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        forged = _forged(request, host_ok)
        if forged:
            return _secure(JSONResponse({"error": forged}, status_code=403))
        offered = request.query_params.get("token") if request.url.path == "/" else None
        if offered is not None:  # opening the printed URL: trade the token for a cookie, drop it from the URL
            if not secrets.compare_digest(offered.encode(), token.encode()):
                return _denied(request, 403)
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(cookie, token, httponly=True, samesite="strict")
            return _secure(response)
        supplied = request.headers.get(TOKEN_HEADER) or request.cookies.get(cookie)
        if not supplied:
            return _denied(request, 401)
        if not secrets.compare_digest(supplied.encode(), token.encode()):
            return _denied(request, 403)
        if request.method not in SAFE_METHODS and not request.headers.get(TOKEN_HEADER):
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), csrf_token(supplied).encode()):
                return _secure(JSONResponse(
                    {"error": "refused: the request did not come from this review page (no anti-CSRF token); "
                              "reload the page"}, status_code=403))
        return _secure(await call_next(request))

    @app.exception_handler(PrecodeError)
    async def user_error(request: Request, exc: PrecodeError) -> Response:
        status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 400
        return _secure(JSONResponse({"error": str(exc)}, status_code=status))

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(static_dir() / "index.html", media_type="text/html")

    @app.get("/api/csrf")
    def csrf(request: Request) -> dict[str, str]:
        """The anti-CSRF token for this browser's cookie (readable by a page of this origin only)."""
        return {"header": CSRF_HEADER, "token": csrf_token(request.cookies.get(cookie) or token)}

    @app.get("/api/session")
    def session_info() -> SessionInfo:
        return locked(session.info)

    @app.get("/api/queue")
    def queue(f: Annotated[QueueFilter, Query()], after: str | None = None,
              backwards: bool = False) -> QueueView:
        return locked(lambda: session.queue(f, after, backwards))

    @app.get("/api/queue/locate/{suggestion_id}")
    def locate(suggestion_id: str, f: Annotated[QueueFilter, Query()]) -> QueueView:
        return locked(lambda: session.locate(f, suggestion_id))

    @app.get("/api/items/{suggestion_id}")
    def item(suggestion_id: str) -> Item:
        return locked(lambda: session.item(suggestion_id))

    @app.post("/api/items/{suggestion_id}/decisions")
    def decide(suggestion_id: str, decision: DecisionIn) -> Item:
        return locked(lambda: session.decide(suggestion_id, decision))

    @app.post("/api/items/{suggestion_id}/undo")
    def undo_item(suggestion_id: str) -> UndoResult:
        return locked(lambda: session.undo(suggestion_id))

    @app.post("/api/undo")
    def undo_last() -> UndoResult:
        return locked(session.undo)

    @app.post("/api/missed")
    def missed(request: MissedIn) -> SegmentCode:
        return locked(lambda: session.add_missed(request))

    @app.get("/api/bulk")
    def bulk_preview(f: Annotated[QueueFilter, Query()]) -> BulkPreview:
        return locked(lambda: session.bulk_preview(f))

    @app.post("/api/bulk")
    def bulk(request: BulkIn) -> dict[str, int]:
        return {"recorded": locked(lambda: session.bulk(request))}

    @app.get("/api/progress")
    def progress(reviewer: str | None = None) -> Progress:
        return locked(lambda: session.progress(reviewer or None))

    @app.get("/api/learn")
    def learn_status() -> LearnStatus:
        """The session's learned model (review --learn): what it was last trained on, what it proposed."""
        return locked(session.learn_status)

    @app.post("/api/learn/retrain")
    def retrain() -> LearnStatus:
        """Retrain on the decisions so far, re-rank the 'learned' order, propose codes (takes seconds)."""
        return locked(session.retrain)

    @app.get("/api/proposals")
    def proposals(state: str | None = None) -> list[ProposalView]:
        return locked(lambda: session.proposals(state))

    @app.post("/api/proposals/{proposal_id}/adopt")
    def adopt(proposal_id: str, form: AdoptIn) -> AdoptResult:
        return locked(lambda: session.adopt(proposal_id, form))

    @app.post("/api/proposals/{proposal_id}/dismiss")
    def dismiss(proposal_id: str, form: DismissIn | None = None) -> ProposalView:
        return locked(lambda: session.dismiss(proposal_id, form.note if form else None))

    @app.put("/api/place")
    def place(request: PlaceIn) -> dict[str, str]:
        """Remember where the page is (filters, view, item), so the URL printed after a restart returns there."""
        locked(lambda: save_place(session, request.place))
        return {"place": clean_place(request.place)}

    @app.get("/api/flags")
    def flagged() -> list[FlaggedItem]:
        """Every reviewer's flags on this run, the latest first, each with its item."""
        return locked(lambda: [FlaggedItem(flag=f, item=session.item(f.suggestion_id)) for f in flags(session)])

    @app.put("/api/items/{suggestion_id}/flag")
    def flag(suggestion_id: str, form: FlagIn) -> list[Flag]:
        locked(lambda: set_flag(session, suggestion_id, form.comment))
        return [f for f in flags(session) if f.suggestion_id == suggestion_id]

    @app.delete("/api/items/{suggestion_id}/flag")
    def unflag(suggestion_id: str) -> list[Flag]:
        locked(lambda: set_flag(session, suggestion_id, None))
        return [f for f in flags(session) if f.suggestion_id == suggestion_id]

    @app.get("/api/recent")
    def recent(limit: Annotated[int, Query(ge=1, le=200)] = 30) -> list[Item]:
        """My standing decisions on this run, the latest first (each can be undone on its own)."""
        def latest() -> list[Item]:  # review_state holds each reviewer's standing decision (kept by triggers)
            ids = decision_store.recent_decided_suggestions(session.conn, session.reviewer, session.run.id, limit)
            return [session.item(suggestion_id) for suggestion_id in ids]
        return locked(latest)

    # -- passage-first and team review (engineer B; see docs/review.md "Team review") --
    @app.get("/api/passages")
    def passages(f: Annotated[PassageFilter, Query()], after: str | None = None,
                 backwards: bool = False) -> PassageQueueView:
        return locked(lambda: session.next_passage(f, after, backwards))

    @app.get("/api/passages/{segment_id}")
    def passage(segment_id: str) -> PassageView:
        return locked(lambda: session.passage(segment_id))

    @app.get("/api/claims")
    def claims() -> list[ClaimView]:
        return locked(session.claims)

    @app.post("/api/claims")
    def claim(request: ClaimIn) -> ClaimView:
        return locked(lambda: session.claim(request.transcript_id))

    @app.post("/api/claims/{transcript_id}/release")
    def release(transcript_id: str, force: bool = False) -> dict[str, str]:
        locked(lambda: session.release(transcript_id, force))
        return {"released": transcript_id}

    @app.get("/api/disagreements")
    def disagreements(first: str, second: str) -> list[Disagreement]:
        return locked(lambda: session.disagreements(first, second))

    @app.post("/api/items/{suggestion_id}/adjudicate")
    def adjudicate(suggestion_id: str, request: AdjudicateIn) -> Disagreement:
        return locked(lambda: session.adjudicate(suggestion_id, request))

    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    return app


def _secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _forged(request: Request, host_ok: Callable[[str], bool]) -> str | None:
    """Why a request cannot come from this server's own page (None: it can)."""
    if not host_ok(request.headers.get("host", "")):
        return "refused: the Host header does not name this review server"
    if request.method in SAFE_METHODS:  # reading: another origin cannot see the answer
        return None
    origin = request.headers.get("origin")
    if origin is not None and origin != f"http://{request.headers['host']}":
        return "refused: the request came from another site"
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return "refused: the request came from another site"
    return None


def _denied(request: Request, status: int) -> Response:
    message = ("this review server needs its access token: open the URL that 'precode review' printed"
               if status == 401 else "wrong access token: open the URL that 'precode review' printed")
    if request.url.path.startswith("/api/"):
        return _secure(JSONResponse({"error": message}, status_code=status))
    return _secure(PlainTextResponse(message + "\n", status_code=status))
