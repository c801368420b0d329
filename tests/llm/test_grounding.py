"""Quote grounding: exact, normalized, fuzzy, ungrounded — and offsets that always point at real text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.grounding import FUZZY_THRESHOLD, ground_quote, normalize
from pipeline.models import Grounding

SOURCE = ("By week three people were clicking through. I’m not proud of that, but it’s the truth. There’s a box "
          "you tick, “reviewed, no further action”, and you can do it in two seconds — without reading anything.")


def span(match, text=SOURCE, offset=0):
    return text[match.start - offset:match.end - offset]


def test_exact_quote_has_exact_offsets():
    match = ground_quote("clicking through", SOURCE, offset=1000)
    assert match.grounding is Grounding.exact
    assert (match.start, match.end) == (1000 + SOURCE.index("clicking through"), 1000 + SOURCE.index("clicking through") + 16)
    assert span(match, offset=1000) == "clicking through"


@pytest.mark.parametrize("quote, expected", [
    ("I'm not proud of that", "I’m not proud of that"),  # straight for curly apostrophe
    ("i’M NOT   proud\nof that, but", "I’m not proud of that, but"),  # case and whitespace
    ('"reviewed, no further action"', "reviewed, no further action"),  # quote marks around it
    ("two seconds - without reading", "two seconds — without reading"),  # dash
    ("the truth…", "the truth"),  # ellipsis at the end
])  # an elision inside a quote is no longer one span: see test_evidence.py
def test_normalized_quotes_map_back_to_the_verbatim_span(quote, expected):
    match = ground_quote(quote, SOURCE)
    assert match.grounding is Grounding.normalized
    assert span(match) == expected


@pytest.mark.parametrize("quote, expected", [
    ("I am not proud of that but it is the truth", "I’m not proud of that, but it’s the truth"),
    ("By week 3 people were clicking through", "By week three people were clicking through"),
    ("you can do it in 2 seconds without reading anything", "you can do it in two seconds — without reading anything"),
])
def test_lightly_edited_quotes_are_fuzzy_with_a_whole_word_span(quote, expected):
    match = ground_quote(quote, SOURCE)
    assert match.grounding is Grounding.fuzzy
    assert FUZZY_THRESHOLD <= match.score < 100
    assert span(match) == expected


@pytest.mark.parametrize("quote", [
    "staff ignored the alerts because there were too many",  # a paraphrase
    "people were clicking through by week three",  # reordered
    "The vendor took four months to change the threshold.",  # not in the text at all
    "yes",  # too short to match fuzzily and not present
    "",
    "   ",
])
def test_paraphrased_or_invented_quotes_are_ungrounded_without_offsets(quote):
    match = ground_quote(quote, SOURCE)
    assert match.grounding is Grounding.ungrounded
    assert match.start is None and match.end is None
    assert match.score < FUZZY_THRESHOLD


def test_a_quote_longer_than_the_text_is_never_grounded_as_the_whole_text():
    quote = SOURCE[:60] + " and then a great deal of text the speaker never said at any point in the interview"
    match = ground_quote(quote, SOURCE[:60])
    assert match.grounding is Grounding.ungrounded


def test_normalize_keeps_a_source_index_for_every_character():
    text = "A  “B”\u00a0—\tC…"
    normalized, index = normalize(text)
    assert normalized == 'a "b" - c...'
    assert len(index) == len(normalized)
    assert all(0 <= i < len(text) for i in index) and index == sorted(index)


words = st.lists(st.sampled_from(["alert", "nurse", "Vigil", "didn’t", "—", "“fine”", "data", "I’m", "ward", "3",
                                  "résumé", "straße", "ok.", "well,"]), min_size=3, max_size=40)


@settings(max_examples=150, deadline=None)
@given(words, st.data())
def test_every_substring_is_found_exactly(tokens, data):
    text = " ".join(tokens)
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    quote = text[start:end]
    match = ground_quote(quote, text, offset=7)
    if any(c.isalnum() for c in quote):
        assert match.grounding is Grounding.exact
        assert text[match.start - 7:match.end - 7] == quote.strip()
    else:
        assert match.grounding is Grounding.ungrounded


@settings(max_examples=150, deadline=None)
@given(words, st.data())
def test_a_restyled_substring_grounds_to_a_span_whose_normal_form_is_the_quote(tokens, data):
    text = " ".join(tokens)
    i = data.draw(st.integers(0, len(tokens) - 1))
    j = data.draw(st.integers(i + 1, len(tokens)))
    # what a model does to a quote: upper case, straight quotes, hyphens, doubled spaces
    quote = "  ".join(tokens[i:j]).upper().replace("’", "'").replace("“", '"').replace("”", '"').replace("—", "-")
    match = ground_quote(quote, text)
    if not any(c.isalnum() for c in quote):  # punctuation alone is no evidence
        assert match.grounding is Grounding.ungrounded
        return
    assert match.grounding in (Grounding.exact, Grounding.normalized, Grounding.fuzzy)
    found = text[match.start:match.end]
    assert text.find(found) >= 0  # offsets always point at verbatim source text
    if match.grounding is Grounding.normalized:
        trim = " \"'.,;:!?-"
        assert normalize(found)[0].strip(trim) == normalize(quote)[0].strip(trim)
