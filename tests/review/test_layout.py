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
