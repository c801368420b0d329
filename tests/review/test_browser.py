"""End to end in Debian's Chromium (headless, driven by Playwright): keyboard review, mouse span
selection, dialogs, the database after each step, fixed layout, and screenshots.

Screenshots go to $PRECODE_REVIEW_SCREENSHOTS when set (to look at them), else to a temp folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from pipeline.decisions import Action, current_decisions
from pipeline.review.models import QueueFilter, Status

from .conftest import RUN_ID, add_quoted_run, start_server, stop_server

pytestmark = pytest.mark.slow  # a real browser: seconds per test

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("PRECODE_REVIEW_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def page(browser, server) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server.url}/?token={server.token}")
    expect(page.locator("#p-text")).not_to_be_empty()
    yield page
    context.close()
    assert errors == [], errors


def snap(page: Page, shots: Path, name: str) -> Path:
    path = shots / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 20_000  # a real rendering, not a blank page
    return path


def mine(server, suggestion_id: str):
    return current_decisions(server.reader.project.db, server.session.run.id, "alice").get(suggestion_id)


def current_id(page: Page) -> str:
    return page.evaluate("S.current.item.id")


def marked(page: Page, cls: str) -> str:
    """The text under a highlight (overlapping highlights split it into several spans)."""
    return page.evaluate(f"[...document.querySelectorAll('#p-text .{cls}')].map(e => e.textContent).join('')")


def select_words(page: Page, first: int, count: int) -> str:
    """Drag the mouse over words `first`..`first+count-1` of the passage; return the selected text."""
    box = page.evaluate(
        """([first, count]) => {
          const node = document.getElementById('p-text');
          const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
          const words = [];
          for (let t = walker.nextNode(); t; t = walker.nextNode())
            for (const m of t.data.matchAll(/\\S+/g)) words.push([t, m.index, m.index + m[0].length]);
          const rect = (w, end) => { const r = document.createRange(); r.setStart(w[0], w[1]); r.setEnd(w[0], w[2]);
            const b = r.getClientRects()[0];
            return [end ? b.right - 1 : b.left + 1, b.top + b.height / 2]; };
          const a = words[first], b = words[first + count - 1];
          a[0].parentElement.scrollIntoView({block: 'center'});
          return [rect(a, false), rect(b, true)];
        }""", [first, count])
    (x1, y1), (x2, y2) = box
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move(x2, y2, steps=8)
    page.mouse.up()
    return page.evaluate("window.getSelection().toString()")


def test_review_from_the_keyboard(page, server, shots):
    """Open the page, accept with a, reject with a reason, change a code, select a new quote span."""
    assert "token" not in page.url  # the token went into a cookie and out of the address bar
    first = current_id(page)
    item = server.reader.item(first)
    assert marked(page, "hl-quote") == item.quote
    expect(page.locator("#c-label")).to_have_text(item.code.label)
    expect(page.locator("#p-context-text")).to_have_text(item.context.text)
    expect(page.locator("#e-rationale")).to_have_text(item.rationale)
    snap(page, shots, "01-item")

    page.keyboard.press("a")
    expect(page.locator("#toast")).to_contain_text("Accepted")
    assert mine(server, first).action is Action.accept
    second = current_id(page)
    assert second != first

    page.keyboard.press("r")
    expect(page.locator("#dlg-reject")).to_be_visible()
    page.keyboard.press("2")
    page.locator("#reject-note").fill("the exclusion rule on staff roles applies")
    snap(page, shots, "02-reject-dialog")
    page.keyboard.press("Enter")
    expect(page.locator("#toast")).to_contain_text("Rejected")
    decision = mine(server, second)
    assert decision.action is Action.reject and decision.reason == "exclusion_rule"
    assert decision.note == "the exclusion rule on staff roles applies"

    third = current_id(page)
    page.keyboard.press("c")
    expect(page.locator("#picker-search")).to_be_focused()
    page.keyboard.type("carers")
    expect(page.locator("#picker-list li.active .l")).to_have_text("Carers")
    snap(page, shots, "03-code-picker")
    page.keyboard.press("Enter")
    expect(page.locator("#c-changed")).to_be_visible()
    expect(page.locator("#c-label")).to_have_text("Carers")
    assert mine(server, third).code_id == "adopters.carers"
    snap(page, shots, "04-code-changed")

    selected = select_words(page, 3, 5)
    expect(page.locator("#selection-tools")).to_be_visible()
    snap(page, shots, "05-selection")
    page.keyboard.press("s")
    expect(page.locator("#p-text .hl-edited").first).to_be_visible()
    assert marked(page, "hl-edited") == selected.strip()
    decision = mine(server, third)
    text = server.reader.project.db.transcript(server.reader.item(third).transcript.id).text
    assert decision.action is Action.edit and decision.code_id == "adopters.carers"
    assert text[decision.quote_start:decision.quote_end] == selected.strip()
    snap(page, shots, "06-span-corrected")

    page.keyboard.press("j")
    expect(page.locator("#decision-status")).to_have_text("Not yet reviewed by you")
    page.keyboard.press("u")  # nothing of mine here: undoes my last decision (the span) and goes back to it
    expect(page.locator("#toast")).to_contain_text("Undone")
    assert current_id(page) == third
    standing = mine(server, third)  # back to the code change, with the machine's span
    original = server.reader.item(third)
    assert standing.code_id == "adopters.carers"
    assert (standing.quote_start, standing.quote_end) == (original.quote_start, original.quote_end)
    assert server.reader.project.db.conn.execute(
        "SELECT COUNT(*) FROM decisions WHERE action = 'undo'").fetchone()[0] == 1


def test_span_by_keyboard_and_a_missed_code(page, server, shots):
    sid = current_id(page)
    item = server.reader.item(sid)
    page.keyboard.press("s")
    expect(page.locator("#p-others")).to_contain_text("Adjusting the quote")
    for key in ("ArrowRight", "ArrowRight", "Shift+ArrowRight"):
        page.keyboard.press(key)
    snap(page, shots, "07-span-mode")
    preview = marked(page, "hl-preview")
    page.keyboard.press("Enter")
    expect(page.locator("#p-text .hl-edited").first).to_be_visible()
    assert marked(page, "hl-edited") == preview
    decision = mine(server, sid)
    text = server.reader.project.db.transcript(item.transcript.id).text
    assert text[decision.quote_start:decision.quote_end] == preview
    assert decision.quote_start > item.quote_start and decision.quote_end > item.quote_end

    words = select_words(page, 0, 4)
    page.keyboard.press("m")
    expect(page.locator("#dlg-picker-title")).to_have_text("Add a code the machine missed")
    page.keyboard.type("comorbid")
    page.keyboard.press("Enter")
    expect(page.locator("#p-others .chip.mine")).to_contain_text("Comorbidities")
    manual = [r for r in server.reader.project.db.runs() if r.coder == "reviewer"]
    assert len(manual) == 1
    added = server.reader.project.db.suggestions(manual[0].id)
    assert [s.code_id for s in added] == ["condition.comorbidities"] and added[0].quote == words.strip()
    snap(page, shots, "08-missed-code")


def test_bulk_accept_states_how_many(page, server, shots):
    page.select_option("#f-code", "adopters.relationships")
    expected = server.reader.bulk_preview(QueueFilter(code="adopters.relationships")).count
    expect(page.locator("#match-count")).to_have_text(f"{expected} suggestions match")
    page.click("#bulk-accept")
    expect(page.locator("#dlg-bulk-title")).to_have_text(f"Accept {expected} suggestions?")
    expect(page.locator("#bulk-filter")).to_contain_text("Relationships")
    snap(page, shots, "09-bulk-confirm")
    page.keyboard.press("Enter")
    expect(page.locator("#p-empty")).to_be_visible()
    state = current_decisions(server.reader.project.db, RUN_ID, "alice")
    assert len(state) == expected and all(d.action is Action.accept for d in state.values())
    expect(page.locator("#progress-text")).to_contain_text(f"{expected} / ")


def test_a_whole_transcript_from_the_keyboard_without_layout_jumps(page, server, shots):
    """Every suggestion of one transcript decided with single keys; nothing on screen moves."""
    transcript = server.reader.info().transcripts[2]
    page.select_option("#f-transcript", transcript.id)
    page.locator("#f-transcript").blur()
    wanted = server.reader.bulk_preview(QueueFilter(transcript=transcript.id)).count
    fixed = ["#a-accept", "#a-undo", "#n-next", "#p-scroll", "#view-review .codecard", ".filters",
             "#view-review .evidence", "#decision-status"]
    boxes = None
    for n in range(wanted):
        expect(page.locator("#p-place")).to_contain_text(f"1 of {wanted - n}")
        now = [page.locator(sel).bounding_box() for sel in fixed]
        assert boxes is None or now == boxes, f"layout moved at item {n + 1}"
        boxes = now
        page.keyboard.press("a" if n % 2 == 0 else "r")
        if n % 2:
            page.keyboard.press("Enter")
    expect(page.locator("#p-empty")).to_be_visible()
    snap(page, shots, "10-transcript-done")
    state = current_decisions(server.reader.project.db, RUN_ID, "alice")
    assert len(state) == wanted
    assert server.reader.bulk_preview(QueueFilter(transcript=transcript.id, status=Status.pending)).count == 0


def test_ungrounded_quote_has_no_fake_highlight(page, server, shots):
    page.select_option("#f-grounding", "ungrounded")
    expect(page.locator("#p-notice")).to_contain_text("Quote not found in the transcript")
    assert page.locator("#p-text .hl-quote").count() == 0
    expect(page.locator("#e-grounding")).to_have_text("quote not found")
    snap(page, shots, "11-ungrounded")


def test_proposals_and_precision_views(page, server, shots):
    page.keyboard.press("a")
    page.keyboard.press("r")
    page.keyboard.press("Enter")
    expect(page.locator("#progress-text")).to_contain_text("2 / ")
    page.keyboard.press("3")
    expect(page.locator("#q-total")).to_contain_text("All codes")
    expect(page.locator("#q-summary")).to_contain_text("50%")
    snap(page, shots, "12-precision")
    page.keyboard.press("2")
    expect(page.locator("#pp-label")).to_have_text("Alert fatigue")
    expect(page.locator("#pp-text .hl-quote")).not_to_be_empty()
    snap(page, shots, "13-proposal")
    page.keyboard.press("a")
    expect(page.locator("#ad-id")).to_have_value("technology.material_properties.alert_fatigue")
    page.fill("#ad-include", "Staff ignoring or muting alerts because there are too many.")
    page.fill("#ad-exclude", "Whether one alert is right belongs to usability.")
    snap(page, shots, "14-adopt-form")
    page.click("#adopt-confirm")
    expect(page.locator("#toast")).to_contain_text("codebook version 1.1.0")
    assert (server.reader.project.root / "codebooks" / "nasss-1.1.0.yaml").is_file()
    expect(page.locator("#pp-label")).to_have_text("Vendor lock-in")
    page.keyboard.press("d")
    expect(page.locator("#pr-empty")).to_be_visible()
    states = {p.id: p.state for p in server.reader.proposals()}
    assert states == {"prop1": "adopted", "prop2": "dismissed"}


def test_without_the_token_the_page_says_what_to_do(browser, server):
    context = browser.new_context()
    page = context.new_page()
    response = page.goto(server.url + "/")
    assert response.status == 401
    assert "open the URL that 'precode review' printed" in page.content()
    context.close()


def test_fast_typing_is_queued_not_dropped(page, server):
    """Keys pressed while a decision is on its way wait for it and apply to the next item."""
    order = [i for i in _walk_ids(server)[:6]]
    page.keyboard.type("aaa")           # three accepts, as fast as the keyboard goes
    page.keyboard.type("r2")            # reject the fourth with reason 2 ...
    page.keyboard.press("Enter")        # ... confirmed before the dialog has even opened
    page.keyboard.type("ccarers")       # change the fifth: the search text typed at once
    page.keyboard.press("Enter")
    expect(page.locator("#c-label")).to_have_text("Carers")
    state = current_decisions(server.reader.project.db, RUN_ID, "alice")
    assert [state[i].action for i in order[:3]] == [Action.accept] * 3
    assert state[order[3]].action is Action.reject and state[order[3]].reason == "exclusion_rule"
    assert state[order[4]].code_id == "adopters.carers" and order[5] not in state
    assert len(state) == 5


def _walk_ids(server) -> list[str]:
    ids, after = [], None
    while len(ids) < 10:
        view = server.reader.queue(QueueFilter(), after)
        ids.append(view.item.id)
        after = view.item.id
    return ids


def test_keys_work_again_after_a_dialog_is_cancelled(page, server):
    page.keyboard.press("c")
    expect(page.locator("#picker-search")).to_be_focused()
    page.keyboard.type("scope")
    page.keyboard.press("Escape")
    expect(page.locator("#overlay")).to_be_hidden()
    page.keyboard.press("3")
    expect(page.locator("#view-quality")).to_be_visible()
    page.keyboard.press("1")
    page.keyboard.press("a")
    expect(page.locator("#toast")).to_contain_text("Accepted")


EMOJI_QUOTE = "The early warning score 🚨 saved a patient 👍 on bed seven last week."


@pytest.fixture
def emoji_server(project, tmp_path):
    """A run whose quote sits after emoji (characters beyond U+FFFF: two UTF-16 units each)."""
    interview = tmp_path / "int98_emoji.txt"
    interview.write_text("Interviewer: How did it go 🙂?\n\nP8: Honestly 😀😀 it went well, the alerts 🚨🚨 were "
                         f"useful. {EMOJI_QUOTE} After that we trusted it 💯.\n", encoding="utf-8")
    add_quoted_run(project, interview, EMOJI_QUOTE, "20260302-110000-emoji")
    srv, handle = start_server(project, "alice", "20260302-110000-emoji")
    yield srv
    stop_server(handle)
    srv.reader.project.close()


def test_highlight_and_spans_count_code_points_after_emoji(browser, emoji_server, shots):
    server = emoji_server
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{server.url}/?token={server.token}")
    expect(page.locator("#p-text")).not_to_be_empty()
    assert marked(page, "hl-quote") == EMOJI_QUOTE  # was 2 characters short per emoji before it
    sid = current_id(page)
    text = server.reader.project.db.transcript(server.reader.item(sid).transcript.id).text
    # the keyboard span: one word longer at the end, then Enter
    page.keyboard.press("s")
    page.keyboard.press("ArrowRight")
    preview = marked(page, "hl-preview")
    assert preview == EMOJI_QUOTE + " After"
    page.keyboard.press("Enter")
    expect(page.locator("#p-text .hl-edited").first).to_be_visible()
    decision = mine(server, sid)
    assert text[decision.quote_start:decision.quote_end] == preview
    # the mouse span: words after the emoji
    selected = select_words(page, 11, 4).strip()
    assert selected == "early warning score 🚨"
    page.keyboard.press("s")
    for _ in range(100):
        if marked(page, "hl-edited") == selected:
            break
        page.wait_for_timeout(50)
    assert marked(page, "hl-edited") == selected
    decision = mine(server, sid)
    assert text[decision.quote_start:decision.quote_end] == selected and "🚨" in text[:decision.quote_start]
    snap(page, shots, "15-emoji")
    context.close()
