"""Code frequencies per participant group (e.g. HCP vs AI expert), per coder: table, CSV and heatmap.

For each coder, code and group: `units` is how many units (characters in char mode) the coder
marked with the code among the units of that group it saw; `participants` how many participants
of the group have at least one such unit; `share` that number over the group's participants whose
transcripts the coder saw. This is how the NASSS study compared stakeholder groups: a share of
participants is comparable across groups of different size and interview length, a count is not.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from pydantic import BaseModel

from eval.align import Aligned
from eval.plots import figure_png
from pipeline.errors import PrecodeError
from pipeline.models import TranscriptMetadata

NO_GROUP = "(none)"
CSV_COLUMNS = ["level", "coder", "code", "label", "group", "units", "participants", "participants_in_group", "share"]


class GroupRow(BaseModel):
    level: str
    coder: str
    code: str
    label: str
    group: str
    units: float
    participants: int
    participants_in_group: int
    share: float | None


def metadata_value(meta: TranscriptMetadata, field: str) -> str | None:
    """A metadata field (participant_id, group, site, date, or a sidecar column kept in `extra`)."""
    if field in TranscriptMetadata.model_fields and field != "extra":
        value = getattr(meta, field)
        return None if value is None else str(value)
    return meta.extra.get(field)


def unit_groups(aligned: Aligned, metadata: dict[str, TranscriptMetadata], field: str) -> tuple[list[str], list[str]]:
    """(group, participant) per unit, from the metadata of the unit's transcript (keyed by transcript name)."""
    names = {t for t in aligned.units.transcript if t is not None}
    if not any(metadata_value(metadata[n], field) for n in names):
        fields = sorted({f for n in names for f in ["participant_id", "group", "site", "date", *metadata[n].extra]
                         if metadata_value(metadata[n], f)})
        raise PrecodeError(f"no transcript has a metadata value for --group-by '{field}'",
                           hint=f"fields with values: {', '.join(fields) or 'none (add a metadata.csv and re-ingest)'}")
    transcripts = [t or "" for t in aligned.units.transcript]  # transcript-based units always have one
    groups = [metadata_value(metadata[t], field) or NO_GROUP for t in transcripts]
    participants = [metadata[t].participant_id or t for t in transcripts]
    return groups, participants


def group_rows(aligned: Aligned, presence: np.ndarray, level: str, codes: list[str], labels: dict[str, str],
               groups: list[str], participants: list[str]) -> list[GroupRow]:
    """The code x group table for every coder at one level."""
    w = aligned.units.weights if aligned.units.weights is not None else np.ones(len(aligned.units))
    group_names = sorted(set(groups))
    people = sorted(set(participants))
    g_of = np.array([group_names.index(g) for g in groups], dtype=np.int64)
    p_of = np.array([people.index(p) for p in participants], dtype=np.int64)
    person_group = {p: groups[participants.index(p)] for p in people}
    rows: list[GroupRow] = []
    for i, coder in enumerate(aligned.coders):
        seen = aligned.observed[i]
        marks = presence[i] & seen[:, None]
        by_person = np.zeros((len(people), len(codes)), dtype=bool)
        np.logical_or.at(by_person, p_of, marks)
        people_seen = np.zeros(len(people), dtype=bool)
        np.logical_or.at(people_seen, p_of, seen)
        for g, group in enumerate(group_names):
            in_group = g_of == g
            units = (w[in_group][:, None] * marks[in_group]).sum(axis=0)
            members = np.array([person_group[p] == group for p in people], dtype=bool) & people_seen
            n_members = int(members.sum())
            hits = by_person[members].sum(axis=0)
            for q, code in enumerate(codes):
                rows.append(GroupRow(level=level, coder=coder, code=code, label=labels.get(code, code), group=group,
                                     units=float(units[q]), participants=int(hits[q]),
                                     participants_in_group=n_members,
                                     share=float(hits[q]) / n_members if n_members else None))
    return rows


def groups_csv(rows: list[GroupRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        data = r.model_dump()
        data["units"] = int(data["units"]) if float(data["units"]).is_integer() else data["units"]
        data["share"] = "" if data["share"] is None else f"{data['share']:.3f}"
        writer.writerow(data)
    return out.getvalue()


def groups_block(rows: list[GroupRow], field: str, level: str) -> dict[str, Any]:
    """The report.json `groups` section: the primary level's table, nested coder -> code -> group."""
    table: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for r in rows:
        if r.level == level:
            table.setdefault(r.coder, {}).setdefault(r.code, {})[r.group] = {
                "units": r.units, "participants": r.participants, "participants_in_group": r.participants_in_group,
                "share": r.share}
    groups = sorted({r.group for r in rows})
    return {"field": field, "level": level, "groups": groups, "table": table, "csv": "groups.csv"}


def heatmap(rows: list[GroupRow], level: str) -> bytes | None:
    """Share of participants per code (rows) and group (columns), one panel per coder; cells show share and units."""
    rows = [r for r in rows if r.level == level]
    coders = list(dict.fromkeys(r.coder for r in rows))
    codes = list(dict.fromkeys(r.code for r in rows))
    groups = sorted({r.group for r in rows})
    if not rows or not codes:
        return None
    labels = {r.code: r.label[:40] for r in rows}
    lookup = {(r.coder, r.code, r.group): r for r in rows}
    fig = Figure(figsize=(2.2 + 1.4 * len(groups) * len(coders), 1.2 + 0.3 * len(codes)), layout="constrained")
    axes = fig.subplots(1, len(coders), sharey=True, squeeze=False)[0]
    image = None
    for ax, coder in zip(axes, coders, strict=True):
        share = np.full((len(codes), len(groups)), np.nan)
        for y, code in enumerate(codes):
            for x, group in enumerate(groups):
                r = lookup[(coder, code, group)]
                if r.share is not None:
                    share[y, x] = r.share
                ax.text(x, y, "–" if r.share is None else f"{r.share:.0%}\n({r.units:.0f})", ha="center",
                        va="center", fontsize=6, color="black" if r.share is None or r.share < 0.6 else "white")
        image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(groups)), groups, fontsize=7, rotation=30, ha="right")
        ax.set_title(coder, fontsize=7)
    axes[0].set_yticks(range(len(codes)), [labels[c] for c in codes], fontsize=7)
    assert image is not None
    fig.colorbar(image, ax=list(axes), fraction=0.03, aspect=40, label="share of participants")
    fig.suptitle(f"Codes per group ({level} level): share of participants (units)", fontsize=9)
    return figure_png(fig)
