"""A local server's offline batch entry point for `precode code --coder llm --batch` (`[llm] batch_command`).

vLLM runs an OpenAI Batch API input file without a server: `python -m vllm.entrypoints.openai.run_batch
-i requests.jsonl -o results.jsonl --model M` (also `vllm run-batch`). It reads one request a line
(`custom_id`, `method`, `url` = `/v1/chat/completions`, `body`), the same lines precode uploads to the
Batch API, and writes one line per request, in input order, shaped like the Batch API's output:
`{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}`. A request that
failed has a `status_code` other than 200, no `body`, and `error` (a message, or an error object).

This module only turns the configured command into an argument list (`shlex`, no shell: the
placeholders `{input}`, `{output}` and `{model}` are replaced inside the split words, so paths with
spaces stay one argument), runs it, and reads its output file. `pipeline.llm.batch` writes the
requests and feeds the lines through the same collection as an API batch's.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import PrecodeError

PLACEHOLDERS = ("{input}", "{output}")
STDERR_TAIL = 400  # characters of the command's stderr quoted when it fails


def command_argv(template: str, input_path: Path, output_path: Path, model: str) -> list[str]:
    """The configured command as an argument list, with the request and result files and the model filled in."""
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise PrecodeError(f"[llm] batch_command cannot be split into arguments ({exc})",
                           hint="fix its quoting, e.g. batch_command = \"python -m vllm.entrypoints.openai.run_batch "
                                "-i {input} -o {output} --model {model}\"") from None
    missing = [p for p in PLACEHOLDERS if not any(p in w for w in words)]
    if not words or missing:
        raise PrecodeError(f"[llm] batch_command needs {' and '.join(missing) or 'a program'}: '{template}'",
                           hint="e.g. batch_command = \"python -m vllm.entrypoints.openai.run_batch -i {input} "
                                "-o {output} --model {model}\"")
    values = {"{input}": str(input_path), "{output}": str(output_path), "{model}": model}
    out = []
    for word in words:
        for key, value in values.items():
            word = word.replace(key, value)
        out.append(word)
    return out


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            f.seek(max(f.tell() - 4 * STDERR_TAIL, 0))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines)[-STDERR_TAIL:]


def run_command(argv: list[str], log: Path, timeout: float | None = None) -> None:
    """Run the batch command to its end (no shell, no stdin), its output going to `log`.

    A command that cannot be started, times out or exits non-zero raises one PrecodeError naming
    the command and the tail of what it printed.
    """
    shown = shlex.join(argv)
    try:
        with log.open("wb") as sink:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False)
    except FileNotFoundError:
        raise PrecodeError(f"the local batch command was not found: {argv[0]}",
                           hint="install it or give its full path in [llm] batch_command") from None
    except subprocess.TimeoutExpired:
        raise PrecodeError(f"the local batch command did not finish within {timeout:.0f} s: {shown}",
                           hint="code fewer segments at a time (--transcript)") from None
    if done.returncode != 0:
        tail = _tail(log)
        raise PrecodeError(f"the local batch command failed (exit {done.returncode}): {shown}"
                           + (f": {tail}" if tail else ""),
                           hint="run it by hand to see why; the answers it did write are not used")


def read_results(path: Path) -> Iterator[dict[str, object]]:
    """The output file's lines as JSON objects; a line that is not a JSON object is skipped (its request
    then counts as unanswered and fails alone)."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                found = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(found, dict):
                yield found
