"""Write the evaluation: report.json, report.md and a self-contained report.html (plus plots and groups.csv).

Everything is rendered in memory first, then each file is written through a temporary file and
renamed, so a failure never leaves a half-written report. The HTML embeds its CSS and its figures
(base64 PNG) and links to nothing outside itself.
"""

from __future__ import annotations

import csv
import io
import math
import os
from contextlib import ExitStack
from html import escape
from pathlib import Path
from typing import Any

from eval.evaluate import (
    CodeEntry,
    EvalReport,
    LevelReport,
    MultiCode,
    MultiOverall,
    NominalSummary,
    PairCode,
    PairOverall,
    Stability,
)
from eval.metrics import CI
from eval.plots import data_uri, kappa_plot
from pipeline.interchange.atomic import atomic_output

MD_DISAGREEMENTS_PER_CODE = 5
HTML_DISAGREEMENTS_PER_CODE = 50
TEXT_LIMIT = 1200


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.{digits}f}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _ci(cis: dict[str, CI], key: str) -> str:
    ci = cis.get(key)
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "–"


def _kappa_order(codes: dict[str, PairCode] | dict[str, MultiCode]) -> list[str]:
    """Code ids by kappa, highest first; undefined last in id order."""
    def key(code: str) -> tuple[int, float, str]:
        kappa = codes[code].kappa
        return (1, 0.0, code) if kappa is None or math.isnan(kappa) else (0, -kappa, code)
    return sorted(codes, key=key)


def _short(text: str | None, limit: int = TEXT_LIMIT) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- tables as rows of cells (shared by markdown and html) ---------------------------------------------------
def code_table(codes: dict[str, PairCode] | dict[str, MultiCode],
               gold_view: bool) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, rows, notes) of a level's per-code table, sorted by kappa."""
    multi = any(isinstance(e, MultiCode) for e in codes.values())
    header = ["code", "label", "Fleiss κ" if multi else "κ", "95% CI", "Landis–Koch", "Po", "PABAK", "AC1", "α", "n"]
    header.append("units marked" if multi else "a/b/c/d")
    if gold_view:
        header += ["F1 vs gold" if multi else "P", *([] if multi else ["R", "F1"])]
    header.append("read with care")
    rows: list[list[str]] = []
    notes: list[str] = []
    for code in _kappa_order(codes):
        e: CodeEntry = codes[code]
        if isinstance(e, MultiCode):
            marked = "\n".join(f"{k}: {_num(v)}" for k, v in e.counts.items())
        else:
            marked = f"{e.counts.a}/{e.counts.b}/{e.counts.c}/{e.counts.d}"
        row = [code, e.label, _num(e.kappa), _ci(e.ci, "kappa"), e.kappa_label, _num(e.po), _num(e.pabak),
               _num(e.ac1), _num(e.alpha), _num(e.n_units), marked]
        if gold_view and isinstance(e, MultiCode):
            row.append("\n".join(f"{k}: {_num(v)}" for k, v in (e.f1 or {}).items()))
        elif gold_view and isinstance(e, PairCode):
            row += [_num(e.precision), _num(e.recall), _num(e.f1)]
        row.append("\n".join(e.caveats))
        rows.append(row)
        for field, why in {**e.undefined_reasons, **e.notes}.items():
            if not field.startswith("ci.") and not (multi and field in ("fleiss_kappa", "gen_fleiss_kappa")):
                notes.append(f"{code} — {field}: {why}")
    return header, rows, notes


def comparison_kind(key: str, level: LevelReport, machines: list[str]) -> str:
    """'human–human', 'machine vs human' or 'machine–machine' for a pair key."""
    pair = (level.pairs or {}).get(key)
    if pair is None:
        return ""
    n_machine = (pair.coder_a in machines) + (pair.coder_b in machines)
    return ("human–human", "machine vs human", "machine–machine")[n_machine]


SECTION_TITLES = {"all": "All coders together", "human–human": "Human–human agreement",
                  "machine vs human": "Machine vs each human", "machine–machine": "Machine vs machine",
                  "reference": "Each coder against the reference"}


def _n_multi(level: LevelReport) -> str:
    """Units behind the all-coder kappa (the same for every code: which coder saw which unit does not depend
    on the code)."""
    ns = [e.n_units for e in level.codes.values() if isinstance(e, MultiCode)]
    return _num(max(ns)) if ns else "–"


def overview_header(level: LevelReport, gold: str | None, reference: str | None = None) -> list[str]:
    header = ["comparison", "n units", "κ macro", "κ macro CI", "κ micro", "Po micro", "AC1 micro", "α micro"]
    if isinstance(level.overall, MultiOverall) and reference is None:  # the all-coder row's Conger's kappa
        header.append("Conger κ macro")
    if level.ordinal is not None:
        header += [f"κw ({level.ordinal.weights})", f"AC2 ({level.ordinal.weights})"]
    if gold:
        header += ["P micro", "R micro", "F1 micro", "F1 macro"]
    return header


def overview_sections(level: LevelReport, gold: str | None, coders: list[str], machines: list[str] | None = None,
                      reference: str | None = None) -> list[tuple[str, list[list[str]]]]:
    """The comparisons of a level as separate sections, each a list of rows (header: `overview_header`): all
    coders together (Fleiss' and Conger's kappa, alpha), then human–human pairs, machine vs each human and
    machine vs machine; with a reference coder, only each coder against the reference."""
    multi = isinstance(level.overall, MultiOverall) and reference is None
    ordinal = level.ordinal

    def extra(key: str | None) -> list[str]:
        cells = ["–"] if multi else []
        if ordinal is not None:
            o = ordinal.pairs.get(key or "")
            cells += ["–", "–"] if o is None else [_num(o.weighted_kappa), _num(o.ac2)]
        return cells

    def pair_row(name: str, key: str, p: PairOverall) -> list[str]:
        row = [name, _num(p.n_units), f"{_num(p.kappa_macro)} ({p.n_kappa_defined}/{p.n_codes} codes)",
               _ci(p.ci, "kappa_macro"), _num(p.kappa_micro), _num(p.po_micro), _num(p.ac1_micro),
               _num(p.alpha_micro)] + extra(key)
        if gold:
            row += [_num(p.precision_micro), _num(p.recall_micro), _num(p.f1_micro), _num(p.f1_macro)]
        return row

    if not isinstance(level.overall, MultiOverall):
        two = level.overall
        key = f"{two.coder_a}|{two.coder_b}"
        kind = "reference" if reference else comparison_kind_of(two.coder_a, two.coder_b, machines or [])
        return [(kind, [pair_row(" | ".join(coders) or "the two coders", key, two)])]
    sections: list[tuple[str, list[list[str]]]] = []
    o = level.overall
    if reference is None:
        macro, micro, ci_key = o.headline()
        form = "generalised" if o.kappa_form == "generalised" else "units all coders saw"
        ac1 = o.gen_ac1_micro if o.kappa_form == "generalised" else math.nan
        name = f"all coders (Fleiss κ {form}, α)"
        if machines and any(c in machines for c in coders) and any(c not in machines for c in coders):
            name = "all coders, people and machine together (Fleiss κ, α)"
        extras = o.model_extra or {}
        conger = extras.get("gen_conger_kappa_macro")
        conger_cell = "–" if conger is None else (
            f"{_num(conger)} ({extras.get('n_gen_conger_kappa_defined', '?')}/{o.n_codes} codes) "
            f"{_ci(o.ci, 'gen_conger_kappa_macro')}")
        row = [name, _n_multi(level), _num(macro), _ci(o.ci, ci_key), _num(micro), "–", _num(ac1),
               _num(o.alpha_micro), conger_cell]
        if ordinal is not None:
            every = ordinal.all_coders
            row += ["–", "–"] if every is None else [f"{_num(every.fleiss_kappa)} (Fleiss, n {every.n_units})",
                                                     _num(every.ac2)]
        sections.append(("all", [row + (["–"] * 4 if gold else [])]))
    order = ("human–human", "machine vs human", "machine–machine")
    grouped: dict[str, list[list[str]]] = {}
    for key, pair in (level.pairs or {}).items():
        kind = comparison_kind(key, level, machines or [])
        name = f"{key} ({kind})" if machines else key
        grouped.setdefault("reference" if reference else kind, []).append(pair_row(name, key, pair.overall))
    sections += [(kind, grouped[kind]) for kind in ("reference", *order) if kind in grouped]
    return sections


def comparison_kind_of(coder_a: str, coder_b: str, machines: list[str]) -> str:
    return ("human–human", "machine vs human", "machine–machine")[(coder_a in machines) + (coder_b in machines)]


def overview_rows(level: LevelReport, gold: str | None, coders: list[str], machines: list[str] | None = None,
                  reference: str | None = None) -> tuple[list[str], list[list[str]]]:
    """One row per comparison (all coders, then each pair) with its headline figures and the units behind them;
    with people and machines among the coders, the pairs are grouped: human–human first, then machine vs each
    human."""
    rows = [row for _, section in overview_sections(level, gold, coders, machines, reference) for row in section]
    return overview_header(level, gold, reference), rows


def method_notes(report: EvalReport, level: LevelReport) -> list[str]:
    """How to read the figures of a level: how the intervals were resampled, which form of Fleiss' kappa."""
    b = report.bootstrap
    notes = []
    if b["replicates"]:
        if b.get("cluster") == "transcript":
            few = " With fewer than 10 transcripts even these intervals are approximate." if b["n_clusters"] < 10 else ""
            notes.append(f"95% CIs: cluster bootstrap — whole transcripts resampled ({b['n_clusters']} transcripts, "
                         f"{b['replicates']} replicates), so the segments of one interview stay together.{few}")
        elif "cluster" in b:
            notes.append(f"95% CIs: unit bootstrap (--resample unit) — units resampled as if independent, although "
                         f"they are clustered in {b['n_transcripts']} transcript(s): the intervals are too narrow.")
        else:
            notes.append(f"95% CIs: {b['replicates']} bootstrap replicates resampling the units as independent.")
    if isinstance(level.overall, MultiOverall) and not report.reference:  # the all-coder figures are shown
        if level.overall.kappa_form == "generalised":
            notes.append("Fleiss κ, Po and AC1 (all coders): Gwet's generalised form over every unit rated by two or "
                         "more coders (n per code in the table).")
        else:
            notes.append("Fleiss κ, Po and AC1 (all coders): complete units only (--complete-units) — units some "
                         "coder did not see are left out; α uses every unit rated by two or more coders.")
    return notes


def section_title(kind: str, reference: str | None) -> str:
    if kind == "reference":
        return f"Each coder against the reference ({reference})"
    return SECTION_TITLES.get(kind, kind)


def pair_keys_by_section(level: LevelReport, machines: list[str], reference: str | None) -> dict[str, list[str]]:
    """The pair keys of a level under the section that lists them (see `overview_sections`)."""
    out: dict[str, list[str]] = {}
    for key in level.pairs or {}:
        out.setdefault("reference" if reference else comparison_kind(key, level, machines), []).append(key)
    return out


def reference_line(report: EvalReport) -> str:
    return (f"Reference coder: {report.reference}. Every other coder is compared with {report.reference} only "
            f"(pairs {report.reference}|X); the coders are not compared with each other.")


def ordinal_line(level: LevelReport) -> str:
    o = level.ordinal
    assert o is not None
    return (f"Ordinal categories, lowest first: {', '.join(o.categories)}. κw is Cohen's weighted kappa (1968) and "
            f"AC2 Gwet's weighted AC1 (2014), {o.weights} weights, per pair over the units both coders rated "
            "(n units)" + ("; on the all-coder row Fleiss' weighted kappa and the multi-rater AC2 over the units two "
                           "or more coders rated (Gwet 2014)" if o.all_coders is not None else "")
            + "; no bootstrap interval.")


def _nominal_line(nom: NominalSummary) -> str:
    """The single-label summary, each statistic with the units it used."""
    n_alpha = getattr(nom, "n_units_alpha", nom.n_units)
    form = {"generalised": ", generalised form: every unit rated by two or more coders",
            "complete": ", units every coder rated"}.get(str(getattr(nom, "kappa_form", "")), "")
    return (f"Single-label scheme: nominal κ = {_num(nom.kappa)} ({nom.kappa_statistic}{form}) over {nom.n_units} "
            f"units; α = {_num(nom.alpha)} over {n_alpha} units.")


def _marks(said: dict[str, bool | None]) -> list[tuple[str, str]]:
    return [(c, "applied" if v else "not applied" if v is not None else "not seen") for c, v in said.items()]


# -- markdown ---------------------------------------------------------------------------------------------------
def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(s: str) -> str:
        return str(s).replace("|", "\\|").replace("\n", "<br>")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(report: EvalReport, plot_files: dict[str, str]) -> str:
    out = ["# Agreement report", "", f"Generated {report.generated_at:%Y-%m-%d %H:%M} UTC by `precode eval`. "
           "The same content with plots and every disagreement is in `report.html`; machine-readable in `report.json`.",
           "", "## Unit of analysis", "", report.unit["description"], "", "## Inputs", ""]
    out.append(_md_table(["kind", "source", "coders", "rows", "codes kept"],
                         [[i.kind, i.source, ", ".join(i.coders), str(i.rows), str(i.applications)]
                          for i in report.inputs]))
    out += ["", f"Coders: {', '.join(report.coders)}. Gold coder: {report.gold or 'none'}. "
            + (f"Codebook: {report.codebook['name']} v{report.codebook['version']}." if report.codebook else
               "No codebook: codes compared as applied.")
            + f" Bootstrap: {report.bootstrap['replicates']} replicates, seed {report.bootstrap['seed']}.", ""]
    if report.problems:
        out += [f"## Problems in the inputs ({len(report.problems)})", ""]
        out += [f"- `{p.source}`: {p.message}" for p in report.problems] + [""]
    if report.reference:
        out += [reference_line(report), ""]
    for name in [report.level, *[n for n in report.levels if n != report.level]]:
        level = report.by_level[name]
        main = name == report.level
        out += [f"## Level: {name}" + (" (main; per-code tables of the other levels are in report.html)"
                                       if main and len(report.levels) > 1 else ""), ""]
        if main:
            out += [f"> {n}" for n in method_notes(report, level)] + [""]
        header = overview_header(level, report.gold, report.reference)
        keys = pair_keys_by_section(level, report.machine_coders, report.reference)
        notes: list[str] = []
        for kind, rows in overview_sections(level, report.gold, report.coders, report.machine_coders,
                                            report.reference):
            out += [f"### {section_title(kind, report.reference)}", "", _md_table(header, rows), ""]
            if kind == "all" or level.pairs is None:
                nom = level.overall.nominal
                if nom is not None:
                    out += [_nominal_line(nom), ""]
                if not main:
                    continue
                if name in plot_files:
                    out += [f"![Per-code kappa, {name} level]({plot_files[name]})", ""]
                code_header, code_rows, notes = code_table(level.codes, report.gold is not None)
                out += [_md_table(code_header, code_rows), ""]
            elif main:
                for key in keys.get(kind, []):
                    pair = (level.pairs or {})[key]
                    code_header, code_rows, pair_notes = code_table(pair.codes, pair.gold is not None)
                    out += [f"#### Pair {key}", "", _md_table(code_header, code_rows), ""]
                    if report.reference:
                        notes += [f"{key}: {n}" for n in pair_notes]
        if level.ordinal is not None:
            out += [ordinal_line(level), ""]
        if main and notes:
            out += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    out += _md_disagreements(report)
    if report.stability:
        out += ["## Stability across runs", "", _md_table(*stability_rows(report.stability)), ""]
    if report.groups:
        out += [f"## Groups ({report.groups['field']}, {report.groups['level']} level)", "",
                "Share of participants with the code (units coded). All levels: `groups.csv`.", ""]
        if "groups" in plot_files:
            out += [f"![Codes per group]({plot_files['groups']})", ""]
        out += [_md_table(*group_rows_table(report.groups)), ""]
    return "\n".join(out)


DISAGREEMENT_GROUPS = {
    "humans": "Among the human coders",
    "machine-human": "Machine vs the humans (the humans who saw the unit agree)",
    "machines": "Among the machine coders",
}


def disagreement_groups(report: EvalReport) -> list[tuple[str | None, list[tuple[str, list[dict[str, Any]]]]]]:
    """The disagreements as (heading, [(code, entries)]) groups, codes with most units first: with people and
    machines among the coders, disagreements among the people, then those where the people agree and a machine
    differs, then those among machines only; else one group without a heading."""
    d = report.disagreements
    people = [c for c in report.coders if c not in report.machine_coders]
    split = bool(people) and len(people) < len(report.coders)

    def listed(entries_by_code: dict[str, list[dict[str, Any]]]) -> list[tuple[str, list[dict[str, Any]]]]:
        return sorted(((c, e) for c, e in entries_by_code.items() if e), key=lambda x: -len(x[1]))

    if not split:
        return [(None, listed(d["codes"]))]
    groups: list[tuple[str | None, list[tuple[str, list[dict[str, Any]]]]]] = []
    for kind, title in DISAGREEMENT_GROUPS.items():
        by_code = {code: [e for e in entries if e.get("between") == kind] for code, entries in d["codes"].items()}
        if kind == "machines" and not any(by_code.values()):
            continue
        groups.append((title, listed(by_code)))
    return groups


def _md_disagreements(report: EvalReport) -> list[str]:
    d = report.disagreements
    out = [f"## Disagreements ({d['level']} level)", ""]
    if report.reference:
        out += [f"Units on which a coder differs from the reference, {report.reference}.", ""]
    if not any(entries for entries in d["codes"].values()):
        return out + ["The coders agree on every unit they share.", ""]
    for title, listed in disagreement_groups(report):
        depth = "###"
        if title is not None:
            total = sum(len(e) for _, e in listed)
            out += [f"### {title} — {total} unit(s) in {len(listed)} code(s)", ""]
            depth = "####"
            if not listed:
                out += ["None.", ""]
        for code, entries in listed:
            out += [f"{depth} {code} — {len(entries)} unit(s)", ""]
            for e in entries[:MD_DISAGREEMENTS_PER_CODE]:
                unit = d["units"][e["unit"]]
                who = "; ".join(f"{c}: {m}" for c, m in _marks(e["coders"]))
                where = f"{unit['transcript']} {unit['start']}–{unit['end']}" if unit["transcript"] else e["unit"]
                out.append(f"- **{where}** ({who})" + (f": {_short(unit['text'], 200)}" if unit["text"] else ""))
            if len(entries) > MD_DISAGREEMENTS_PER_CODE:
                out.append(f"- … and {len(entries) - MD_DISAGREEMENTS_PER_CODE} more (report.html, report.json)")
            out.append("")
    return out


def stability_rows(stability: Stability) -> tuple[list[str], list[list[str]]]:
    header = ["runs", "n", "κ macro", "κ macro CI", "κ micro", "Po micro", "AC1 micro", "α micro"]
    rows = [[k, _num(p.n_units), _num(p.kappa_macro), _ci(p.ci, "kappa_macro"), _num(p.kappa_micro),
             _num(p.po_micro), _num(p.ac1_micro), _num(p.alpha_micro)] for k, p in stability.pairs.items()]
    return header, rows


def group_rows_table(groups: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["coder", "code", *groups["groups"]]
    rows = []
    for coder, codes in groups["table"].items():
        for code, cells in codes.items():
            if not any(c["units"] for c in cells.values()):
                continue
            rows.append([coder, code] + [
                "–" if cells[g]["share"] is None else f"{cells[g]['share']:.0%} ({_num(cells[g]['units'])})"
                for g in groups["groups"]])
    return header, rows


# -- html -------------------------------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#1d2330;line-height:1.45}
h1,h2,h3{line-height:1.2}h2{border-bottom:2px solid #dde3ee;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.85rem}th,td{border:1px solid #d6dbe6;padding:.25rem .45rem;
vertical-align:top}th{background:#eef2f8;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.ci{white-space:nowrap}
.lk-poor,.lk-slight{background:#fde2e1}.lk-fair{background:#fdf0d8}.lk-moderate{background:#fbf7d5}
.lk-substantial{background:#e4f4dc}.lk-almost-perfect{background:#cfeec3}.lk-undefined{background:#eee;color:#666}
.unit{border-left:3px solid #b8c4d9;margin:.5rem 0 .9rem;padding:.2rem .7rem}.q{color:#5a6475;font-style:italic}
.yes{color:#1a7f37;font-weight:600}.no{color:#b42318;font-weight:600}.unseen{color:#777}
.wide{overflow-x:auto}details{margin:.5rem 0}summary{cursor:pointer;font-weight:600}img{max-width:100%}
.muted{color:#5a6475}.caveat{background:#fff8e1;border-left:3px solid #e0a800;padding:.2rem .6rem;margin:.4rem 0}
"""


def _cell(value: str, header: str) -> str:
    cls = ""
    if header == "Landis–Koch":
        cls = f' class="lk-{value.replace(" ", "-")}"'
    elif header in ("κ", "Fleiss κ", "Po", "PABAK", "AC1", "α", "n", "n units", "P", "R", "F1"):
        cls = ' class="num"'
    elif "CI" in header:
        cls = ' class="ci"'
    return f"<td{cls}>{escape(str(value)).replace(chr(10), '<br>')}</td>"


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(c, h) for c, h in zip(row, header, strict=True)) + "</tr>" for row in rows)
    return f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def _html_level(report: EvalReport, name: str, plots: dict[str, bytes]) -> str:
    level = report.by_level[name]
    parts = [f"<p class='caveat'>{escape(n)}</p>" for n in method_notes(report, level)]
    header = overview_header(level, report.gold, report.reference)
    keys = pair_keys_by_section(level, report.machine_coders, report.reference)
    notes: list[str] = []
    for kind, rows in overview_sections(level, report.gold, report.coders, report.machine_coders, report.reference):
        parts.append(f"<h3>{escape(section_title(kind, report.reference))}</h3>")
        parts.append(_html_table(header, rows))
        if kind == "all" or level.pairs is None:
            if name in plots:
                parts.append(f'<img alt="per-code kappa, {escape(name)} level" src="{data_uri(plots[name])}">')
            code_header, code_rows, notes = code_table(level.codes, report.gold is not None)
            parts.append(_html_table(code_header, code_rows))
            nominal = level.overall.nominal
            if nominal is not None:
                parts.append(f"<p>{escape(_nominal_line(nominal))}</p>")
            continue
        for key in keys.get(kind, []):
            pair = (level.pairs or {})[key]
            h, r, pair_notes = code_table(pair.codes, pair.gold is not None)
            opened = " open" if report.reference else ""
            parts.append(f"<details{opened}><summary>Pair {escape(key)}</summary>{_html_table(h, r)}</details>")
            if report.reference:
                notes += [f"{key}: {n}" for n in pair_notes]
    if level.ordinal is not None:
        parts.append(f"<p>{escape(ordinal_line(level))}</p>")
    if notes:
        parts.append(f"<details><summary>Notes and undefined values ({len(notes)})</summary><ul>"
                     + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul></details>")
    return "".join(parts)


def _html_disagreements(report: EvalReport) -> str:
    d = report.disagreements
    if not any(entries for entries in d["codes"].values()):
        return "<p>The coders agree on every unit they share.</p>"
    labels = report.by_level[d["level"]].codes
    parts = ["<p class='muted'>For each code, the units on which the coders who saw them disagree, with the "
             "interviewer's question, the text, and which coder applied the code. This is the part to act on: "
             "sharpen a definition, add an inclusion or exclusion rule, or correct a coding.</p>"]
    if report.reference:
        parts.append(f"<p>Units on which a coder differs from the reference, {escape(report.reference)}.</p>")
    for title, listed in disagreement_groups(report):
        if title is not None:
            total = sum(len(e) for _, e in listed)
            parts.append(f"<h3>{escape(title)} — {total} unit(s) in {len(listed)} code(s)</h3>")
            if not listed:
                parts.append("<p>None.</p>")
        for code, entries in listed:
            units = []
            for e in entries[:HTML_DISAGREEMENTS_PER_CODE]:
                unit = d["units"][e["unit"]]
                marks = "; ".join(
                    f"<span class='{ {'applied': 'yes', 'not applied': 'no'}.get(m, 'unseen') }'>{escape(c)}: {m}</span>"
                    for c, m in _marks(e["coders"]))
                where = f"{unit['transcript']} {unit['start']}–{unit['end']}" if unit["transcript"] else e["unit"]
                question = (f"<div class='q'>Q: {escape(_short(unit['question'], 400))}</div>" if unit["question"]
                            else "")
                text = f"<div>{escape(_short(unit['text']))}</div>" if unit["text"] else ""
                units.append(f"<div class='unit'><div><b>{escape(where)}</b> — {marks}</div>{question}{text}</div>")
            more = len(entries) - HTML_DISAGREEMENTS_PER_CODE
            if more > 0:
                units.append(f"<p class='muted'>… and {more} more in report.json</p>")
            label = labels[code].label if code in labels else code
            parts.append(f"<details><summary>{escape(label)} ({escape(code)}) — {len(entries)} unit(s)</summary>"
                         + "".join(units) + "</details>")
    return "".join(parts)


def render_html(report: EvalReport, plots: dict[str, bytes]) -> str:
    inputs = _html_table(["kind", "source", "coders", "rows", "codes kept"],
                         [[i.kind, i.source, ", ".join(i.coders), str(i.rows), str(i.applications)]
                          for i in report.inputs])
    codebook = (f"{report.codebook['name']} v{report.codebook['version']}" if report.codebook
                else "none (codes compared as applied)")
    body = [f"<h1>Agreement report</h1><p class='muted'>Generated {report.generated_at:%Y-%m-%d %H:%M} UTC by "
            "precode eval. Machine-readable: report.json.</p>",
            "<h2>Unit of analysis</h2>", f"<p>{escape(report.unit['description'])}</p>",
            "<h2>Inputs</h2>", inputs,
            f"<p>Coders: {escape(', '.join(report.coders))}. Gold coder: {escape(report.gold or 'none')}. "
            f"Codebook: {escape(codebook)}. Levels: {escape(', '.join(report.levels))}. Bootstrap: "
            f"{report.bootstrap['replicates']} replicates (seed {report.bootstrap['seed']}), resampling "
            f"{escape(report.bootstrap['resampling'])}.</p>"]
    if report.reference:
        body.append(f"<p><b>{escape(reference_line(report))}</b></p>")
    if report.problems:
        body.append(f"<details><summary>Problems in the inputs ({len(report.problems)})</summary><ul>"
                    + "".join(f"<li><code>{escape(p.source)}</code>: {escape(p.message)}</li>" for p in report.problems)
                    + "</ul></details>")
    body.append(f"<h2>Agreement at the {escape(report.level)} level</h2>"
                "<p class='muted'>Codes sorted by kappa; the colour is the Landis &amp; Koch (1977) band. "
                "Undefined values (–) have their reason under Notes. A high Po with a low kappa on a rare code is the "
                "prevalence paradox: read AC1 and PABAK beside it.</p>")
    body.append(_html_level(report, report.level, plots))
    for name in report.levels:
        if name != report.level:
            body.append(f"<details><summary>Agreement at the {escape(name)} level</summary>"
                        f"{_html_level(report, name, plots)}</details>")
    body.append(f"<h2>Disagreements ({escape(report.disagreements['level'])} level)</h2>")
    body.append(_html_disagreements(report))
    if report.stability:
        body.append("<h2>Stability across runs</h2><p class='muted'>Agreement of repeated machine runs with each "
                    "other: how much of the machine's coding is reproducible.</p>")
        body.append(_html_table(*stability_rows(report.stability)))
    if report.groups:
        body.append(f"<h2>Groups ({escape(report.groups['field'])}, {escape(report.groups['level'])} level)</h2>"
                    "<p class='muted'>Share of participants in each group with at least one unit coded (units in "
                    "brackets). All levels are in groups.csv beside this report.</p>")
        if "groups" in plots:
            body.append(f'<img alt="codes per group heatmap" src="{data_uri(plots["groups"])}">')
        body.append(f"<details><summary>Table</summary>{_html_table(*group_rows_table(report.groups))}</details>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>precode agreement report</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>")


def make_plots(report: EvalReport, group_png: bytes | None) -> dict[str, bytes]:
    plots: dict[str, bytes] = {}
    for name in report.levels:
        png = kappa_plot(report.by_level[name], f"Per-code kappa, {name} level")
        if png is not None:
            plots[name] = png
    if group_png is not None:
        plots["groups"] = group_png
    return plots


def summary_tables(report: EvalReport) -> tuple[str, str]:
    """The compact summary for a methods section — one row per comparison at the main level — as CSV and
    as a LaTeX tabular (booktabs)."""
    level = report.by_level[report.level]
    header, rows = overview_rows(level, report.gold, report.coders, report.machine_coders, report.reference)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)

    def tex(cell: str) -> str:
        for a, b in (("\\", "\\textbackslash{}"), ("&", "\\&"), ("%", "\\%"), ("_", "\\_"), ("#", "\\#"),
                     ("κ", "$\\kappa$"), ("α", "$\\alpha$"), ("–", "--"), ("|", "\\textbar{}")):
            cell = cell.replace(a, b)
        return cell

    notes = " ".join([*method_notes(report, level), *([reference_line(report)] if report.reference else []),
                      *([ordinal_line(level)] if level.ordinal is not None else [])])
    lines = ["% precode eval: agreement at the " + tex(report.level) + " level. " + tex(notes),
             "\\begin{tabular}{l" + "r" * (len(header) - 1) + "}", "\\toprule",
             " & ".join(tex(h) for h in header) + " \\\\", "\\midrule"]
    lines += [" & ".join(tex(str(c)) for c in row) + " \\\\" for row in rows]
    lines += ["\\bottomrule", "\\end{tabular}", ""]
    return buffer.getvalue(), "\n".join(lines)


def write_report(report: EvalReport, out: Path, group_png: bytes | None = None,
                 groups_csv: str | None = None) -> list[Path]:
    """Render everything, then write it into `out`; returns the files written."""
    plots = make_plots(report, group_png)
    plot_files = {name: f"kappa_{name}.png" if name != "groups" else "groups.png" for name in plots}
    files: dict[str, str | bytes] = {
        "report.json": report.model_dump_json(indent=2),
        "report.md": render_markdown(report, plot_files),
        "report.html": render_html(report, plots),
        **{plot_files[name]: png for name, png in plots.items()},
    }
    if groups_csv is not None:
        files["groups.csv"] = groups_csv
    files["summary.csv"], files["summary.tex"] = summary_tables(report)
    out.mkdir(parents=True, exist_ok=True)
    mode = 0o666 & ~_umask()
    with ExitStack() as stack:  # every file is written to a temp file first; all are renamed only if all succeed
        for name, content in files.items():
            tmp = stack.enter_context(atomic_output(out / name))
            if isinstance(content, bytes):
                tmp.write_bytes(content)
            else:
                tmp.write_text(content, encoding="utf-8")
            tmp.chmod(mode)  # temp files are private; a report is as readable as any file the user writes
    return [out / name for name in files]


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
