"""`precode review`: start the local review web app (or the terminal review with --tui)."""

from __future__ import annotations

import threading
import webbrowser
from typing import Annotated

import typer

from pipeline.errors import PrecodeError
from pipeline.project import find_project
from pipeline.terminal import ProjectOption, console, err

LOOPBACK = "127.0.0.1"  # the web stack (fastapi, uvicorn) loads only when `precode review` runs


def review(
    run: Annotated[str | None, typer.Option(
        help="Run id or unique prefix (default: the latest completed or incomplete run).")] = None,
    reviewer: Annotated[str | None, typer.Option(
        help="Your name, recorded with every decision (default: your login name).")] = None,
    host: Annotated[str, typer.Option(
        help="Address to listen on. The default lets only this machine connect; any other lets other machines "
             "connect too (each still needs the token).")] = LOOPBACK,
    port: Annotated[int, typer.Option(help="Port to listen on (default: a free one).", min=0, max=65535)] = 0,
    no_browser: Annotated[bool, typer.Option(
        "--no-browser", help="Do not open a browser; just print the URL.")] = False,
    tui: Annotated[bool, typer.Option("--tui", help="Review in this terminal instead (no browser needed).")] = False,
    learn: Annotated[bool, typer.Option(
        "--learn", help="Review learns: retrain the learned model on the decisions as you go, order the queue by "
                        "its uncertainty and propose codes the run's coder did not suggest.")] = False,
    retrain_every: Annotated[int, typer.Option(
        help="With --learn: retrain after this many decisions (0: only when you ask).", min=0)] = 10,
    propose_min: Annotated[float, typer.Option(
        help="With --learn: propose a code the model gives at least this probability (above 1: propose nothing).",
        min=0.5)] = 0.8,
    from_coder: Annotated[list[str] | None, typer.Option(
        help="With --learn: also learn from this coder's annotations (repeatable; a learned run's own by default).")
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Review a run's suggestions: accept, reject or correct each; every decision is saved at once."""
    from pipeline.review.active import LearnSettings
    from pipeline.review.server import (
        bind_socket,
        browser_available,
        is_loopback_host,
        review_url,
        serve,
    )
    from pipeline.review.service import ReviewSession

    settings = None
    if learn:
        settings = LearnSettings(every=retrain_every, propose=propose_min <= 1, propose_min=propose_min,
                                 from_coders=list(from_coder or []))
    elif retrain_every != 10 or propose_min != 0.8 or from_coder:
        raise PrecodeError("--retrain-every, --propose-min and --from-coder belong to --learn",
                           hint="add --learn, or leave them out")
    session = ReviewSession.open(find_project(project), run, reviewer, learn=settings)
    progress = session.progress()
    r = session.run
    console.print(f"Reviewing run [bold]{r.id}[/] ({r.coder}{', ' + r.model if r.model else ''}; "
                  f"{session.codebook.id} {session.codebook.version}, level {r.level or 'any'}) as "
                  f"[bold]{session.reviewer}[/]: {progress.reviewed} of {progress.total} suggestions reviewed.",
                  highlight=False)
    if session.learner is not None:
        status = session.learn_status()
        console.print(f"Learning: trained in {status.seconds:.1f} s on {status.training_segments} human-coded segments; "
                      f"{status.proposals_total} codes proposed by the learned model in this run; queue order "
                      f"'learned' (least certain first); retraining "
                      + (f"every {status.every} decisions." if status.every else "when you ask."), highlight=False)
    for warning in session.warnings:
        err.print(f"[yellow]warning[/] {warning}", highlight=False, soft_wrap=True)
    if note := session.project.db.incomplete_note(r.id):
        err.print(f"[yellow]note[/] {note}", highlight=False, soft_wrap=True)
    if tui:
        from pipeline.review.tui import Tui

        Tui(session, console).run()
        return
    from pipeline.review.app import create_app, new_token, saved_place

    sock = bind_socket(host, port)
    token = new_token()
    url = review_url(sock, token) + saved_place(session)  # back where this reviewer left off
    app = create_app(session, token, sock.getsockname()[1], sock.getsockname()[0])
    console.print(f"Open [bold]{url}[/]", soft_wrap=True, highlight=False)
    if not is_loopback_host(host):
        err.print(f"[yellow]Listening on {host}: other machines can connect (over plain HTTP). The token in the URL "
                  "is the password; share it only with people who may review as "
                  f"{session.reviewer}.[/]", highlight=False)
    if not no_browser and browser_available():
        threading.Timer(0.3, webbrowser.open, [url]).start()
        console.print("Opened in your browser.")
    console.print("Every decision is saved the moment it is made. Press Ctrl-C to stop.")
    try:
        serve(app, sock)
    finally:
        sock.close()
