"""The one error type for problems a user can cause and fix."""

from __future__ import annotations


class PrecodeError(Exception):
    """A problem with the user's input, configuration or environment.

    The message names the file (and line or field where there is one) and says what to do.
    The CLI prints it without a traceback and exits non-zero.
    """

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None):
        self.path = path
        self.hint = hint
        parts = [f"{path}: {message}" if path else message]
        if hint:
            parts.append(hint)
        super().__init__(" — ".join(parts))


class RunStopped(PrecodeError):
    """An error that stops a coding run and that a re-run of the same command would meet again
    (every request refused the same way, an empty account): the run is closed as failed, with this
    message as its reason, instead of being left open for a re-run."""
