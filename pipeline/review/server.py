"""Serve the review app with uvicorn on a socket bound before anything is printed.

Binding first (port 0 = a free port chosen by the OS) means the printed URL is the one that
works, with no window in which another program can take the port. The default host is
127.0.0.1: other machines cannot connect unless the user names another host, and even then every
request needs the token.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import webbrowser

import uvicorn
from fastapi import FastAPI

from pipeline.errors import PrecodeError
from pipeline.remote import is_loopback

LOOPBACK = "127.0.0.1"


def bind_socket(host: str = LOOPBACK, port: int = 0) -> socket.socket:
    """A listening-ready TCP socket on host:port (port 0: any free port)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PrecodeError(f"option '--host': cannot resolve '{host}' ({exc.strerror})",
                           hint="give an IP address such as 127.0.0.1, or a host name this machine knows") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise PrecodeError(f"option '--port': cannot listen on {host}:{port} ({exc.strerror})",
                           hint="choose another port, or leave --port out to get a free one") from None
    sock.listen(128)
    return sock


def is_loopback_host(host: str) -> bool:
    """Only this machine can reach `host` (127.0.0.0/8, ::1, localhost)."""
    return is_loopback(f"http://[{host}]" if ":" in host else f"http://{host}")


def review_url(sock: socket.socket, token: str) -> str:
    """The URL to open: the bound address (loopback when bound to all interfaces) with the token."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = LOOPBACK
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/?token={token}"


def make_server(app: FastAPI) -> uvicorn.Server:
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


def serve_in_thread(app: FastAPI, sock: socket.socket) -> tuple[uvicorn.Server, threading.Thread]:
    """Run the server in a background thread (tests, benchmarks); stop with `server.should_exit = True`."""
    server = make_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    return server, thread


def browser_available() -> bool:
    """A graphical browser can be opened (not a text browser that would take over this terminal)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def serve(app: FastAPI, sock: socket.socket) -> None:
    """Serve until interrupted (Ctrl-C)."""
    make_server(app).run(sockets=[sock])
