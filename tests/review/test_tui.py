"""`precode review --tui` in a real terminal: tmux at 120x50, keys sent, the screen read back.

The passage must wrap (not be cut to one line per paragraph), the quote must be on the screen in
full and highlighted even when it sits at the end of a passage taller than the terminal, and the
code's definition must wrap too.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pipeline.codebook import load_codebook
from pipeline.project import open_project

from .conftest import add_quoted_run

pytestmark = pytest.mark.slow  # a real terminal and a subprocess: several seconds

QUOTE = ("the thing that finally changed my mind was watching the night team trust the early warning score "
         "on bed seven, because it flagged the sepsis four hours before any of us would have noticed it.")
FILLER = ("we talked about the monitors again in the morning huddle and nobody could agree whether the alarm "
          "thresholds were set by the vendor or by our own clinical engineering team, and ")


def long_interview(folder: Path) -> Path:
    """A participant turn whose first sentence (one segment: a sentence is never split) wraps to about
    45 lines at 120 columns and ends with the quote."""
    path = folder / "int99_long_turn.txt"
    turn = "So " + FILLER * 40 + QUOTE + " That is all, really."
    path.write_text(f"Interviewer: Tell me about the early warning score.\n\nP9: {turn.strip()}\n", encoding="utf-8")
    return path


class Tmux:
    def __init__(self, command: list[str], width: int = 120, height: int = 50):
        assert shutil.which("tmux"), "tmux is needed (apt-get install tmux; .ci/run installs it)"
        self.socket = f"precode-test-{uuid.uuid4().hex[:8]}"
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TMUX")}
        env["TERM"] = "xterm-256color"
        self.tmux = ["tmux", "-L", self.socket, "-f", "/dev/null"]
        subprocess.run([*self.tmux, "new-session", "-d", "-x", str(width), "-y", str(height), "-s", "review",
                        shlex.join(command)], check=True, env=env)

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", "review", *keys], check=True)

    def screen(self, escapes: bool = False) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-t", "review", *(["-e"] if escapes else [])],
                              check=True, capture_output=True, text=True).stdout

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                time.sleep(0.3)  # let the rest of the output land
                return self.screen()
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], check=False, capture_output=True)


def words(text: str) -> str:
    return " ".join(text.split())


def panel_text(screen: str) -> str:
    """The text inside the boxes, line by line joined with spaces (as a reader reads wrapped lines)."""
    rows = [line.strip() for line in screen.splitlines()]
    return words(" ".join(row.strip("│").strip() for row in rows if row.startswith("│")))


def highlighted(screen: str) -> str:
    """The characters shown on a yellow background (SGR 43), wrapped lines joined with spaces."""
    runs: list[str] = []
    for line in screen.splitlines():
        on, run = False, []
        for token in re.split(r"(\x1b\[[0-9;:]*m)", line):
            if token.startswith("\x1b["):
                codes = token[2:-1].split(";") if token[2:-1] else ["0"]
                for code in codes:
                    if code in ("43", "103"):
                        on = True
                    elif code in ("0", "49") or (code.startswith("4") and len(code) == 2 and code != "43"):
                        on = False
            elif on:
                run.append(token)
        if run:
            runs.append("".join(run))
    return words(" ".join(runs))


def test_the_quote_is_on_screen_in_full_at_120x50(project, tmp_path):
    root = project.root
    project.close()
    toml = root / "precode.toml"  # segments up to 8,000 characters: the whole turn is one passage
    toml.write_text(toml.read_text().replace("max_chars = 1200", "max_chars = 8000"))
    project = open_project(root)
    add_quoted_run(project, long_interview(tmp_path), QUOTE, "20260302-100000-long")
    project.close()
    command = [sys.executable, "-c", "from pipeline.cli import main; main()", "review", "-p", str(root),
               "--run", "20260302-100000-long", "--reviewer", "tess", "--tui"]
    term = Tmux(command)
    try:
        screen = term.wait_for("your decision")
        text = panel_text(screen)
        assert words(QUOTE) in text, screen
        assert highlighted(term.screen(escapes=True)) == words(QUOTE), term.screen(escapes=True)
        assert "lines " in screen and " of " in screen, screen  # the passage is taller than the terminal: a window
        staff = load_codebook("nasss").by_id["adopters.staff"]
        assert words(staff.definition) in text  # the definition wraps instead of being cut
        assert len(screen.splitlines()) <= 50
        term.keys("a", "Enter")
        term.wait_for("Nothing left to review")
    finally:
        term.close()
