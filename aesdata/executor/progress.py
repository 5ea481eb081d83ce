"""The build's progress display (rich): per step done/total rows, rate, ETA and failures.

Parent-side only; worker processes and Ray actors never draw. Backends report finished shards to the
build loop, which advances the step's bar.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Rows per second of a step."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} rows/s" if speed else "", style="cyan")


class FailColumn(ProgressColumn):
    """Rows that failed in a step (red when any)."""

    def render(self, task: Task) -> Text:
        n = task.fields.get("failures", 0)
        return Text(f"{n} failed" if n else "", style="red" if n else "dim")


def make_progress(console: Console) -> Progress:
    """The build's progress display: per step done/total rows, rate, ETA and failures."""
    return Progress(
        TextColumn("[bold]{task.description:<14}"),
        BarColumn(bar_width=28),
        MofNCompleteColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        FailColumn(),
        TextColumn("{task.fields[note]}", style="dim"),
        console=console,
        transient=False,
    )
