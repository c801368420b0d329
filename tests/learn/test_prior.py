"""Codebook examples are training examples: the learned coder's prior holds each code's examples and rules."""

from __future__ import annotations

import numpy as np

from pipeline.codebook import parse_codebook
from pipeline.embed import make_embedder
from pipeline.learn.model import LearnOptions, fit
from pipeline.learn.prior import build_prior, description_texts
from pipeline.settings import EmbeddingSettings

# Labels and definitions say nothing about the topic: only the examples (and inclusion criteria) do.
CODEBOOK = {
    "id": "opaque", "name": "Opaque labels", "version": "1",
    "codes": [
        {"id": "a", "label": "Theme A", "definition": "The first theme.",
         "examples": ["The licence cost us forty thousand a year.", "Running costs doubled after the pilot.",
                      "The budget ran out and nobody would pay for it."]},
        {"id": "b", "label": "Theme B", "definition": "The second theme.",
         "include": ["courses and teaching for staff"],
         "examples": ["We had a two-hour course before go-live.", "The senior nurses taught the new ones."]},
        {"id": "c", "label": "Theme C", "definition": "The third theme.",
         "examples": ["A patient got the wrong dose because the alert was missed.",
                      "There was a near miss with another patient's results."]},
    ],
}
TALK = [("The price went up when the vendor changed the contract.", 0),
        ("Who pays for the servers once the funding ends?", 0),
        ("I ran the training sessions for the junior doctors myself.", 1),
        ("The e-learning module was too long, nobody learned anything from it.", 1),
        ("An incident report was filed after a medication error on the ward.", 2),
        ("I worry the tool will harm patients if people trust it blindly.", 2)]


def test_prior_texts_are_the_definition_the_inclusion_criteria_and_every_example() -> None:
    codebook = parse_codebook(CODEBOOK)
    b = codebook.by_id["b"]
    assert description_texts(codebook, b) == ["Theme B: The second theme.", "courses and teaching for staff",
                                              "We had a two-hour course before go-live.",
                                              "The senior nurses taught the new ones."]


def test_with_no_human_code_the_codebook_examples_teach_the_learned_model() -> None:
    codebook = parse_codebook(CODEBOOK)
    embedder = make_embedder(EmbeddingSettings())
    prior = build_prior(codebook, codebook.codes, embedder)
    assert len(prior.vectors) == 4 + 4 + 3  # the examples are pseudo-examples, not only the definitions
    options = LearnOptions(single=True, context_weight=0)
    model = fit(np.zeros((0, prior.vectors.shape[1])), np.zeros((0, 3)), ["a", "b", "c"], prior, options)
    x = np.asarray(embedder.embed([t for t, _ in TALK]), dtype=np.float64)
    applied, proba = model.predict(x)
    assert applied.argmax(axis=1).tolist() == [j for _, j in TALK]
    assert (proba[np.arange(len(TALK)), [j for _, j in TALK]] > 1 / 3).all()
