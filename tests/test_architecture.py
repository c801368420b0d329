"""The layering gates of issue 9, read from the source (no import of the project's modules).

- The import graph of `pipeline/` and `eval/` has no cycle. The graph is built with `ast` over every
  source file. An edge is a module-level import that runs when the module is imported: statements
  at the top of the module, inside module-level `if`/`try`/`with` and class bodies, but not under
  `if TYPE_CHECKING:` (never run) and not inside functions. Importing `a.b.c` also runs the
  `__init__` of `a` and `a.b` (unless the importer is inside them already), so those are edges too:
  that is how `coders/__init__` -> `coders/llm` -> `coding` -> `coders` was a cycle.
- Imports inside functions are the lazy ones (heavy libraries loaded only when a command needs them,
  sub-commands registered in the CLI). They may not hide a cycle either: the graph with them added
  must have no cycle beyond `KNOWN_LAZY_CYCLES`, each named with the reason it is still there, so no
  new one can come in unnoticed.
- SQL stays in the store: no `execute(` outside `pipeline/store/`, and every INSERT names its columns
  (a positional `INSERT INTO t VALUES (...)` breaks as soon as a migration adds a column).
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "eval")

# Cycles that exist only through an import inside a function, each with why it is still there.
KNOWN_LAZY_CYCLES: dict[frozenset[str], str] = {}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(body: list[ast.stmt], lazy: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _imports(node.body, lazy)
            yield from _imports(node.orelse, lazy)
        elif isinstance(node, ast.Try | ast.TryStar):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _imports(block, lazy)
        elif isinstance(node, ast.With | ast.ClassDef):
            yield from _imports(node.body, lazy)
        elif lazy and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from (sub for sub in ast.walk(node) if isinstance(sub, ast.Import | ast.ImportFrom))


def import_graph(lazy: bool = False) -> dict[str, set[str]]:
    """Module -> the project modules its import runs (with `lazy`, also the imports inside functions)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8")).body, lazy):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else (node.module or "")
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:  # an attribute of a module, or not ours at all
                    target = target.rpartition(".")[0]
                parts = target.split(".") if target else []
                for i in range(1, len(parts) + 1):  # a.b.c runs a and a.b first, unless we are inside them
                    ancestor = ".".join(parts[:i])
                    if ancestor != name and not name.startswith(ancestor + ".") and ancestor in modules:
                        graph[name].add(ancestor)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_the_graph_sees_the_imports_it_must():
    """The graph is not empty by accident: known edges are there, TYPE_CHECKING and lazy ones only as they should."""
    graph = import_graph()
    assert len(graph) > 80
    assert "pipeline.coders.base" in graph["pipeline.coding"] and "pipeline.coders" in graph["pipeline.coding"]
    assert "pipeline.coders.base" in graph["pipeline.coders"]
    assert "pipeline.coders.llm" not in graph["pipeline.coders"]  # only under TYPE_CHECKING there
    assert {"eval.cli", "eval"} <= graph["pipeline.cli"]  # the sub-command registered at the end of the module
    assert "pipeline.coders.llm" in import_graph(lazy=True)["pipeline.cli"]  # inside the code command
    assert "pipeline.coders.llm" not in graph["pipeline.cli"]
    assert {"pipeline.coders.llm", "pipeline.llm.batch"} <= graph["pipeline.coders.llm_factory"]
    assert "pipeline.llm.batch" not in import_graph(lazy=True)["pipeline.coders.llm"]


def test_a_cycle_is_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset({"a", "b", "c"})]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_module_level_imports_have_no_cycle():
    assert cycles(import_graph()) == []


def test_lazy_imports_hide_no_new_cycle():
    found = set(cycles(import_graph(lazy=True)))
    assert found <= set(KNOWN_LAZY_CYCLES), f"new cycle(s) through imports inside functions: {found - set(KNOWN_LAZY_CYCLES)}"


def _grep(*args: str) -> list[str]:
    run = subprocess.run(["grep", "-rn", "--include=*.py", "--include=*.sql", *args, "pipeline", "eval"],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode in (0, 1), run.stderr
    return run.stdout.splitlines()


def test_no_sql_outside_the_store():
    outside = [line for line in _grep("execute(") if not line.startswith("pipeline/store/")]
    assert outside == []


def test_every_insert_names_its_columns():
    """Also the forms split over string literals or lines: the table name must be followed by '('."""
    insert = re.compile(r"INSERT\s+(?:OR\s+\w+\s+)?INTO\s+\"?(\w+)\"?\s*(\S)", re.IGNORECASE)
    positional = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            if path.suffix not in (".py", ".sql"):
                continue
            text = path.read_text(encoding="utf-8")
            for match in insert.finditer(text):
                if match.group(2) != "(":
                    positional.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}")
    assert positional == []
    assert _grep("-E", "INSERT INTO [a-z_]* VALUES") == []
