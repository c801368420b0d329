"""Review machine suggestions: a service layer (queue, decisions, progress, proposals) with two
front ends on top, a local web app (FastAPI + plain HTML/JS) and a terminal fallback (rich)."""
