"""Pseudonymization: names and configured patterns become placeholders before text leaves the machine.

Replaced, when `[llm.pseudonymize] enabled = true`: the words of speaker labels that are names
("Dr Hannah Lindqvist" gives "Hannah Lindqvist", "Hannah" and "Lindqvist"; titles, role words and
ids such as "P3" or "HCP 2" are not names), the `names` listed in the settings, and every match of
each `patterns` regular expression (emails and phone numbers by default; add ids such as NHS
numbers). Each distinct original gets a numbered placeholder per kind, `[NAME_1]`, `[EMAIL_1]`,
numbered in order of first appearance in the request, so the same request text always gives the
same placeholders (and the same cache key). The model's quotes, rationales and proposals are
restored locally before grounding and storage; `NAME_1` without brackets is restored too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable

from pipeline.errors import PrecodeError
from pipeline.settings import PseudonymizeSettings

NOT_NAMES = {
    "dr", "doctor", "mr", "mrs", "ms", "miss", "mx", "prof", "professor", "nurse", "sister", "sir", "dame",
    "interviewer", "interviewee", "participant", "respondent", "speaker", "moderator", "facilitator",
    "researcher", "hcp", "ai", "expert", "clinician", "patient", "unknown",
}
_ID_LIKE = re.compile(r"^[A-Z]{0,4}\d+$|^[A-Z]{1,4}$")


def names_in_label(label: str) -> list[str]:
    """The name parts of a speaker label: the full name and each word that is not a title, role or id."""
    words = [w.strip(".,'’") for w in label.split()]
    names = [w for w in words if len(w) >= 2 and w.lower().rstrip(".") not in NOT_NAMES and not _ID_LIKE.match(w)]
    out = []
    if len(names) > 1:
        out.append(" ".join(names))
    out.extend(names)
    return out


class Pseudonyms:
    """One request's placeholder mapping: apply it to outgoing text, restore it in answers."""

    def __init__(self, originals: dict[str, str]):
        self.placeholders = originals  # original -> placeholder
        self._restore = {p: o for o, p in originals.items()}
        keys = sorted(self._restore, key=len, reverse=True)
        self._restore_re = (re.compile(r"\[?\b(" + "|".join(re.escape(k.strip("[]")) for k in keys) + r")\b\]?")
                            if keys else None)

    def restore(self, text: str) -> str:
        if self._restore_re is None:
            return text
        return self._restore_re.sub(lambda m: self._restore.get(f"[{m.group(1)}]", m.group(0)), text)


class Pseudonymizer:
    """Builds each request's `Pseudonyms` from the settings and the project's speaker labels."""

    def __init__(self, settings: PseudonymizeSettings, speaker_labels: Iterable[str] = ()):
        self.enabled = settings.enabled
        names = list(settings.names)
        if settings.speaker_names:
            for label in sorted(set(speaker_labels)):
                names.extend(names_in_label(label))
        names = sorted({n.strip() for n in names if n.strip()}, key=lambda n: (-len(n), n))
        self.rules: list[tuple[str, re.Pattern[str]]] = []  # patterns first, so an email is replaced whole
        for label, pattern in settings.patterns.items():
            try:
                self.rules.append((re.sub(r"\W", "_", label).upper(), re.compile(pattern)))
            except re.error as exc:
                raise PrecodeError(f"[llm.pseudonymize] patterns.{label}: invalid regular expression ({exc})",
                                   hint="fix the pattern in precode.toml") from None
        if names:
            self.rules.append(("NAME", re.compile(r"(?<!\w)(" + "|".join(re.escape(n) for n in names) + r")(?!\w)")))

    def apply(self, texts: list[str]) -> tuple[list[str], Pseudonyms]:
        """Replace in all texts of one request with one shared mapping."""
        mapping: dict[str, str] = {}
        if not self.enabled:
            return list(texts), Pseudonyms(mapping)
        counters: dict[str, int] = {}

        def placeholder(kind: str, original: str) -> str:
            if original not in mapping:
                counters[kind] = counters.get(kind, 0) + 1
                mapping[original] = f"[{kind}_{counters[kind]}]"
            return mapping[original]

        out = []
        for text in texts:
            for kind, regex in self.rules:
                text = regex.sub(functools.partial(_replace, placeholder, kind), text)
            out.append(text)
        return out, Pseudonyms(mapping)


def _replace(placeholder: Callable[[str, str], str], kind: str, match: re.Match[str]) -> str:
    return placeholder(kind, match.group(0))
