"""User-facing errors: one paragraph that says what was wrong and what to do, never a traceback."""

from __future__ import annotations


class AesdataError(Exception):
    """An error caused by the user's input or environment.

    The CLI prints ``str(error)`` as one paragraph and exits non-zero. ``hint`` says what to do.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} {hint}" if hint else message)
