"""The neutral base of every typed configuration, and what of a configuration changes results.

Ground floor: imports nothing of aesdata. Stages, the LLM backends, the renderer and the judges all
describe their settings as ``StageConfig`` models (unknown keys are errors, values are typed, frozen), so
none of them needs the stage contract to say what a setting is.

A setting that changes speed but never output (requests in flight, browser processes, worker counts)
is a *tuning key*: a config class lists it in ``tuning_keys``; ``fingerprint_dict`` leaves every tuning
key out, at any depth of nesting, so changing one never redoes finished work.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class StageConfig(BaseModel):
    """Base class of a configuration: unknown keys are errors, values are typed, instances are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: fields that change speed, not output: left out of fingerprints (see ``fingerprint_dict``)
    tuning_keys: ClassVar[tuple[str, ...]] = ()


def fingerprint_dict(config: BaseModel) -> dict[str, Any]:
    """``config`` as JSON-able values without its tuning keys, recursively through nested configs."""
    data = config.model_dump(mode="json")
    _strip(config, data)
    return data


def _strip(model: BaseModel, data: dict[str, Any]) -> None:
    for key in getattr(type(model), "tuning_keys", ()):
        data.pop(key, None)
    for name in type(model).model_fields:
        value = getattr(model, name, None)
        if isinstance(value, BaseModel) and isinstance(data.get(name), dict):
            _strip(value, data[name])
