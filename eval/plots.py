"""Figures for the report, drawn with matplotlib's Agg canvas (no display, no global pyplot state)."""

from __future__ import annotations

import base64
import io
import math
from typing import TYPE_CHECKING, Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from eval.evaluate import LevelReport

LANDIS_KOCH_CUTS = (0.0, 0.2, 0.4, 0.6, 0.8)
_MARKERS = "osD^v<>ph*"


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    """A PNG as a data: URI, so the HTML report needs no other file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _defined(value: Any) -> bool:
    return isinstance(value, int | float) and not math.isnan(value)


def kappa_series(level: LevelReport) -> dict[str, dict[str, tuple[float, tuple[float, float] | None]]]:
    """Series name -> code -> (kappa, CI) from a level's `codes` and `pairs`."""
    series: dict[str, dict[str, tuple[float, tuple[float, float] | None]]] = {}
    name = "Fleiss' kappa (all coders)" if level.pairs else "Cohen's kappa"
    series[name] = {c: (e.kappa, e.ci.get("kappa")) for c, e in level.codes.items() if _defined(e.kappa)}
    for key, pair in (level.pairs or {}).items():
        series[key] = {c: (e.kappa, e.ci.get("kappa")) for c, e in pair.codes.items() if _defined(e.kappa)}
    return series


def kappa_plot(level: LevelReport, title: str) -> bytes | None:
    """Per-code kappa with bootstrap CI error bars, codes sorted by the main kappa; None if nothing is defined."""
    series = kappa_series(level)
    main = next(iter(series.values()))
    codes = sorted({c for s in series.values() for c in s}, key=lambda c: main.get(c, (-2.0, None))[0])
    if not codes:
        return None
    labels = [level.codes[c].label[:45] for c in codes]
    fig = Figure(figsize=(8.5, 1.4 + 0.32 * len(codes)))
    ax = fig.add_subplot()
    n = len(series)
    for s_i, (name, values) in enumerate(series.items()):
        ys, xs, lo, hi = [], [], [], []
        for y, code in enumerate(codes):
            if code not in values:
                continue
            kappa, ci = values[code]
            ys.append(y + (s_i - (n - 1) / 2) * 0.8 / max(n, 1))
            xs.append(kappa)
            lo.append(kappa - ci[0] if ci else 0.0)
            hi.append(ci[1] - kappa if ci else 0.0)
        ax.errorbar(xs, ys, xerr=[lo, hi], fmt=_MARKERS[s_i % len(_MARKERS)], capsize=2, markersize=4,
                    linewidth=0.8, label=name)
    for cut in LANDIS_KOCH_CUTS:
        ax.axvline(cut, color="0.85", linewidth=0.8, zorder=0)
    ax.set_yticks(range(len(codes)), labels, fontsize=8)
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-0.7, len(codes) - 0.3)
    ax.set_xlabel("kappa (95% bootstrap CI); grey lines: Landis & Koch bands 0, .2, .4, .6, .8")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.6 / (1.4 + 0.32 * len(codes)) - 0.04),
              ncol=2, frameon=False)
    return figure_png(fig)
