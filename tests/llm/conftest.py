"""Fixtures for the LLM coder's tests: one stub LLM server for the session, small fresh projects,
and a network guard that refuses (and records) any connection that is not to this machine."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from llm_helpers import TRANSCRIPT
from stub_server import StubLLM, empty_answer

from pipeline.ingest import ingest_paths
from pipeline.project import Project, init_project, open_project
from pipeline.settings import write_settings

NETWORK_ATTEMPTS: list[str] = []


def _is_local(host) -> bool:
    return host is None or str(host) in ("localhost", "::1") or str(host).startswith("127.")


@pytest.fixture(scope="module", autouse=True)
def loopback_only():
    """Refuse and record every connection or name lookup that is not for this machine."""
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def guarded_connect(self, address):
        if not isinstance(address, (str, bytes)) and not _is_local(address[0]):
            NETWORK_ATTEMPTS.append(f"connect {address!r}")
            raise OSError("network disabled by the test suite")
        return connect(self, address)

    def guarded_connect_ex(self, address):
        if not isinstance(address, (str, bytes)) and not _is_local(address[0]):
            NETWORK_ATTEMPTS.append(f"connect_ex {address!r}")
            raise OSError("network disabled by the test suite")
        return connect_ex(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if not _is_local(host if not isinstance(host, bytes) else host.decode()):
            NETWORK_ATTEMPTS.append(f"getaddrinfo {host!r}")
            raise socket.gaierror("network disabled by the test suite")
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = (
        guarded_connect, guarded_connect_ex, guarded_getaddrinfo)
    yield
    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
    assert not NETWORK_ATTEMPTS, f"the LLM tests tried to reach the network: {NETWORK_ATTEMPTS}"


@pytest.fixture(scope="session")
def stub_server():
    server = StubLLM().start()
    yield server
    server.stop()


@pytest.fixture
def stub(stub_server: StubLLM) -> StubLLM:
    """The session's stub, with an empty script, no recorded requests and the default handler."""
    stub_server.clear()
    stub_server.handler = empty_answer
    stub_server.server = None
    stub_server.latency = 0.0
    yield stub_server
    stub_server.server = None
    stub_server.clear()


@pytest.fixture
def make_project(tmp_path: Path, stub_server: StubLLM) -> Callable[..., Project]:
    """A fresh project with the test transcript, its [llm] settings pointing at the stub."""
    counter = iter(range(1000))

    def make(text: str = TRANSCRIPT, **llm) -> Project:
        root = tmp_path / f"project {next(counter)}"
        project, _ = init_project(root)
        source = tmp_path / f"interview_{root.name.split()[-1]}.txt"
        source.write_text(text, encoding="utf-8")
        ingest_paths(project, [source])
        settings = project.settings.model_copy(deep=True)
        values = {"provider": "openai-compatible", "base_url": stub_server.url, "model": "stub-model",
                  "backoff_initial": 0.01, "backoff_max": 0.05, "timeout": 5.0, "concurrency": 2, "batch_size": 2,
                  **llm}
        for key, value in values.items():
            setattr(settings.llm, key, value)
        write_settings(root / "precode.toml", settings)
        project.close()
        return open_project(root)

    return make
