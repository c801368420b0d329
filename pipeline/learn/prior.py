"""Codebook pseudo-examples: each code's description texts, embedded, as weak training examples."""

from __future__ import annotations

import numpy as np

from pipeline.codebook import Codebook
from pipeline.embed import Embedder
from pipeline.learn.model import Prior
from pipeline.learn.vectors import embed_cached
from pipeline.models import Code
from pipeline.store.vectors import VectorCache


def description_texts(codebook: Codebook, code: Code) -> list[str]:
    """A code's texts: label + definition, inclusion criteria and examples, of the code and the codes below it.

    Exclusion criteria are left out: they describe what the code is *not*.
    """
    texts: list[str] = []
    for c in [code, *codebook.descendants(code.id)]:
        texts.append(f"{c.label}: {c.definition}" if c.definition else c.label)
        texts.extend(t for t in [*c.include, *c.examples] if t.strip())
    return list(dict.fromkeys(texts))


def build_prior(codebook: Codebook, codes: list[Code], embedder: Embedder, cache: VectorCache | None = None) -> Prior:
    """Every code's description texts, embedded (kept in the project's vector cache when one is given).

    The texts are the similarity coder's (`pipeline.coders.similarity.description_texts`: those its
    code vectors are the mean of), so the zero-shot rule the model shrinks to (`pipeline.learn.model`)
    is the similarity coder's calibrated rule, calibrated on the same texts.
    """
    from pipeline.coders.similarity import description_texts as similarity_texts

    per_code = similarity_texts(codebook, codes)
    texts = [t for group in per_code for t in group]
    index = np.array([j for j, group in enumerate(per_code) for _ in group], dtype=int)
    return Prior(embed_cached(texts, embedder, cache), index)
