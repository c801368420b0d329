"""The data-protection guard: transcripts go to a non-loopback endpoint only when allowed."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlparse

from pipeline.errors import PrecodeError

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"


def is_loopback(url: str | None) -> bool:
    """True when the URL's host is this machine (127.0.0.0/8, ::1, localhost)."""
    host = urlparse(url or OPENAI_DEFAULT_URL).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint_allowed(url: str | None, allow_remote: bool, what: str = "LLM endpoint") -> None:
    if allow_remote or is_loopback(url):
        return
    raise PrecodeError(
        f"the {what} {url or OPENAI_DEFAULT_URL} is not on this machine, and transcripts may hold personal data",
        hint="set allow_remote = true in precode.toml (or pass --allow-remote) once you are allowed to send them there",
    )
