"""A StudySpec as plain JSON-able data and back: what the study stores in its storage when it
starts (engine/spec_store.py), so every worker, local or on a Dask cluster, runs the very spec
the study was started with (a spec changed in Python included), and a worker's own study file
can be compared with it.

The objective travels as its reference ("two_layer", "model:train", "sklearn.linear_model:Ridge")
and is resolved again where the record is read, from the study file's folder first.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from objectives.adapters.function import FunctionObjective
from tuner.errors import SpecError
from tuner.spec.model import (
    Condition,
    Confirm,
    CrossValidation,
    Final,
    ParamSpace,
    Pick,
    Refine,
    Stage,
    StopRule,
    StudySpec,
)
from tuner.spec.objectives import resolve_objective
from tuner.spec.pbt import Pbt

VERSION = 1
IGNORED = ("path", "budget")
"""Keys that may differ between two records of the same study (the file's location; the wall
time budget, which each process counts for itself)."""


def to_record(spec: StudySpec) -> dict[str, Any]:
    """The spec as JSON-able data; SpecError when a value cannot be stored (a TOML date)."""
    record = {
        "version": VERSION, "name": spec.name, "path": str(spec.path.resolve()),
        "objective": spec.objective_ref, "dataset": spec.dataset, "metric": spec.metric,
        "direction": spec.direction, "metrics": list(spec.metrics),
        "directions": list(spec.directions), "seed": spec.seed, "val_size": spec.val_size,
        "train_limit": spec.train_limit, "fixed": dict(spec.fixed),
        "stages": [_stage(s) for s in spec.stages], "final": _final(spec.final),
        "overrides": dict(spec.overrides), "trials_override": spec.trials_override,
        "target": spec.target, "task": spec.task, "test_size": spec.test_size,
        "cv": None if spec.cv is None else {"folds": spec.cv.folds, "shuffle": spec.cv.shuffle},
        "recipe": spec.recipe, "budget": spec.budget,
    }
    try:
        return dict(json.loads(json.dumps(record, allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise SpecError(f"Study '{spec.name}' cannot be stored with its trials: {exc}. Use "
                        "numbers, strings, booleans and lists as values.") from None


def _stage(stage: Stage) -> dict[str, Any]:
    refine = stage.refine
    return {"name": stage.name, "sampler": stage.sampler,
            "sampler_options": dict(stage.sampler_options), "pruner": stage.pruner,
            "pruner_options": dict(stage.pruner_options), "trials": stage.trials,
            "timeout": stage.timeout, "space": [p.to_dict() for p in stage.space],
            "refine": None if refine is None else {
                "source": refine.source, "params": list(refine.params), "top_k": refine.top_k,
                "margin": refine.margin, "enqueue": refine.enqueue, "by": refine.by,
                "warm_start": refine.warm_start},
            "overrides": dict(stage.overrides), "prune_on": stage.prune_on,
            "stop": None if stage.stop is None else dataclasses.asdict(stage.stop),
            "pbt": None if stage.pbt is None else stage.pbt.to_dict()}


def _final(final: Final) -> dict[str, Any]:
    pick = final.pick
    confirm = final.confirm
    return {"monitor": final.monitor, "overrides": dict(final.overrides), "use": final.use,
            "confirm": None if confirm is None else {"top_k": confirm.top_k,
                                                     "repeats": confirm.repeats},
            "pick": None if pick is None else {
                "metric": pick.metric, "direction": pick.direction,
                "where": [[c.metric, c.op, c.bound] for c in pick.where]}}


def from_record(record: Mapping[str, Any], folder: Path | None = None) -> StudySpec:
    """The spec a record holds, its objective resolved from `folder` (default: the folder of
    the study file it was loaded from) first. SpecError when the objective cannot be found."""
    if record.get("version") != VERSION:
        raise SpecError(f"Study '{record.get('name')}' was stored by another version of tuner "
                        f"(record version {record.get('version')}, this one reads {VERSION}).")
    path = Path(record["path"])
    ref = record["objective"]
    objective = resolve_objective(ref, f"{path}: objective", folder=folder or path.parent)
    if isinstance(objective, FunctionObjective):
        objective = objective.declaring(record["fixed"])
    final = record["final"]
    pick = final["pick"]
    return StudySpec(
        name=record["name"], path=path, objective_ref=ref, objective=objective,
        dataset=record["dataset"], metric=record["metric"], direction=record["direction"],
        metrics=tuple(record["metrics"]), directions=tuple(record["directions"]),
        seed=record["seed"], val_size=record["val_size"], train_limit=record["train_limit"],
        fixed=dict(record["fixed"]), stages=tuple(_stage_of(s) for s in record["stages"]),
        final=Final(monitor=final["monitor"], overrides=dict(final["overrides"]),
                    use=final.get("use", "replay"),
                    confirm=None if final["confirm"] is None else Confirm(**final["confirm"]),
                    pick=None if pick is None else Pick(
                        metric=pick["metric"], direction=pick["direction"],
                        where=tuple(Condition(m, op, bound) for m, op, bound in pick["where"]))),
        overrides=dict(record["overrides"]), trials_override=record["trials_override"],
        target=record["target"], task=record["task"], test_size=record["test_size"],
        cv=_cv_of(record),
        recipe=record.get("recipe"), budget=record.get("budget"))


def _cv_of(record: Mapping[str, Any]) -> CrossValidation | None:
    """The record's cross-validation; a record written before `cv` existed ran on its val
    split, so it stays on it (folds 0) rather than taking today's default."""
    if "cv" not in record:
        return CrossValidation(folds=0)
    return None if record["cv"] is None else CrossValidation(**record["cv"])


def _stage_of(data: Mapping[str, Any]) -> Stage:
    refine = data["refine"]
    return Stage(name=data["name"], sampler=data["sampler"],
                 sampler_options=dict(data["sampler_options"]), pruner=data["pruner"],
                 pruner_options=dict(data["pruner_options"]), trials=data["trials"],
                 timeout=data["timeout"],
                 space=tuple(ParamSpace.from_dict(p) for p in data["space"]),
                 refine=None if refine is None else Refine(
                     source=refine["source"], params=tuple(refine["params"]),
                     top_k=refine["top_k"], margin=refine["margin"],
                     enqueue=refine["enqueue"], by=refine["by"],
                     warm_start=refine.get("warm_start", True)),
                 overrides=dict(data["overrides"]), prune_on=data["prune_on"],
                 stop=None if data.get("stop") is None else StopRule(**data["stop"]),
                 pbt=None if data.get("pbt") is None else Pbt.from_dict(data["pbt"]))


def first_difference(mine: Mapping[str, Any], stored: Mapping[str, Any], where: str = ""
                     ) -> str | None:
    """The first key (dotted, stages by name) whose value differs between two records, as
    "stages.fine.trials: 20 here, 30 stored"; None when they describe the same study."""
    for key in sorted(set(mine) | set(stored)):
        if not where and key in IGNORED:
            continue
        a, b = mine.get(key), stored.get(key)
        if key == "stages" and isinstance(a, list) and isinstance(b, list):
            names = [s["name"] for s in a], [s["name"] for s in b]
            if names[0] != names[1]:
                return f"{where}stages: {_shown(names[0])} here, {_shown(names[1])} stored"
            a = {s["name"]: s for s in a}
            b = {s["name"]: s for s in b}
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            found = first_difference(a, b, f"{where}{key}.")
            if found:
                return found
        elif not _same(a, b):
            return f"{where}{key}: {_shown(a)} here, {_shown(b)} stored"
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    return bool(a == b)


def _shown(value: Any) -> str:
    text = "absent" if value is None else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
