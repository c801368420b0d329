"""The review page's layout from 800 px up, and its keyboard details (issue 13, item 6)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .test_browser import browser, shots, snap  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow  # a real browser


def boxes_overlap(a: dict, b: dict) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def fully_visible(page: Page, selector: str) -> None:
    """On screen, inside the viewport and not cut (no ellipsis, no clipped overflow)."""
    box = page.locator(selector).bounding_box()
    view = page.viewport_size
    assert box and box["width"] > 0, selector
    assert box["x"] >= 0 and box["x"] + box["width"] <= view["width"] + 0.5, (selector, box)
    assert box["y"] >= 0 and box["y"] + box["height"] <= view["height"] + 0.5, (selector, box)
    cut = page.eval_on_selector(selector, "e => [e, ...e.querySelectorAll('*')].some(x => x.scrollWidth > x.clientWidth + 1)")
    assert not cut, f"{selector} is cut"


@pytest.fixture
def open_page(browser, server):  # noqa: F811
    contexts = []

    def open_at(width: int, height: int = 720) -> Page:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{server.url}/?token={server.token}")
        expect(page.locator("#p-text")).not_to_be_empty()
        return page
    yield open_at
    for context in contexts:
        context.close()


@pytest.mark.parametrize("width", [800, 1024, 1280])
def test_no_sideways_scroll_and_the_essentials_in_view(open_page, shots, width):  # noqa: F811
    page = open_page(width)
    page.keyboard.press("a")
    expect(page.locator("#toast")).to_contain_text("Accepted")
    page.keyboard.press("r")
    page.locator("#reject-note").fill("the exclusion rule on staff roles applies here, see the codebook")
    page.keyboard.press("Enter")
    expect(page.locator("#progress-text")).to_contain_text("2 / ")
    page.keyboard.press("f")  # the filters (a drawer below 1100 px)
    page.select_option("#f-status", "reviewed")
    page.keyboard.press("Escape")
    expect(page.locator("#f-status")).not_to_be_focused()
    expect(page.locator("#p-place")).to_contain_text("1 of 2")
    expect(page.locator("#toast")).to_be_visible()
    page.keyboard.press("j")
    expect(page.locator("#decision-status")).to_contain_text("see the codebook")
    page.keyboard.press("a")  # accept the accepted one again: a toast to look at
    expect(page.locator("#toast")).to_be_visible()
    for selector in ("#p-others", "#a-accept", "#n-next", "#progress-text", "#c-label", "#p-scroll"):
        assert not boxes_overlap(page.locator("#toast").bounding_box(), page.locator(selector).bounding_box()), selector
    expect(page.locator("#decision-status")).to_contain_text("You:")
    snap(page, shots, f"layout-{width}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate("document.body.scrollWidth") <= width
    for selector in ("#progress-text", "#reviewer", "#a-accept", "#n-next", "#p-others", "#decision-status"):
        fully_visible(page, selector)
    assert page.eval_on_selector("#decision-status", "e => e.scrollHeight <= e.clientHeight")


def test_enter_on_a_focused_button_activates_it(open_page, server):
    page = open_page(1280)
    first = page.evaluate("S.current.item.id")
    page.locator("#n-next").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#p-place")).to_contain_text("2 of ")
    page.locator("#a-accept").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#toast")).to_contain_text("Accepted")
    assert page.evaluate("S.current.item.id") != first
    assert server.reader.project.db.conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 1


def test_the_key_after_a_filter_change_is_a_review_key(open_page, server):
    page = open_page(1280)
    page.locator("#f-order").focus()
    page.keyboard.press("ArrowDown")  # the order changes to "least certain first"
    expect(page.locator("#f-order")).to_have_value("uncertainty")
    expect(page).to_have_url(re.compile("order=uncertainty"))  # the new queue is on screen
    shown = page.evaluate("S.current.item.id")
    page.keyboard.press("a")
    expect(page.locator("#toast")).to_contain_text("Accepted")
    assert [tuple(r) for r in server.reader.project.db.conn.execute("SELECT suggestion_id FROM decisions")] == [(shown,)]
    expect(page.locator("#f-order")).to_have_value("uncertainty")


def test_space_scrolls_a_long_passage(open_page):
    page = open_page(1024, 520)
    scroller = page.locator("#p-scroll")
    assert scroller.evaluate("e => e.scrollHeight > e.clientHeight + 100"), "the passage fits: pick a longer one"
    scroller.evaluate("e => e.scrollTo(0, 0)")
    page.keyboard.press(" ")
    down = scroller.evaluate("e => e.scrollTop")
    assert down > 100
    page.keyboard.press("Shift+ ")
    assert scroller.evaluate("e => e.scrollTop") < down


def test_recent_decisions_any_of_them_undone(open_page, server, shots):  # noqa: F811
    from pipeline.decisions import Action, current_decisions

    page = open_page(1280, 800)
    decided = []
    for key in ("a", "a", "r"):
        decided.append(page.evaluate("S.current.item.id"))
        page.keyboard.press(key)
        if key == "r":
            page.keyboard.press("Enter")
        expect(page.locator("#progress-text")).to_contain_text(f"{len(decided)} / ")
    page.keyboard.press("h")
    rows = page.locator("#recent-list li")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Rejected")
    snap(page, shots, "16-recent-decisions")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("u")  # the oldest: the first accept
    expect(rows).to_have_count(2)
    state = current_decisions(server.reader.project.db, server.session.run.id, "alice")
    assert decided[0] not in state and state[decided[1]].action is Action.accept
    assert state[decided[2]].action is Action.reject
    rows.nth(0).locator("button").click()  # the reject, by mouse
    expect(rows).to_have_count(1)
    assert set(current_decisions(server.reader.project.db, server.session.run.id, "alice")) == {decided[1]}
    page.keyboard.press("Enter")  # show the one left
    expect(page.locator("#overlay")).to_be_hidden()
    expect(page).to_have_url(re.compile(f"item={decided[1]}"))  # shown (the address follows the item)
    assert page.evaluate("S.current.item.id") == decided[1]


def test_a_stale_tab_does_not_override_another(open_page, server, shots):  # noqa: F811
    from pipeline.decisions import Action, current_decisions

    stale = open_page(1280)
    fresh = stale.context.new_page()
    fresh.goto(server.url + "/")
    expect(fresh.locator("#p-text")).not_to_be_empty()
    sid = stale.evaluate("S.current.item.id")
    assert fresh.evaluate("S.current.item.id") == sid
    fresh.keyboard.press("a")
    expect(fresh.locator("#toast")).to_contain_text("Accepted")
    stale.bring_to_front()
    stale.keyboard.press("r")
    stale.keyboard.press("Enter")
    expect(stale.locator("#toast")).to_contain_text("changed since it was shown")
    expect(stale.locator("#decision-status")).to_contain_text("Accepted")  # what stands now is on screen
    snap(stale, shots, "19-stale-tab-refused")
    assert current_decisions(server.reader.project.db, server.session.run.id, "alice")[sid].action is Action.accept


def test_the_place_and_filters_survive_a_restart(browser, project):  # noqa: F811
    from pipeline.review.app import saved_place

    from .conftest import start_server, stop_server

    srv, handle = start_server(project, "alice")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{srv.url}/?token={srv.token}")
    expect(page.locator("#p-text")).not_to_be_empty()
    page.keyboard.press("f")
    page.select_option("#f-code", "adopters.relationships")
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator("#p-place")).to_contain_text("3 of ")
    sid = page.evaluate("S.current.item.id")
    for _ in range(100):
        if f"item={sid}" in saved_place(srv.session):
            break
        page.wait_for_timeout(50)
    context.close()
    stop_server(handle)

    again, handle = start_server(project, "alice")  # a new port and a new token, as after a restart
    try:
        printed = f"{again.url}/?token={again.token}{saved_place(again.session)}"  # what the CLI prints
        assert "code=adopters.relationships" in printed and f"item={sid}" in printed
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(printed)
        expect(page.locator("#p-place")).to_contain_text("3 of ")
        assert page.evaluate("S.current.item.id") == sid
        expect(page.locator("#f-code")).to_have_value("adopters.relationships")
        context.close()
    finally:
        stop_server(handle)


@pytest.fixture
def passage_server(project, tmp_path):
    """A run with suggestions on the first answer of an interview and none on the second."""
    from .conftest import add_quoted_run, start_server, stop_server

    interview = tmp_path / "int97_two_answers.txt"
    interview.write_text("Interviewer: How did the alerts change your shifts?\n\nP7: The alerts came far too often at "
                         "first. We muted half of them within a week.\n\nInterviewer: And your patients?\n\nP7: Most of "
                         "my patients have three or four conditions at once, so a single score rarely fits them.\n",
                         encoding="utf-8")
    add_quoted_run(project, interview, "The alerts came far too often at first.", "20260302-120000-pass")
    srv, handle = start_server(project, "alice", "20260302-120000-pass")
    yield srv
    stop_server(handle)
    srv.reader.project.close()


def test_passage_by_passage_with_a_passage_without_suggestions(browser, passage_server, shots):  # noqa: F811
    from pipeline.decisions import Action, current_decisions
    from pipeline.review.models import PassageFilter

    server = passage_server
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(f"{server.url}/?token={server.token}")
    expect(page.locator("#p-text")).not_to_be_empty()
    page.keyboard.press("4")
    expect(page.locator("#view-passages")).to_be_visible()
    expected = server.reader.next_passage(PassageFilter(only="pending")).passage
    assert expected is not None and len(expected.items) == 1
    expect(page.locator("#ps-items li")).to_have_count(1)
    assert page.evaluate("[...document.querySelectorAll('#ps-text .hl-quote')].map(e => e.textContent).join('')") == \
        expected.items[0].quote
    page.keyboard.press("a")
    expect(page.locator("#ps-items li").first).to_contain_text("Accepted")
    state = current_decisions(server.reader.project.db, server.session.run.id, "alice")
    assert state[expected.items[0].id].action is Action.accept
    snap(page, shots, "17-passage-view")

    page.select_option("#ps-only", "unsuggested")
    expect(page.locator("#ps-none")).to_be_visible()
    segment = page.evaluate("S.passages.view.passage.segment.id")
    assert segment != expected.segment.id
    page.keyboard.press("m")  # the key after the filter change is a review key
    expect(page.locator("#dlg-picker-title")).to_have_text("Add a code the machine missed")
    page.keyboard.type("comorbid")
    page.keyboard.press("Enter")
    expect(page.locator("#ps-added .chip")).to_contain_text("Comorbidities")
    snap(page, shots, "18-passage-without-suggestions")
    manual = [r for r in server.reader.project.db.runs() if r.coder == "reviewer"]
    added = server.reader.project.db.suggestions(manual[0].id)
    assert [(s.segment_id, s.code_id) for s in added] == [(segment, "condition.comorbidities")]
    context.close()


def test_claim_and_release_a_transcript_from_the_page(open_page, server):
    page = open_page(1440, 900)
    page.click("#claim-next")
    expect(page.locator("#claims-list li.mine")).to_have_count(1)
    claims = server.reader.claims()
    assert [(c.reviewer, c.mine) for c in claims] == [("alice", True)]
    expect(page.locator("#f-transcript")).to_have_value(claims[0].transcript.id)  # working through it
    expect(page.locator("#p-transcript")).to_have_text(claims[0].transcript.name)
    page.locator("#claims-list li.mine button").click()
    expect(page.locator("#toast")).to_contain_text("Released")
    assert server.reader.claims() == []


def test_adjudicate_two_reviewers_disagreements(open_page, server, shots):  # noqa: F811
    from pipeline.decisions import Action, current_decisions
    from pipeline.project import open_project
    from pipeline.review.models import DecisionIn, QueueFilter
    from pipeline.review.service import ReviewSession

    from .conftest import RUN_ID

    ids, after = [], None
    for _ in range(3):
        after = server.reader.queue(QueueFilter(), after).item.id
        ids.append(after)
    for name, actions in (("bob", ["accept", "accept", "accept"]), ("carol", ["reject", "accept", "reject"])):
        other = ReviewSession.open(open_project(server.session.project.root), RUN_ID, name)
        for sid, action in zip(ids, actions):
            other.decide(sid, DecisionIn(action=action))
        other.project.close()
    page = open_page(1440, 900)
    page.keyboard.press("5")
    rows = page.locator("#adj-list li")
    expect(rows).to_have_count(2)  # the second suggestion: both accepted, no disagreement
    snap(page, shots, "20-adjudicate")
    page.keyboard.press("a")
    expect(rows.nth(0)).to_contain_text("settled by alice")
    rows.nth(1).locator(".side").nth(1).locator("button").click()  # take carol's reject
    expect(rows.nth(1)).to_contain_text("settled by alice")
    mine = current_decisions(server.reader.project.db, RUN_ID, "alice")
    assert mine[ids[0]].action is Action.accept and mine[ids[2]].action is Action.reject
    assert server.reader.project.db.conn.execute("SELECT COUNT(*) FROM adjudications").fetchone()[0] == 2


def test_flag_an_item_with_a_comment(open_page, server):
    from pipeline.review.app import flags

    page = open_page(1280, 800)
    sid = page.evaluate("S.current.item.id")
    page.keyboard.press("!")
    expect(page.locator("#flag-comment")).to_be_focused()
    page.keyboard.type("ask Ben whether staff roles apply")
    page.keyboard.press("Enter")
    expect(page.locator("#decision-status")).to_contain_text("Flagged by you: “ask Ben whether staff roles apply”")
    [flag] = flags(server.reader)
    assert (flag.suggestion_id, flag.reviewer, flag.comment) == (sid, "alice", "ask Ben whether staff roles apply")
    page.keyboard.press("a")  # flagging decided nothing; deciding keeps the flag
    expect(page.locator("#toast")).to_contain_text("Accepted")
    page.keyboard.press("F")
    expect(page.locator("#flags-list li")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"item={sid}"))
    page.keyboard.press("!")
    page.click("#flag-remove")
    expect(page.locator("#decision-status")).not_to_contain_text("Flagged")
    assert flags(server.reader) == []
