"""`precode review --tui`: the same review, in a terminal, for a server without a browser.

Rich prompts over the same ReviewSession as the web app, so the decisions are the same records
in the same store. One key per action; text answers (a reason's note, a code search, the words of
a corrected quote) are typed after the key.
"""

from __future__ import annotations

from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.prompt import Prompt
from rich.table import Table
from rich.text import Text

from pipeline.errors import PrecodeError
from pipeline.review.models import REJECT_REASONS, DecisionIn, Item, MissedIn, Order, QueueFilter, Status
from pipeline.review.service import ReviewSession

KEYS = {
    "a": "accept", "r": "reject", "c": "change code", "s": "set quote span", "m": "add a missed code",
    "u": "undo", "j": "next", "k": "previous", "f": "filter", "p": "precision", "q": "quit",
}
LEARN_KEY = "l"  # retrain the learned model now (review --tui --learn)
MAX_MATCHES = 12


QUOTE_STYLE = "bold black on yellow"
PANEL_CHROME = 4  # a panel's two borders plus one column of padding each side
PROMPT_ROWS = 3   # the key prompt (two lines at 120 columns) and the line it is typed on


def passage_text(item: Item) -> Text:
    """The passage with its context above and the quote (or the reviewer's span) highlighted."""
    passage = Text()
    if item.context:
        passage.append(f"{item.context.speaker}: ", style="bold dim")
        passage.append(item.context.text + "\n\n", style="dim italic")
    passage.append(f"{item.segment.speaker}: ", style="bold")
    body = Text(item.segment.text)
    start, end = (item.effective_start, item.effective_end) if item.effective_start is not None else (
        item.quote_start, item.quote_end)
    if item.grounding.value != "ungrounded" and start is not None and end is not None:
        body.stylize(QUOTE_STYLE, start - item.segment.start, end - item.segment.start)
    passage.append_text(body)
    return passage


def window(lines: list[Text], rows: int) -> tuple[int, int]:
    """Which wrapped lines to show in `rows` rows: all of them, or a window with the quote in view
    (a third of the way down, or from its first line when the quote alone is taller)."""
    if len(lines) <= rows:
        return 0, len(lines)
    marked = [n for n, line in enumerate(lines) if any(span.style == QUOTE_STYLE for span in line.spans)]
    if not marked:
        return 0, rows
    first, last = marked[0], marked[-1]
    top = first if last - first + 1 >= rows else max(0, first - (rows - (last - first + 1)) // 3)
    top = min(top, len(lines) - rows)
    return top, top + rows


def render(item: Item, index: int | None, total: int, width: int = 120, height: int = 0,
           console: Console | None = None) -> Group:
    """The item as rich renderables: code, evidence, then the passage with the quote highlighted (last,
    next to the prompt, so it is what stays on screen), cut to a window around the quote when the
    terminal (`height` rows; 0: no limit) cannot show all of it. Everything wraps at `width`."""
    console = console or Console(width=width)
    t = item.transcript
    who = " · ".join(x for x in (t.participant, t.group, t.site) if x)
    code = item.effective_code or item.code
    card = Text()
    if item.effective_code:
        card.append(f"suggested: {item.code.label}  →  changed to:\n", style="magenta")
    card.append(code.label, style="bold")
    card.append(f"  ({code.level})\n{code.path}\n\n", style="dim")
    card.append(code.definition)
    for rule in code.include:
        card.append("\n  + " + rule, style="green")
    for rule in code.exclude:
        card.append("\n  − " + rule, style="red")
    parts: list[RenderableType] = [Panel(card, title="code", title_align="left")]
    kind = "score among codes" if item.score_kind == "relative" else item.score_kind
    evidence = (f"{kind} {item.score:.2f} · grounding {item.grounding.value} · coder {item.coder}"
                f"{' / ' + item.model if item.model else ''}")
    reason = item.rationale or ("(the similarity coder gives no reason: it matched the words to the code's description)"
                                if item.score_kind in ("similarity", "relative") else "(no rationale)")
    parts.append(Text(evidence + "\n" + reason, style="cyan"))
    if item.proposed_by is not None:
        by = item.proposed_by
        parts.append(Text(f"PROPOSED BY THE LEARNED MODEL (the run's coder did not suggest it): p {by.probability:.2f}, "
                          f"trained on {by.training_segments} human-coded segments", style="bold magenta"))
    elif item.learned_probability is not None:
        parts.append(Text(f"learned model: p {item.learned_probability:.2f}", style="magenta"))
    if item.grounding.value == "ungrounded":
        parts.append(Text(f"Quote not found in the transcript (nothing highlighted). The model's quote: “{item.quote}”",
                          style="bold red"))
    mine = item.mine
    tail = Text("your decision: " + (f"{mine.outcome} ({mine.action})" if mine else "none yet"),
                style="bold green" if mine else "dim")
    options = console.options.update(width=width, height=None)
    used = sum(len(console.render_lines(part, options, pad=False)) for part in [*parts, tail])
    lines = list(passage_text(item).wrap(console, width - PANEL_CHROME))
    rows = max(6, height - used - 2 - 1 - PROMPT_ROWS) if height else len(lines)  # 2: the panel's borders, 1: rule
    top, bottom = window(lines, rows)
    shown = Text("\n").join(lines[top:bottom])
    place = f"{index} of {total}" if index else f"{total} match"
    if top or bottom < len(lines):
        place += f" · lines {top + 1}-{bottom} of {len(lines)}"
    parts.append(Panel(shown, title=f"{t.name} ({who})" if who else t.name, subtitle=place, title_align="left"))
    parts.append(tail)
    return Group(*parts)


class Tui:
    """The prompt loop; `stream` replaces standard input (tests)."""

    def __init__(self, session: ReviewSession, console: Console, stream: TextIO | None = None):
        self.session, self.console, self.stream = session, console, stream
        self.filter = QueueFilter(order=Order.learned) if session.learner is not None else QueueFilter()
        self.keys = {**KEYS, LEARN_KEY: "retrain"} if session.learner is not None else KEYS

    def ask(self, question: str, default: str = "") -> str:
        return Prompt.ask(question, console=self.console, default=default, show_default=bool(default),
                          stream=self.stream).strip()

    def pick_code(self, question: str) -> str | None:
        words = self.ask(question).casefold().split()
        if not words:
            return None
        codes = self.session.codebook.codes
        matches = [c for c in codes if all(w in f"{c.id} {self.session.codebook.path(c.id)}".casefold() for w in words)]
        if not matches:
            self.console.print("[yellow]no code matches that[/]")
            return None
        for n, code in enumerate(matches[:MAX_MATCHES], start=1):
            self.console.print(f"  {n:>2}. {code.label} [dim]{self.session.codebook.path(code.id)} ({code.id})[/]")
        choice = self.ask("number (Enter to cancel)")
        if choice.isdigit() and 1 <= int(choice) <= min(len(matches), MAX_MATCHES):
            return matches[int(choice) - 1].id
        return None

    def find_span(self, item: Item, words: str) -> tuple[int, int] | None:
        found = item.segment.text.find(words)
        if not words or found < 0:
            self.console.print("[yellow]those words are not in the segment (copy them exactly)[/]")
            return None
        return item.segment.start + found, item.segment.start + found + len(words)

    def set_filter(self) -> None:
        status = self.ask(f"status ({'/'.join(s.value for s in Status)})", self.filter.status.value)
        orders = [o.value for o in Order if o is not Order.learned or self.session.learner is not None]
        order = self.ask(f"order ({'/'.join(orders)})", self.filter.order.value)
        names = {t.name: t.id for t in self.session.info().transcripts}
        transcript = self.ask(f"transcript ({', '.join(names)}; Enter for all)")
        self.filter = QueueFilter(status=Status(status) if status in Status.__members__ else self.filter.status,
                                  order=Order(order) if order in orders else self.filter.order,
                                  transcript=names.get(transcript))

    def show_precision(self) -> None:
        progress = self.session.progress()
        table = Table("code", "suggested", "reviewed", "accepted", "changed", "rejected", "precision",
                      title=f"machine precision by {progress.scope}'s decisions (accepted / reviewed)")
        for p in [*progress.per_code, progress.overall]:
            table.add_row(p.label, str(p.suggested), str(p.reviewed), str(p.accepted), str(p.changed),
                          str(p.rejected), f"{p.precision:.2f}" if p.precision is not None else "–")
        self.console.print(table)

    def retrain(self) -> None:
        status = self.session.retrain()
        self.console.print(f"[green]retrained[/] in {status.seconds:.1f} s on {status.training_segments} human-coded "
                           f"segments; {status.proposed} new codes proposed ({status.proposals_total} in this run); "
                           "the queue is re-ranked, least certain first", highlight=False)

    def act(self, key: str, item: Item) -> str | None:
        """Do what `key` asks; return the suggestion id to show next (None: the next in the queue)."""
        s = self.session
        if key == "a":
            s.decide(item.id, DecisionIn(action="accept"))
        elif key == "r":
            for n, (code, text) in enumerate(REJECT_REASONS.items(), start=1):
                self.console.print(f"  {n}. {text} [dim]({code})[/]")
            choice = self.ask("reason number (Enter for none)")
            reasons = list(REJECT_REASONS)
            reason = reasons[int(choice) - 1] if choice.isdigit() and 1 <= int(choice) <= len(reasons) else None
            note = self.ask("note (Enter for none)") or None
            s.decide(item.id, DecisionIn(action="reject", reason=reason, note=note))
        elif key == "c":
            new_code = self.pick_code("search the codebook for the right code")
            if new_code:
                s.decide(item.id, DecisionIn(action="edit", code_id=new_code))
            return item.id
        elif key == "s":
            span = self.find_span(item, self.ask("type the exact words of the quote"))
            if span:
                s.decide(item.id, DecisionIn(action="edit", quote_start=span[0], quote_end=span[1]))
            return item.id
        elif key == "m":
            missed = self.pick_code("search the codebook for the missed code")
            if missed:
                words = self.ask("its quote: exact words (Enter for the whole segment)")
                span = self.find_span(item, words) if words else None
                if span or not words:
                    added = s.add_missed(MissedIn(segment_id=item.segment.id, code_id=missed,
                                                  quote_start=span[0] if span else None,
                                                  quote_end=span[1] if span else None))
                    self.console.print(f"[green]added[/] {added.label}")
            return item.id
        elif key == "u":
            result = s.undo(item.id if item.mine else None)
            self.console.print(f"[green]undone:[/] {result.undone.action} on {result.suggestion_id}")
            return result.suggestion_id if result.in_queue else item.id
        return None

    def run(self) -> None:
        """Review until the queue is empty or the reviewer quits."""
        current: str | None = None
        show: str | None = None
        while True:
            if show:
                view = self.session.locate(self.filter, show)
            else:
                view = self.session.queue(self.filter, after=current)
            if view.item is None:
                self.console.print("[bold green]Nothing left to review with this filter.[/] "
                                   "(f to change it, p for precision, q to quit)")
            else:
                self.console.rule()
                width, height = self.console.size
                self.console.print(render(view.item, view.index, view.total, width,
                                          height if self.console.is_terminal else 0, self.console),
                                   soft_wrap=False, crop=False)
            current, show = (view.item.id if view.item else current), None
            try:
                key = self.ask(" ".join(f"[bold]{k}[/]:{v}" for k, v in self.keys.items()))[:1].lower()
            except EOFError:
                key = "q"
            if key == "q":
                return
            if key == "f":
                self.set_filter()
                current = None
            elif key == "p":
                self.show_precision()
                show = current
            elif key == LEARN_KEY and LEARN_KEY in self.keys:
                self.retrain()
                current = None  # the first of the re-ranked queue
            elif key == "k" and current:
                view = self.session.queue(self.filter, after=current, backwards=True)
                show = view.item.id if view.item else None
            elif key in KEYS and key != "j" and view.item is not None:
                try:
                    show = self.act(key, view.item)
                except PrecodeError as exc:
                    self.console.print(f"[red]{exc}[/]")
                    show = view.item.id
            elif key != "j":
                show = current
