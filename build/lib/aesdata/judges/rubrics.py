"""Versioned VLM rubrics: the prompts, the JSON answer schema and how a total is read from an answer.

Three rubrics from the source papers (``/work/shared/reference/papers.md``):

- ``opendesign`` (AesCoder's OpenDesign benchmark): alignment with the instruction 40 + aesthetics and
  readability 30 + structure and cohesion 30 = 0..100, answered as
  ``{alignment_score, aesthetics_score, structure_score, total_score, feedback}``.
- ``webgen`` (WebGen-R1 / WebGen-Bench appearance): one grade 0..5 over rendering, content relevance,
  layout harmony and modernness, answered as ``{score, feedback}``.
- ``plotbench`` (PandasPlotBench): ``vis`` 0..100 (closeness to a reference plot, when one is given) and
  ``task`` 0..100 (does the plot do what was asked), answered as ``{vis_score, task_score, feedback}``.

A rubric's ``version`` is part of every cache key and of the ``rubric_version`` column: change a prompt,
bump the version, and no stale cached grade is reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aesdata.errors import AesdataError


@dataclass(frozen=True)
class Rubric:
    """One grading rubric.

    ``fields`` maps each numeric answer field to its maximum; ``total_field`` names the field that is the
    total; when it is not one of ``fields`` the total is recomputed from the fields (never trusted from the
    model): their sum rescaled to ``scale``;
    ``scale`` is the maximum of the total. ``system`` and ``user`` are the prompts; ``user`` is formatted
    with ``instruction``.
    """

    name: str
    version: str
    system: str
    user: str
    fields: dict[str, float]
    total_field: str
    scale: float
    uses_reference: bool = False

    @property
    def id(self) -> str:
        """``name@version``, the value of the ``rubric_version`` column."""
        return f"{self.name}@{self.version}"

    def json_schema(self) -> dict[str, Any]:
        """JSON schema of the answer, for ``response_format`` / vLLM ``guided_json``."""
        props: dict[str, Any] = {
            k: {"type": "number", "minimum": 0, "maximum": m} for k, m in self.fields.items()
        }
        if self.total_field not in props:
            props[self.total_field] = {"type": "number", "minimum": 0, "maximum": self.scale}
        props["feedback"] = {"type": "string"}
        return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}

    def read(self, answer: dict[str, Any]) -> tuple[float, dict[str, float], str]:
        """Validate a parsed answer: return (total, sub-scores, feedback), clipping each field to its range.

        Raises ``ValueError`` when a required numeric field is missing or not a number.
        """
        subs: dict[str, float] = {}
        for key, top in self.fields.items():
            value = answer.get(key)
            if isinstance(value, str):
                value = value.strip().split("/")[0]
            try:
                number = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ValueError(f"answer field {key!r} is not a number: {value!r}") from None
            subs[key] = min(max(number, 0.0), top)
        if self.total_field in self.fields:
            total = subs[self.total_field]
        else:  # the fields' sum, rescaled to the rubric's scale (a mean when the fields each span it)
            total = sum(subs.values()) * self.scale / sum(self.fields.values())
        feedback = str(answer.get("feedback", "") or "")
        return total, subs, feedback


_ANCHORS = "Score anchors: 90-100 outstanding, 70-89 good, 50-69 average, 30-49 below average, 0-29 poor."

OPENDESIGN = Rubric(
    name="opendesign",
    version="1",
    system=(
        "You are an expert UI/UX designer and front-end reviewer. You grade a screenshot of a web page "
        "generated for a user's instruction. Be strict and consistent. "
        + _ANCHORS
        + " Answer with JSON only."
    ),
    user=(
        "Instruction given to the page author:\n<instruction>\n{instruction}\n</instruction>\n\n"
        "Grade the attached full-page screenshot on three criteria:\n"
        "1. alignment_score (0-40): does the page do what the instruction asks, with the requested content, "
        "sections and features?\n"
        "2. aesthetics_score (0-30): visual appeal and readability: colour harmony, contrast, typography, "
        "spacing, imagery, polish.\n"
        "3. structure_score (0-30): layout structure and cohesion: clear hierarchy, alignment, consistent "
        "components, nothing overlapping, clipped, broken or empty.\n"
        "total_score is the sum (0-100). feedback: two or three sentences naming the main strengths and "
        "defects.\n"
        'Answer as JSON: {{"alignment_score": n, "aesthetics_score": n, "structure_score": n, '
        '"total_score": n, "feedback": "..."}}'
    ),
    fields={"alignment_score": 40, "aesthetics_score": 30, "structure_score": 30},
    total_field="total_score",
    scale=100,
)

WEBGEN = Rubric(
    name="webgen",
    version="1",
    system=(
        "You are a strict reviewer of generated websites. You grade the appearance of a screenshot. "
        "Answer with JSON only."
    ),
    user=(
        "The website was built for this request:\n<instruction>\n{instruction}\n</instruction>\n\n"
        "Grade the screenshot's appearance from 0 to 5 (integers or halves): 0 = nothing rendered or an "
        "error page; 1 = mostly broken; 2 = renders but plain or with clear layout problems; 3 = acceptable; "
        "4 = good, harmonious and relevant; 5 = polished, modern and fully relevant. Consider rendering "
        "correctness, content relevance, layout harmony and modernness.\n"
        'Answer as JSON: {{"score": n, "feedback": "..."}}'
    ),
    fields={"score": 5},
    total_field="score",
    scale=5,
)

PLOTBENCH = Rubric(
    name="plotbench",
    version="1",
    system=("You are an expert in data visualisation grading plots produced by code. Answer with JSON only."),
    user=(
        "The plotting code was written for this task:\n<task>\n{instruction}\n</task>\n\n"
        "The first image is the produced plot. When a second image is attached it is the reference plot.\n"
        "vis_score (0-100): how closely the produced plot matches the reference (data, chart type, "
        "encodings, labels); without a reference, how clear and correct the visualisation is.\n"
        "task_score (0-100): how completely the plot fulfils the task description.\n"
        'Answer as JSON: {{"vis_score": n, "task_score": n, "total": n, "feedback": "..."}} where total is '
        "the mean of the two scores."
    ),
    fields={"vis_score": 100, "task_score": 100},
    total_field="total",
    scale=100,
    uses_reference=True,
)

RUBRICS: dict[str, Rubric] = {r.name: r for r in (OPENDESIGN, WEBGEN, PLOTBENCH)}


def get_rubric(name: str) -> Rubric:
    """Return the rubric called ``name`` (``opendesign``, ``webgen`` or ``plotbench``, optionally ``@version``)."""
    base, _, version = name.partition("@")
    rubric = RUBRICS.get(base)
    if rubric is None or (version and version != rubric.version):
        raise AesdataError(
            f"Unknown rubric {name!r}.",
            f"Use one of: {', '.join(r.id for r in RUBRICS.values())}.",
        )
    return rubric
