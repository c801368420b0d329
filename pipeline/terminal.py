"""What every command module shares: the two consoles and the --project option."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

# Messages are never broken mid-line (paths, ids stay whole); piped tables get 160 columns, not 80.
console = Console(width=None if sys.stdout.isatty() else 160, soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ProjectOption = Annotated[
    Path | None,
    typer.Option("--project", "-p", envvar="PRECODE_PROJECT",
                 help="Project directory (default: the current directory or the nearest parent with precode.toml)."),
]
