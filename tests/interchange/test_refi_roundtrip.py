"""import(export(p)) gives the same sources, codes and codings (per user: transcript, span, code id)."""

from __future__ import annotations

import pytest

from pipeline.codebook import load_codebook
from pipeline.interchange.codings import select_codings
from pipeline.interchange.qdc import Matched
from pipeline.interchange.qdpx_import import SourceStatus, import_qdpx
from pipeline.interchange.qdpx_write import write_qdpx
from pipeline.interchange.refi import machine_user_name
from pipeline.project import init_project


def _expected_codings(project, include_all):
    codings = select_codings(project, include_all=include_all)
    machine = machine_user_name(codings.run.coder, codings.run.model)
    names = {tid: t.name for tid, t in codings.transcripts.items()}
    return {(c.reviewer or machine, names[c.suggestion.transcript_id], c.start, c.end, c.code_id)
            for c in codings.codings}


def _imported_codings(project):
    names = {t.id: t.name for t in project.db.current_transcripts()}
    rows = project.db.conn.execute('SELECT coder, transcript_id, start, "end", code_id FROM annotations')
    return {(r["coder"], names[r["transcript_id"]], r["start"], r["end"], r["code_id"]) for r in rows}


@pytest.mark.parametrize("include_all", [False, True], ids=["accepted", "all"])
def test_round_trip_keeps_sources_codes_and_codings(reviewed, tmp_path, include_all):
    source_project = reviewed.project
    path = tmp_path / "round trip.qdpx"
    write_qdpx(source_project, path, include_all=include_all)
    target, _ = init_project(tmp_path / "imported")
    report = import_qdpx(target, path)

    # sources: same names, same text, same metadata
    before = {t.name: (t.text, t.metadata.participant_id, t.metadata.group, t.metadata.site, t.metadata.date)
              for t in source_project.db.current_transcripts()}
    after = {t.name: (t.text, t.metadata.participant_id, t.metadata.group, t.metadata.site, t.metadata.date)
             for t in target.db.current_transcripts()}
    assert after == before
    assert all(s.status is SourceStatus.new for s in report.sources)

    # codes: every code back under its own id, label and parent
    nasss = load_codebook("nasss")
    assert all(m.matched is Matched.precode_id for m in report.codes)
    rows = target.db.conn.execute("SELECT guid, parent_guid, name, code_id FROM refi_codes").fetchall()
    by_guid = {r["guid"]: r for r in rows}
    tree = {r["code_id"]: (r["name"], by_guid[r["parent_guid"]]["code_id"] if r["parent_guid"] else None)
            for r in rows}
    assert tree == {c.id: (c.label, c.parent) for c in nasss.codes}

    # codings: per user, the same transcript, span and code
    expected = _expected_codings(source_project, include_all)
    assert _imported_codings(target) == expected
    assert len(expected) == sum(report.coders.values())
    coders = set(report.coders)
    assert {"Alice Ngata", "Bo Lindqvist"} <= coders
    assert (machine_user_name(reviewed.run.coder, reviewed.run.model) in coders) == include_all

    target.close()
