"""Review errors a user can cause, each mapped to an HTTP status by the web app."""

from __future__ import annotations

from pipeline.errors import PrecodeError


class NotFound(PrecodeError):
    """Something the request names does not exist (HTTP 404)."""


class Conflict(PrecodeError):
    """The request clashes with what is stored now, e.g. nothing left to undo (HTTP 409)."""
