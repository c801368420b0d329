"""Evidence you can trust: elided and one-word quotes are never one span the model did not write."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.grounding import ground_quote
from pipeline.models import Grounding

SOURCE = ("By week three people were clicking through. I’m not proud of that, but it’s the truth. There’s a box "
          "you tick, “reviewed, no further action”, and you can do it in two seconds — without reading anything.")


def test_first_words_and_last_words_are_not_a_span_of_the_whole_text():
    match = ground_quote("By week three people… but it's the truth.", SOURCE)
    assert match.grounding is Grounding.ungrounded and match.start is None and match.note == "elided"
    assert [SOURCE[a:b] for a, b in match.parts] == ["By week three people", "but it’s the truth"]


def test_three_fragments_from_different_sentences_are_kept_as_their_parts():
    match = ground_quote("clicking through ... a box you tick ... without reading anything", SOURCE)
    assert match.grounding is Grounding.ungrounded and match.note == "elided"
    assert [SOURCE[a:b] for a, b in match.parts] == ["clicking through", "a box you tick", "without reading anything"]


def test_parts_out_of_order_are_not_found():
    match = ground_quote("without reading anything ... clicking through", SOURCE)
    assert match.note == "elided" and match.parts == [] and match.grounding is Grounding.ungrounded


def test_an_elided_quote_is_not_fuzzily_stitched_either():
    match = ground_quote("people were clickin through ... proud of that", SOURCE)
    assert match.grounding is Grounding.ungrounded and match.start is None


def test_a_transcripts_own_ellipsis_is_quoted_exactly():
    text = "I was... I was just scared, honestly."
    match = ground_quote("I was... I was just scared", text)
    assert match.grounding is Grounding.exact and text[match.start:match.end] == "I was... I was just scared"


def test_a_one_word_quote_is_not_evidence():
    match = ground_quote("and", SOURCE, min_words=3)
    assert match.grounding is Grounding.ungrounded and match.note == "too_short" and match.start is None
    assert ground_quote("the truth", SOURCE, min_words=3).note == "too_short"
    assert ground_quote("it’s the truth", SOURCE, min_words=3).grounding is Grounding.exact
    assert ground_quote("and", SOURCE).grounding is Grounding.exact  # min_words defaults to 1 for other callers


words = st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta", "and", "the", "box"]), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(words, st.lists(st.tuples(st.integers(0, 11), st.integers(1, 4)), min_size=1, max_size=3),
       st.sampled_from(["...", "…", " ... "]))
def test_any_quote_with_an_elision_never_gets_a_span(text_words, cuts, mark):
    text = " ".join(text_words)
    pieces = [" ".join(text_words[a:a + n]) for a, n in cuts if text_words[a:a + n]]
    quote = mark.join(pieces)
    match = ground_quote(quote, text)
    if match.start is not None:  # found as it was written (no elision left in it), or a single piece
        assert text[match.start:match.end].casefold().replace("…", "...") in quote.casefold().replace("…", "...") \
            or match.grounding is Grounding.fuzzy
        assert "..." not in quote.replace("…", "...").strip(". ") or match.grounding is Grounding.exact
    for a, b in match.parts:
        assert text[a:b] in text
