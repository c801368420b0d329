"""Import of a foreign REFI-QDA project (as MAXQDA / NVivo write them): sources, positions, coders, codes."""

from __future__ import annotations

from lxml import etree
from refi_fixtures import (
    C_DEEP,
    C_MAT,
    C_NEW,
    C_STAFF,
    C_TECH,
    FOREIGN_S1,
    FOREIGN_S2,
    S1,
    U1,
    U2,
    table_counts,
)

from pipeline.codebook import load_codebook
from pipeline.errors import PrecodeError
from pipeline.ingest import ingest_paths
from pipeline.ingest.decode import normalize_text
from pipeline.interchange.qdc import Matched
from pipeline.interchange.qdpx_import import SourceStatus, import_qdpx


def _annotations(project):
    return project.db.conn.execute('SELECT * FROM annotations ORDER BY transcript_id, start, "end"').fetchall()


def test_the_foreign_fixture_is_a_valid_refi_project(foreign, project_schema):
    project_schema.validate(etree.fromstring(foreign.qde().encode()))


def test_imported_selection_text_equals_the_stored_text_at_the_mapped_positions(fresh, foreign, tmp_path):
    report = import_qdpx(fresh, foreign.write(tmp_path / "ward study.qdpx"), codebook="nasss")
    assert [s.name for s in report.sources] == ["Interview 1.txt", "Field note"]
    assert all(s.status is SourceStatus.new for s in report.sources)
    texts = {t.name: t.text for t in fresh.db.current_transcripts()}
    assert texts == {"Interview 1": normalize_text(FOREIGN_S1), "Field note": normalize_text(FOREIGN_S2)}
    assert "\r" not in texts["Interview 1"] and "café" in texts["Interview 1"] and "über" in texts["Field note"]
    rows = {r["note"]: r for r in _annotations(fresh)}  # each selection has its own memo
    names = {t.id: t.name for t in fresh.db.current_transcripts()}
    assert len(rows) == len(_annotations(fresh)) == len(foreign.selections)
    for n, (_, source, phrase, _, _) in enumerate(foreign.selections):
        start, end = foreign.span(source, phrase)
        raw = FOREIGN_S1 if source == S1 else FOREIGN_S2
        assert raw[start:end] == phrase  # positions count code points in the raw text (😀 is one)
        row = rows[f"memo {n}"]
        stored = texts[names[row["transcript_id"]]][row["start"]:row["end"]]
        if phrase == "cafe":  # ends between 'e' and its combining accent: widened to the composed 'é'
            assert stored == "café"
        else:
            assert stored == normalize_text(phrase)


def test_each_refi_user_becomes_a_coder_and_codes_map_to_the_codebook(fresh, foreign, tmp_path):
    report = import_qdpx(fresh, foreign.write(tmp_path / "w.qdpx"), codebook="nasss")
    assert report.coders == {"Dana Okafor": 3, "Eli Brandt": 3}
    by_coder = {}
    for row in _annotations(fresh):
        by_coder.setdefault(row["coder"], set()).add(row["code_id"])
        assert row["source"] == "qdpx:w.qdpx"
    assert by_coder == {"Dana Okafor": {"technology.alarm_fatigue", "adopters.staff"},
                        "Eli Brandt": {"technology.material_properties", "technology",
                                       "technology.alarm_fatigue.night_shifts"}}
    mapping = {m.guid: (m.code_id, m.matched) for m in report.codes}
    assert mapping[C_TECH] == ("technology", Matched.label)
    assert mapping[C_MAT] == ("technology.material_properties", Matched.label)
    assert mapping[C_STAFF] == ("adopters.staff", Matched.id)
    assert mapping[C_NEW] == ("technology.alarm_fatigue", Matched.new)
    assert [c.path for c in report.unmatched_codes] == ["Technology > Alarm fatigue",
                                                        "Technology > Alarm fatigue > Night shifts"]
    users = fresh.db.conn.execute("SELECT guid, name, coder FROM refi_users ORDER BY name").fetchall()
    assert [tuple(u) for u in users] == [(U1.strip("{}").lower(), "Dana Okafor", "Dana Okafor"),
                                         (U2, "Eli Brandt", "Eli Brandt")]
    colours = dict(fresh.db.conn.execute("SELECT name, color FROM refi_codes").fetchall())
    assert colours["Technology"] == "#AA0000" and colours["Alarm fatigue"] is None
    tree = dict(fresh.db.conn.execute("SELECT guid, parent_guid FROM refi_codes").fetchall())
    assert tree[C_DEEP] == C_NEW and tree[C_NEW] == C_TECH and tree[C_TECH] is None


def test_metadata_comes_from_source_and_case_variables(fresh, foreign, tmp_path):
    import_qdpx(fresh, foreign.write(tmp_path / "w.qdpx"))
    meta = {t.name: t.metadata for t in fresh.db.current_transcripts()}
    assert meta["Interview 1"].participant_id == "P1" and meta["Interview 1"].group == "HCP"
    assert meta["Interview 1"].extra == {"case": "Nurse 1", "Years in post": "11"}
    assert meta["Field note"].participant_id is None


def test_imported_sources_are_segmented_like_ingested_ones(fresh, foreign, tmp_path):
    import_qdpx(fresh, foreign.write(tmp_path / "w.qdpx"))
    interview = [t for t in fresh.db.current_transcripts() if t.name == "Interview 1"][0]
    assert [turn.speaker for turn in interview.turns] == ["Interviewer", "P1", "Interviewer", "P1"]
    segments = fresh.db.segments([interview.id])
    assert [s.role.value for s in segments] == ["interviewer", "participant", "interviewer", "participant"]
    assert all(interview.text[s.start:s.end] == s.text for s in segments)
    assert interview.format == "qdpx" and interview.source_path.endswith(f"#{S1}")


def test_non_text_sources_and_whole_document_codings_are_reported_and_skipped(fresh, foreign, tmp_path):
    report = import_qdpx(fresh, foreign.write(tmp_path / "w.qdpx"))
    skipped = "\n".join(report.skipped)
    for expected in ("PDF source 'Protocol'", "and its 1 selection(s)", "picture source 'Ward photo'",
                     "audio source 'Recording'", "video source 'Video'", "text source 'Linked file'",
                     "outside the archive (relative:///transcripts/linked.txt)",
                     "1 coding(s) of the whole of source 'Interview 1.txt'"):
        assert expected in skipped
    assert table_counts(fresh)["transcripts"] == 2
    # notes are no longer skipped (issue 14): kept whole for an export back
    assert "<Notes>" not in skipped
    assert fresh.db.conn.execute("SELECT guid FROM refi_notes").fetchall()[0][0] == "a0be0000-0000-4000-8000-000000000001"


def test_without_a_codebook_codes_get_ids_from_their_name_path(fresh, foreign, tmp_path):
    report = import_qdpx(fresh, foreign.write(tmp_path / "w.qdpx"))
    assert report.codebook_id is None
    ids = {m.name: m.code_id for m in report.codes}
    assert ids == {"Technology": "technology", "material properties and KEY features":
                   "technology.material_properties_and_key_features", "Alarm fatigue": "technology.alarm_fatigue",
                   "Night shifts": "technology.alarm_fatigue.night_shifts", "adopters.staff": "adopters_staff"}


def test_a_source_with_the_text_of_an_ingested_transcript_reuses_it(fresh, foreign, tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "Interview 1.txt").write_bytes(FOREIGN_S1.encode("utf-8"))
    ingest_paths(fresh, [folder])
    before = table_counts(fresh)
    report = import_qdpx(fresh, foreign.write(tmp_path / "w.qdpx"))
    assert report.sources[0].status is SourceStatus.matched
    ingested = fresh.db.current_transcripts()[0 if fresh.db.current_transcripts()[0].name == "Interview 1" else 1]
    assert report.sources[0].transcript_id == ingested.id and ingested.format == "txt"
    after = table_counts(fresh)
    assert after["transcripts"] == before["transcripts"] + 1  # only the field note is new
    assert {r["transcript_id"] for r in _annotations(fresh)} >= {ingested.id}


def test_reimporting_is_idempotent_and_can_remap_codes(fresh, foreign, tmp_path):
    path = foreign.write(tmp_path / "w.qdpx")
    first = import_qdpx(fresh, path)
    counts = table_counts(fresh)
    second = import_qdpx(fresh, path, codebook="nasss")
    assert (first.annotations_new, first.annotations_updated) == (6, 0)
    assert (second.annotations_new, second.annotations_updated) == (0, 6)
    assert all(s.status is SourceStatus.matched for s in second.sources)
    after = table_counts(fresh)
    assert after["annotations"] == counts["annotations"] and after["transcripts"] == counts["transcripts"]
    assert after["refi_imports"] == 2
    codes = {r["code_id"] for r in _annotations(fresh)}
    assert "adopters.staff" in codes and "adopters_staff" not in codes  # remapped with --codebook


def test_save_codebook_writes_the_tree_as_a_draft_yaml(fresh, foreign, tmp_path):
    out = tmp_path / "ward.yaml"
    report = import_qdpx(fresh, foreign.write(tmp_path / "w.qdpx"), codebook="nasss", save_codebook=out)
    assert report.codebook_file == str(out) and out.is_file()
    assert any("field 'include'" in p for p in report.codebook_problems)
    text = out.read_text(encoding="utf-8")
    assert "id: technology.alarm_fatigue.night_shifts" in text and "parent: technology.alarm_fatigue" in text
    assert "levels:\n- domain\n- subdomain\n- theme" in text


def test_save_codebook_of_a_precode_export_is_a_valid_codebook(reviewed, fresh, tmp_path):
    from pipeline.interchange.qdpx_write import write_qdpx

    write_qdpx(reviewed.project, tmp_path / "p.qdpx")
    report = import_qdpx(fresh, tmp_path / "p.qdpx", save_codebook=tmp_path / "cb.yaml")
    assert report.codebook_problems == []
    saved, nasss = load_codebook(tmp_path / "cb.yaml"), load_codebook("nasss")
    assert [(c.id, c.parent, c.definition, c.include) for c in saved.codes] == \
        [(c.id, c.parent, c.definition, c.include) for c in nasss.codes]


def test_a_bad_codebook_option_stores_nothing(fresh, foreign, tmp_path):
    before = table_counts(fresh)
    try:
        import_qdpx(fresh, foreign.write(tmp_path / "w.qdpx"), codebook=str(tmp_path / "missing.yaml"))
    except PrecodeError as exc:
        assert "codebook file not found" in str(exc)
    else:
        raise AssertionError("expected PrecodeError")
    assert table_counts(fresh) == before


def test_a_project_without_the_refi_namespace_is_read_with_a_warning(fresh, foreign, tmp_path):
    from refi_fixtures import make_qdpx

    qde = foreign.qde().replace(' xmlns="urn:QDA-XML:project:1.0"', "")
    report = import_qdpx(fresh, make_qdpx(tmp_path / "no-ns.qdpx", qde, foreign.files()))
    assert report.annotations_new == 6
    assert any("namespace 'none'" in w for w in report.warnings)
