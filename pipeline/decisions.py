"""Review decisions: recorded append-only, read back as each suggestion's current state.

A decision is never updated or deleted. A reviewer's `undo` withdraws that reviewer's most recent
standing decision on the suggestion. The current state of a suggestion is the latest standing
decision of any reviewer (or of the one reviewer asked for).

The records and their storage live in `pipeline.store.decisions`; this module is the name the rest
of the code (and plugins) import them by.
"""

from __future__ import annotations

from pipeline.store.decisions import Action, Decision, current_decisions, record_decision

__all__ = ["Action", "Decision", "current_decisions", "record_decision"]
