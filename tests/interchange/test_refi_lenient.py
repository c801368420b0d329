"""Lenient where real tools are sloppy (issue 14): shared GUIDs with skipped elements, bare plainTextPaths, BOMs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from refi_fixtures import make_qdpx, table_counts

from pipeline.errors import PrecodeError
from pipeline.interchange.qdpx_import import import_qdpx
from pipeline.interchange.qdpx_read import read_qdpx

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "qdpx"
U = "00000000-0000-4000-8000-0000000000a1"
CODE = "00000000-0000-4000-8000-0000000000c1"
TEXT = "Interviewer: Why?\nP1: The pump is hard to use at night.\n"


def _project(sources: str) -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><Project xmlns="urn:QDA-XML:project:1.0" name="p" '
            f'origin="ATLAS.ti 23.2"><Users><User guid="{U}" name="Ann"/></Users><CodeBook><Codes>'
            f'<Code guid="{CODE}" name="Usability" isCodable="true" color="#FF0000"/></Codes></CodeBook>'
            f"<Sources>{sources}</Sources></Project>")


def _selection(guid: str, start: int, end: int, coding: str, tag: str = "PlainTextSelection", extra: str = "") -> str:
    return (f'<{tag} guid="{guid}" name="s" startPosition="{start}" endPosition="{end}" {extra} creatingUser="{U}">'
            f'<Coding guid="{coding}" creatingUser="{U}"><CodeRef targetGUID="{CODE}"/></Coding></{tag}>')


def test_a_pdf_selection_sharing_its_guid_with_a_text_selection_is_accepted_with_a_warning(fresh, tmp_path):
    shared = "5e1ec700-0000-4000-8000-000000000001"
    start = TEXT.index("hard to use")
    pdf = ('<PDFSource guid="00000000-0000-4000-8000-0000000000d1" name="Protocol.pdf" path="internal://p.pdf">'
           + _selection(shared, 0, 5, "c0d00000-0000-4000-8000-000000000009", "PDFSelection",
                        'page="0" firstX="1" firstY="1" secondX="2" secondY="2"').replace(' startPosition="0" endPosition="5"', "")
           + "</PDFSource>")
    text = (f'<TextSource guid="00000000-0000-4000-8000-0000000000d2" name="Protocol.txt"><PlainTextContent>{TEXT}'
            f"</PlainTextContent>{_selection(shared, start, start + 11, 'c0d00000-0000-4000-8000-000000000001')}"
            "</TextSource>")
    path = make_qdpx(tmp_path / "atlas.qdpx", _project(pdf + text))
    report = import_qdpx(fresh, path)
    assert report.annotations_new == 1
    warning = next(w for w in report.warnings if shared.upper() in w.upper())
    assert "<PlainTextSelection" in warning and "<PDFSelection> at line" in warning and "skipped" in warning
    # two text selections with one GUID are still refused
    twice = text.replace("</TextSource>", _selection(shared, 0, 5, "c0d00000-0000-4000-8000-000000000002")
                         + "</TextSource>")
    with pytest.raises(PrecodeError, match=f"duplicate GUID {shared}"):
        read_qdpx(make_qdpx(tmp_path / "twice.qdpx", _project(twice)))


@pytest.mark.parametrize("member", ["sources/board_2017.txt", "Sources/board_2017.txt", "board_2017.txt"])
def test_a_bare_relative_plain_text_path_is_read_from_the_archive(fresh, tmp_path, member):
    start = TEXT.index("pump")
    source = (f'<TextSource guid="00000000-0000-4000-8000-0000000000d3" name="Board 2017" plainTextPath="board_2017.txt">'
              f"{_selection('5e1ec700-0000-4000-8000-000000000003', start, start + 4, 'c0d00000-0000-4000-8000-000000000003')}"
              "</TextSource>")
    path = make_qdpx(tmp_path / "bare.qdpx", _project(source), {member: TEXT.encode()})
    report = import_qdpx(fresh, path)
    assert len(report.sources) == 1 and report.annotations_new == 1
    assert any("plainTextPath 'board_2017.txt' has no internal:// prefix" in w for w in report.warnings)
    row = fresh.db.conn.execute('SELECT a.start, a."end", t.text FROM annotations a JOIN transcripts t '
                                "ON t.id = a.transcript_id").fetchone()
    assert row["text"][row["start"]:row["end"]] == "pump"


def test_a_bare_path_missing_from_the_archive_is_skipped_not_silently_dropped(fresh, tmp_path):
    source = '<TextSource guid="00000000-0000-4000-8000-0000000000d4" name="Gone" plainTextPath="gone.txt"/>'
    report = import_qdpx(fresh, make_qdpx(tmp_path / "gone.qdpx", _project(source)))
    assert report.sources == [] and any("gone.txt: not in the archive's sources/ folder" in s for s in report.skipped)
    assert table_counts(fresh)["transcripts"] == 0


@pytest.mark.parametrize("fixture, source", [("positions_bom_crlf.qdpx", "bom_crlf"),
                                             ("positions_v2.qdpx", "bom_crlf"), ("positions_v2.qdpx", "nobom_crlf")])
def test_bom_convention_is_detected_from_selections_that_would_split_a_character(fixture, source):
    expected = json.loads((FIXTURES / "positions_expected.json").read_text(encoding="utf-8"))[source]
    project = read_qdpx(FIXTURES / fixture)
    read = next(s for s in project.sources if s.name == f"{source}.txt")
    shift = 1 if source == "bom_crlf" else 0
    assert [(s.start, s.end) for s in read.selections] == [(e["start"] - shift, e["end"] - shift) for e in expected]
    assert [read.text[s.start:s.end] for s in read.selections] == [e["text"] for e in expected]
    assert any("count the byte-order mark" in w and read.guid in w.lower() for w in project.warnings) == bool(shift)
