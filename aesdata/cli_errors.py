"""How every command reports bad input: one red paragraph on stderr and exit code 1, never a traceback.

``friendly(fn)`` wraps a Typer command: an ``AesdataError`` becomes its paragraph and ``typer.Exit(1)``;
Ctrl-C becomes a note that finished work is kept and exit code 130. Shared by ``aesdata.cli`` and the
command groups registered there (``aesdata.eval.cli``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from aesdata.errors import AesdataError

err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """Turn ``AesdataError`` into one red paragraph and exit code 1; Ctrl-C into exit code 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AesdataError as e:
            err.print(f"[bold red]Error:[/] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("[yellow]Interrupted.[/] Finished shards are kept; rerun the same command to resume.")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]
