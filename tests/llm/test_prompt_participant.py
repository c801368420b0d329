"""The participant's group and role from transcript metadata reach prompt code.v2 (issue 11),
through the coding context; prompt code.v1 is unchanged by them."""

from __future__ import annotations

from llm_helpers import USABILITY, code, code_llm, coding

from pipeline.coders.llm import participant
from pipeline.models import RunStatus, TranscriptMetadata

GOOD = coding({"clicking through": [code(USABILITY, "By week three people were clicking through without reading anything.")]})


def test_the_participants_group_and_role_from_metadata_are_in_the_v2_prompt(stub, make_project, tmp_path):
    (tmp_path / "metadata.csv").write_text(
        "file,participant_id,group,site,role\n" + "".join(
            f"interview_{n}.txt,P{n},ICU nurses,site A,charge nurse\n" for n in range(3)), encoding="utf-8")
    stub.handler = GOOD
    project = make_project(prompt="code.v2", batch_size=4)
    (transcript,) = project.db.current_transcripts()
    assert transcript.metadata.group == "ICU nurses"  # the sidecar was read at ingest
    run = code_llm(project)
    assert run.status is RunStatus.completed
    (body,) = stub.bodies
    user = body["messages"][1]["content"]
    assert user.count('participant="ICU nurses, charge nurse"') == 4  # every segment of the request
    assert "P0" not in user and "site A" not in user  # only the group and role, not who or where


def test_without_metadata_or_with_code_v1_no_participant_is_sent(stub, make_project):
    stub.handler = GOOD
    project = make_project(prompt="code.v2", batch_size=4)
    code_llm(project)
    assert "participant=" not in stub.bodies[0]["messages"][1]["content"]


def test_participant_wording():
    assert participant(None) is None
    assert participant(TranscriptMetadata(group="GP", extra={"Role": "partner"})) == "GP, partner"
    assert participant(TranscriptMetadata(participant_id="P1", site="X")) is None
