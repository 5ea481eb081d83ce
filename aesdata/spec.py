"""Pipeline files: YAML in, a validated ``Pipeline`` out, or an error that names file, line and key.

A pipeline file looks like::

    name: demo
    description: Render, judge and curate the bundled demo corpus.
    shard_size: 16            # rows per shard: the unit of resume and of parallel work
    settings: {}              # free-form values every stage can read
    plugins: [my_pkg.stages]  # modules to import first: they register their own stages
    stages:
      - stage: read_corpus    # a registered stage name (``aesdata stages`` lists them)
        path: ../demo/corpus/candidates.jsonl
      - stage: export

Every key of a step besides ``stage`` and ``id`` is validated against that stage's pydantic
``Config`` (unknown keys are errors). ``id`` names the step's folder in the run directory and
defaults to the stage name; two steps of the same stage need distinct ids. Relative paths inside
stage configs are resolved by the stages against the pipeline file's folder.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aesdata.configfile import Lines, describe, find, line_of, read_yaml
from aesdata.errors import AesdataError
from aesdata.lineage import Sources, after_step
from aesdata.stage import Stage, StageConfig
from aesdata.stages import registry

_STEP_KEYS = ("stage", "id")


class _PipelineHeader(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    shard_size: int = Field(default=64, gt=0)
    settings: dict[str, Any] = Field(default_factory=dict)
    plugins: list[str] = Field(default_factory=list)
    stages: list[dict[str, Any]] = Field(min_length=1)


@dataclass(frozen=True)
class Step:
    """One validated step of a pipeline: its id, stage class and typed config."""

    id: str
    stage: type[Stage]
    config: StageConfig

    def config_dict(self) -> dict[str, Any]:
        """The step's config as plain JSON-able values (for hashing and the manifest)."""
        return self.config.model_dump(mode="json")


@dataclass(frozen=True)
class Pipeline:
    """A validated pipeline: header values, steps in order, and where it came from."""

    name: str
    description: str
    shard_size: int
    settings: dict[str, Any]
    steps: tuple[Step, ...]
    path: Path
    text: str
    #: build-time overrides (``--model``...) that some step took: name -> value; already in the step configs
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def spec_hash(self) -> str:
        """sha256 of the pipeline file's text (16 hex)."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]


def _fail(path: Path, line: int | None, where: str, what: str, hint: str | None = None) -> AesdataError:
    loc = f"{path}:{line}" if line else str(path)
    return AesdataError(f"Invalid pipeline file {loc}: {where} {what}.", hint)


def resolve_pipeline_path(name_or_path: str, search_dir: Path | None = None) -> Path:
    """Turn ``demo`` into ``pipelines/demo.yaml`` (under ``search_dir`` or the cwd, else the shipped one),
    or check a path (see ``aesdata.configfile.find``)."""
    return find("pipelines", name_or_path, [search_dir or Path.cwd()])


def load_pipeline(path: Path, overrides: dict[str, Any] | None = None) -> Pipeline:
    """Read and validate a pipeline file; raise ``AesdataError`` naming file, line and key on any problem.

    ``overrides``: build-time values by name (``{"model": "X"}`` from ``aesdata build --model X``; None
    values are ignored), written into the config of each step whose stage takes that name (see
    ``Stage.overrides``); ``Pipeline.overrides`` lists the ones some step took.
    """
    file = read_yaml(path, "pipeline file")
    text, data = file.text, file.data
    if not isinstance(data, dict):
        raise _fail(
            path, 1, "the top level", f"must be a mapping with name and stages; found {type(data).__name__}"
        )
    lines = file.lines
    try:
        header = _PipelineHeader.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"])
        raise _fail(
            path, line_of(lines, loc), f"key {'.'.join(map(str, loc)) or '(top)'!r}", describe(err)
        ) from None

    _import_plugins(path, lines, header.plugins)
    stages = registry()
    steps: list[Step] = []
    seen: set[str] = set()
    for i, raw in enumerate(header.stages):
        where = ("stages", i)
        name = raw.get("stage")
        if not isinstance(name, str):
            raise _fail(
                path,
                line_of(lines, where),
                f"stages[{i}]",
                "has no 'stage' key naming the stage to run",
                f"Known stages: {', '.join(sorted(stages))}.",
            )
        if name not in stages:
            close = [s for s in stages if s.startswith(name[:3])]
            raise _fail(
                path,
                line_of(lines, where + ("stage",)),
                f"stages[{i}].stage",
                f"is {name!r}, which is not a known stage",
                f"Known stages: {', '.join(sorted(stages))}"
                + (f" (did you mean {close[0]!r}?)." if close else "."),
            )
        cls = stages[name]
        step_id = str(raw.get("id", name))
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", step_id) or step_id in seen:
            raise _fail(
                path,
                line_of(lines, where + ("id",)),
                f"stages[{i}] ({name})",
                f"has id {step_id!r}, which is {'used twice' if step_id in seen else 'not a valid folder name'}",
                "Give each step a distinct 'id:' of letters, digits, '_', '-' or '.'.",
            )
        seen.add(step_id)
        cfg = {k: v for k, v in raw.items() if k not in _STEP_KEYS}
        try:
            config = cls.Config.model_validate(cfg)
        except ValidationError as e:
            err = e.errors()[0]
            loc = tuple(err["loc"])
            keys = ", ".join(cls.Config.model_fields) or "none"
            raise _fail(
                path,
                line_of(lines, where + loc),
                f"stages[{i}] ({name}) key {'.'.join(map(str, loc))!r}",
                describe(err),
                f"Keys of stage {name!r}: {keys}.",
            ) from None
        steps.append(Step(step_id, cls, config))
    _check_flow(path, lines, steps)
    pipe = Pipeline(
        header.name,
        header.description,
        header.shard_size,
        header.settings,
        tuple(steps),
        path.resolve(),
        text,
    )
    return apply_overrides(pipe, {k: v for k, v in (overrides or {}).items() if v is not None})


def apply_overrides(pipe: Pipeline, overrides: dict[str, Any]) -> Pipeline:
    """``pipe`` with each override written into the configs of the steps that take it (``Stage.overrides``).

    The new value goes through the stage's ``Config`` validation; an override no step takes is left out
    of ``Pipeline.overrides`` (the caller may say so).
    """
    steps, taken = [], {}
    for step in pipe.steps:
        data = step.config_dict()
        changed = False
        for name, value in overrides.items():
            key_path = step.stage.overrides.get(name)
            if key_path is None:
                continue
            node = data
            for key in key_path[:-1]:
                node = node.get(key) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                continue  # e.g. an optional nested config that is switched off
            node[key_path[-1]] = value
            changed = True
            taken[name] = value
        if changed:
            try:
                config = step.stage.Config.model_validate(data)
            except ValidationError as e:
                raise AesdataError(
                    f"Step {step.id!r} ({step.stage.name}) cannot take the override(s) {overrides}: "
                    f"{describe(e.errors()[0])}."
                ) from None
            step = replace(step, config=config)
        steps.append(step)
    return replace(pipe, steps=tuple(steps), overrides={**pipe.overrides, **taken})


def _import_plugins(path: Path, lines: Lines, modules: list[str]) -> None:
    """Import the pipeline's plugin modules so their ``@register`` stages exist."""
    for i, module in enumerate(modules):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise _fail(
                path,
                line_of(lines, ("plugins", i)),
                f"plugins[{i}]",
                f"names module {module!r}, which cannot be imported ({e})",
                "Install it or put it on PYTHONPATH.",
            ) from None


def _check_flow(path: Path, lines: Lines, steps: list[Step]) -> None:
    """Check the first step makes rows and each step's required columns come from an earlier step."""
    if steps[0].stage.mode != "source":
        raise _fail(
            path,
            line_of(lines, ("stages", 0)),
            "stages[0]",
            f"is {steps[0].stage.name!r}, a {steps[0].stage.mode} stage; the first stage must make rows",
            "Start with a source stage such as read_corpus or instructions.",
        )
    available: Sources = {}
    for i, step in enumerate(steps):
        if i and step.stage.mode == "source":
            raise _fail(
                path,
                line_of(lines, ("stages", i)),
                f"stages[{i}]",
                f"is the source stage {step.stage.name!r}; only the first stage may be a source",
            )
        missing = [c for c in step.stage.requires if c not in available] if i else []
        if missing:
            raise _fail(
                path,
                line_of(lines, ("stages", i)),
                f"stages[{i}] ({step.stage.name})",
                f"needs column(s) {', '.join(missing)}, which no earlier stage writes",
                "Add the stage that writes them before it (see `aesdata stages`).",
            )
        available = after_step(available, step.id, step.stage.mode, step.stage.outputs)
