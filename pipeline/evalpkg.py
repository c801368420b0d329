"""Load precode's own `eval` package, whatever folder named eval/ the working directory has.

precode installs two top-level packages, `pipeline` and `eval`, side by side (site-packages for a
wheel, the checkout for an editable install). Under `python -m pipeline`, or with the working
directory on PYTHONPATH, the working directory comes first on `sys.path`, so a user's own `eval/`
folder would be imported instead of ours (`ModuleNotFoundError: No module named 'eval.cli'`).
`use_our_eval()` imports `eval` from the folder beside `pipeline` by path, before the CLI imports
`eval.cli`; its submodules are then found in that package's own `__path__`. `sys.path` is left as
it is.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

OURS = Path(__file__).resolve().parent.parent / "eval"


def _is_ours(module: object) -> bool:
    paths = [Path(p).resolve() for p in getattr(module, "__path__", [])]
    return OURS.resolve() in paths


def use_our_eval() -> None:
    """Make `sys.modules['eval']` precode's eval package (a no-op when it already is)."""
    loaded = sys.modules.get("eval")
    if loaded is not None and _is_ours(loaded):
        return
    for name in [n for n in sys.modules if n == "eval" or n.startswith("eval.")]:
        del sys.modules[name]  # somebody else's eval, imported from the working directory
    spec = importlib.util.spec_from_file_location("eval", OURS / "__init__.py", submodule_search_locations=[str(OURS)])
    if spec is None or spec.loader is None:  # pragma: no cover - the package ships beside pipeline
        raise ImportError(f"precode's eval package is missing beside pipeline ({OURS})")
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["eval"]
        raise
