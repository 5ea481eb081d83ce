"""Row identity: the content-derived id of a candidate, and the kind of a piece of code.

Ground floor (imports nothing of aesdata). Every source and expand stage makes ids the same way, so
the same (kind, instruction, code) is the same row whichever stage read or generated it.
"""

from __future__ import annotations

import hashlib


def content_id(kind: str, instruction: str, code: str) -> str:
    """Stable id of a candidate: sha256 over kind, instruction and code (16 hex digits)."""
    return hashlib.sha256("\x1f".join((kind, instruction, code)).encode()).hexdigest()[:16]


def guess_kind(code: str) -> str:
    """'html' when the code looks like markup, else 'plot'."""
    head = code.lstrip()[:200].lower()
    return "html" if head.startswith("<") or "<html" in head or "<body" in head or "<div" in head else "plot"
