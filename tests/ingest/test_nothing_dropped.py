"""Nothing in a supported file is dropped silently: Word tables and text boxes, VTT/SRT cues with bad
times, metadata.csv problems, lower-case speaker ids, Word lock files."""

from __future__ import annotations

from pathlib import Path

import pytest
from docx import Document
from docx.oxml import parse_xml

from pipeline.errors import PrecodeError
from pipeline.ingest import IngestStatus, ingest_paths, read_metadata_table
from pipeline.ingest.readers import read_transcript
from pipeline.models import SegmentRole
from pipeline.project import init_project
from pipeline.settings import IngestSettings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts"

_TEXTBOX = (
    '<w:r xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:v="urn:schemas-microsoft-com:vml">'
    '<w:pict><v:shape><v:textbox><w:txbxContent><w:p><w:r><w:t>P2: The text box answer about the pager alerts.</w:t>'
    '</w:r></w:p></w:txbxContent></v:textbox></v:shape></w:pict></w:r>'
)


def make_word_transcript(path: Path) -> Path:
    """A Word transcript as transcription services deliver them: header/footer, a speaker table, a text box."""
    doc = Document()
    doc.sections[0].header.paragraphs[0].text = "CONFIDENTIAL – Study XY-12 – header text"
    doc.sections[0].footer.paragraphs[0].text = "Page footer text"
    doc.add_paragraph("Interview 7, ward 3, 12 March 2026")
    doc.add_paragraph("Interviewer: How did the rollout go?")
    doc.add_paragraph("P2: Slowly. Nobody had time for the training sessions.")
    table = doc.add_table(rows=4, cols=3)
    for row, values in zip(table.rows, [("Time", "Speaker", "Text"),
                                        ("00:01:10", "Interviewer", "And the alerts themselves?"),
                                        ("00:01:15", "P2", "The table answer: alerts came at handover and were ignored."),
                                        ("00:01:40", "Interviewer", "Why at handover?")]):
        for cell, value in zip(row.cells, values):
            cell.text = value
    notes = doc.add_table(rows=1, cols=2)
    notes.rows[0].cells[0].text = "Observation"
    notes.rows[0].cells[1].text = "The plain cell answer: the ward manager nodded throughout."
    anchor = doc.add_paragraph("P2: Because the batch job ran at seven. ")
    anchor._p.append(parse_xml(_TEXTBOX))
    doc.add_paragraph("Interviewer: Thank you.")
    doc.save(path)
    return path


def test_word_tables_and_text_boxes_are_read_in_order_headers_and_footers_are_not(tmp_path: Path):
    parsed = read_transcript(make_word_transcript(tmp_path / "interview7.docx"), IngestSettings())
    text = parsed.text
    assert "header text" not in text and "footer text" not in text
    order = ["How did the rollout go?", "And the alerts themselves?", "The table answer", "Why at handover?",
             "The plain cell answer", "Because the batch job", "The text box answer"]
    positions = [text.index(p) for p in order]
    assert positions == sorted(positions)
    turns = [(t.speaker, text[t.start:t.end]) for t in parsed.turns]
    assert ("P2", "The table answer: alerts came at handover and were ignored.") in turns
    assert any(s == "Interviewer" and b.startswith("Why at handover?") for s, b in turns)
    table_turn = next(t for t in parsed.turns if text[t.start:t.end].startswith("The table answer"))
    assert table_turn.timestamp == "00:01:15"


def test_vtt_cue_with_out_of_range_time_is_kept_with_a_warning_naming_the_line(tmp_path: Path):
    path = tmp_path / "bad_times.vtt"
    path.write_text("WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Anna Berg>How did it start?</v>\n\n"
                    "00:61:08.000 --> 00:61:10.000\n<v Jonas Lind>It started with the night shift alerts.</v>\n\n"
                    "99:99:99.000 --> 99:99:99.500\n<v Anna Berg>And then?</v>\n\n"
                    "00:01:00.000 --> 00:01:02.000\n<v Jonas Lind>Then nobody trusted them.</v>\n", encoding="utf-8")
    parsed = read_transcript(path, IngestSettings())
    assert "It started with the night shift alerts." in parsed.text and "And then?" in parsed.text
    assert any(w.startswith("line 6: cue time '00:61:08.000") for w in parsed.warnings)
    assert any(w.startswith("line 9: cue time '99:99:99.000") for w in parsed.warnings)
    project, _ = init_project(tmp_path / "p")
    [result] = ingest_paths(project, [path])
    assert result.status is IngestStatus.ingested and any("line 6" in w for w in result.warnings)


def test_srt_cue_with_out_of_range_time_is_kept_with_a_warning(tmp_path: Path):
    path = tmp_path / "bad_times.srt"
    path.write_text("1\n00:00:01,000 --> 00:00:04,000\nAnna: How did it start?\n\n"
                    "2\n00:61:08,000 --> 00:61:10,000\nJonas: With the alerts.\n", encoding="utf-8")
    parsed = read_transcript(path, IngestSettings())
    assert "With the alerts." in parsed.text
    assert any(w.startswith("line 6: cue time") for w in parsed.warnings)
    assert [t.timestamp for t in parsed.turns] == ["00:00:01,000", None]


def _two_files(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("P01", "P02"):
        (folder / f"{name}.txt").write_text(f"Interviewer: Why?\n{name}: Because of the alerts.\n", encoding="utf-8")


def test_duplicate_metadata_rows_are_an_error_naming_both_lines(tmp_path: Path):
    _two_files(tmp_path / "c")
    (tmp_path / "c" / "metadata.csv").write_text("file,group\nP01.txt,HCP\nP02.txt,HCP\nP01.txt,AI expert\n",
                                                 encoding="utf-8")
    project, _ = init_project(tmp_path / "p")
    with pytest.raises(PrecodeError, match=r"line 4: 'P01.txt' is listed again \(first on line 2\)"):
        ingest_paths(project, [tmp_path / "c"])


def test_metadata_row_for_an_unknown_file_is_reported(tmp_path: Path):
    _two_files(tmp_path / "c")
    (tmp_path / "c" / "metadata.csv").write_text("file,group\nP01.txt,HCP\nP09.txt,HCP\n", encoding="utf-8")
    project, _ = init_project(tmp_path / "p")
    results = ingest_paths(project, [tmp_path / "c"])
    notes = [r.message for r in results if r.path.endswith("metadata.csv")]
    assert notes == ["line 3: no transcript file 'P09.txt' was ingested; the row is not used"]


def test_semicolon_delimited_cp1252_metadata_is_read_with_a_warning(tmp_path: Path):
    _two_files(tmp_path / "c")
    (tmp_path / "c" / "metadata.csv").write_bytes("file;group;site\nP01.txt;HCP;Malmö\nP02.txt;AI;Jyväskylä\n"
                                                  .encode("cp1252"))
    table = read_metadata_table(tmp_path / "c" / "metadata.csv")
    assert [(r.key, r.metadata.group, r.metadata.site) for r in table.rows] == [
        ("P01.txt", "HCP", "Malmö"), ("P02.txt", "AI", "Jyväskylä")]
    assert table.warnings and "not UTF-8" in table.warnings[0]
    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [tmp_path / "c"])
    sites = {t.name: t.metadata.site for t in project.db.current_transcripts()}
    assert sites == {"P01": "Malmö", "P02": "Jyväskylä"}


def test_site_folders_each_with_their_own_metadata(tmp_path: Path):
    for site, group in (("siteA", "HCP"), ("siteB", "AI expert")):
        _two_files(tmp_path / "c" / site)
        (tmp_path / "c" / site / "metadata.csv").write_text(f"file,group\nP01.txt,{group}\nP02.txt,{group}\n",
                                                            encoding="utf-8")
    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [tmp_path / "c"])
    groups = {t.name: t.metadata.group for t in project.db.current_transcripts()}
    assert groups == {"siteA/P01": "HCP", "siteA/P02": "HCP", "siteB/P01": "AI expert", "siteB/P02": "AI expert"}


@pytest.mark.parametrize("label", ["pim-01", "p3", "int_02"])
def test_lower_case_speaker_ids_are_recognised(tmp_path: Path, label: str):
    path = tmp_path / "t.txt"
    path.write_text(f"Interviewer: How did it go?\n{label}: It went well overall.\n"
                    f"Interviewer: And then?\n{label}: Then we stopped.\n", encoding="utf-8")
    parsed = read_transcript(path, IngestSettings())
    assert [(t.speaker, parsed.text[t.start:t.end]) for t in parsed.turns] == [
        ("Interviewer", "How did it go?"), (label, "It went well overall."), ("Interviewer", "And then?"),
        (label, "Then we stopped.")]


def test_word_lock_files_are_skipped_with_a_note(tmp_path: Path):
    folder = tmp_path / "c"
    _two_files(folder)
    (folder / "~$interview.docx").write_bytes(b"\x08Maria   \x00\x00")  # what Word leaves while a file is open
    project, _ = init_project(tmp_path / "p")
    results = {Path(r.path).name: r for r in ingest_paths(project, [folder])}
    lock = results["~$interview.docx"]
    assert lock.status is IngestStatus.skipped and "lock file" in lock.message
    assert not [r for r in results.values() if r.status is IngestStatus.failed]
    [given] = ingest_paths(project, [folder / "~$interview.docx"])
    assert given.status is IngestStatus.skipped


def test_word_file_with_a_speaker_table_is_segmented_by_role(tmp_path: Path):
    project, _ = init_project(tmp_path / "p")
    ingest_paths(project, [make_word_transcript(tmp_path / "interview7.docx")])
    participant = project.db.segments(role=SegmentRole.participant)
    assert any(s.text.startswith("The table answer") and s.context == "And the alerts themselves?" for s in participant)


_FOOTNOTES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<w:footnotes xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
    '<w:footnote w:id="1"><w:p><w:r><w:t>P2 added later: the alerts were switched off at night.</w:t></w:r></w:p>'
    '</w:footnote></w:footnotes>'
)


def test_word_footnotes_are_kept_with_a_warning(tmp_path: Path):
    import zipfile

    plain = make_word_transcript(tmp_path / "plain.docx")
    path = tmp_path / "with_notes.docx"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/word/footnotes.xml" ContentType="application/'
                                    b'vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"/></Types>')
            if item.filename == "word/_rels/document.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rIdFn" Type="http://schemas.openxmlformats.'
                                    b'org/officeDocument/2006/relationships/footnotes" Target="footnotes.xml"/>'
                                    b"</Relationships>")
            dst.writestr(item, data)
        dst.writestr("word/footnotes.xml", _FOOTNOTES)
    parsed = read_transcript(path, IngestSettings())
    assert "[footnote 1] P2 added later: the alerts were switched off at night." in parsed.text
    assert any("footnote" in w for w in parsed.warnings)
    assert "separator" not in parsed.text


def test_explicit_metadata_naming_a_file_found_in_two_sites_is_refused_by_line(tmp_path: Path):
    for site in ("siteA", "siteB"):
        _two_files(tmp_path / "c" / site)
    meta = tmp_path / "all.csv"
    meta.write_text("file,group\nsiteA/P01.txt,HCP\nP02.txt,AI expert\n", encoding="utf-8")
    project, _ = init_project(tmp_path / "p")
    with pytest.raises(PrecodeError, match=r"line 3: 'P02.txt' matches 2 files \(siteA/P02.txt, siteB/P02.txt\)"):
        ingest_paths(project, [tmp_path / "c"], meta)
    meta.write_text("file,group\nsiteA/P01.txt,HCP\nsiteB/P02.txt,AI expert\n", encoding="utf-8")
    results = ingest_paths(project, [tmp_path / "c"], meta)
    groups = {t.name: t.metadata.group for t in project.db.current_transcripts()}
    assert groups == {"siteA/P01": "HCP", "siteA/P02": None, "siteB/P01": None, "siteB/P02": "AI expert"}
    assert not [r for r in results if r.path.endswith("all.csv")]
