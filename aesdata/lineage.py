"""Column lineage: which step's shards hold each column of the row set after a step. Written once here.

Ground floor (imports nothing of aesdata). The rule: a ``source`` or ``expand`` step makes a new row
set, so after it every column (``id`` included) comes from that step alone; a ``map`` or ``global``
step adds or replaces its outputs on the current row set, keyed by ``id``. The pipeline loader uses it
to reject a step whose required column no earlier step writes, the executor to know where each step
reads its input from, and the run directory to build the ``samples`` view.
"""

from __future__ import annotations

from collections.abc import Iterable

#: column -> id of the step whose shards hold it
Sources = dict[str, str]

ROW_MAKING_MODES = ("source", "expand")


def after_step(sources: Sources, step_id: str, mode: str, outputs: Iterable[str]) -> Sources:
    """The column sources after step ``step_id`` (of ``mode``, writing ``outputs``) ran on ``sources``."""
    if mode in ROW_MAKING_MODES:
        return {"id": step_id, **{c: step_id for c in outputs}}
    return {**sources, **{c: step_id for c in outputs}}


def input_columns(requires: Iterable[str], uses: Iterable[str], sources: Sources) -> tuple[str, ...]:
    """What a step reads: ``id``, its required columns, and the optional ones an earlier step wrote."""
    return tuple(dict.fromkeys(["id", *requires, *(c for c in uses if c in sources)]))
