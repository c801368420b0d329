"""The data-protection guard: transcripts go to a non-loopback endpoint, or through a proxy, only when allowed.

Routes count as well as endpoints: a loopback or private-network endpoint is reached directly,
never through a proxy from the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`), since a
proxy there would carry transcripts off the machine by a route the user did not choose. A proxy
is used only when configured explicitly, and one that is not on this machine needs
`allow_remote` like a remote endpoint.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlparse

from pipeline.errors import PrecodeError

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"


def _host(url: str | None) -> str:
    return urlparse(url or OPENAI_DEFAULT_URL).hostname or ""


def is_loopback(url: str | None) -> bool:
    """True when the URL's host is this machine (127.0.0.0/8, ::1, localhost)."""
    host = _host(url)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_private(url: str | None) -> bool:
    """True for a loopback, private-network or link-local address, or a `.local`/`.lan`/`.internal` name."""
    if is_loopback(url):
        return True
    host = _host(url)
    if host.endswith((".local", ".lan", ".internal", ".home.arpa")) or ("." not in host and host != ""):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_link_local


def check_endpoint_allowed(url: str | None, allow_remote: bool, what: str = "LLM endpoint") -> None:
    if allow_remote or is_loopback(url):
        return
    raise PrecodeError(
        f"the {what} {url or OPENAI_DEFAULT_URL} is not on this machine, and transcripts may hold personal data",
        hint="set allow_remote = true in precode.toml (or pass --allow-remote) once you are allowed to send them there",
    )


def check_proxy_allowed(proxy: str | None, allow_remote: bool) -> None:
    """An explicit proxy off this machine carries transcripts like a remote endpoint does."""
    if proxy and not allow_remote and not is_loopback(proxy):
        raise PrecodeError(
            f"the proxy {proxy} is not on this machine, and transcripts sent through it may hold personal data",
            path="[llm] proxy", hint="set allow_remote = true once you are allowed to send them there, or remove proxy")


def use_environment_proxy(url: str | None) -> bool:
    """Whether the environment's proxy variables may apply to requests to `url` (never for local ones)."""
    return not is_private(url)
