"""Read a study file, validate every key once, apply the overrides, return a StudySpec.

Every problem is one SpecError line naming the file and the dotted key; the format is in
docs/study-files.md. The API's load_study_spec adds the checks that need Optuna (samplers and
pruners built and exercised) and the engine's preflight those that need the data.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from objectives.adapters.estimator import EstimatorObjective
from objectives.adapters.function import FunctionObjective
from objectives.adapters.imports import is_ref
from objectives.base import METRIC_NAMES, Objective
from objectives.config import check_param, resolve_config
from objectives.errors import ConfigError
from objectives.metrics import (
    CLASSIFICATION_METRICS,
    NEEDS_PROBA,
    REGRESSION_METRICS,
    base_name,
)
from tuner.errors import SpecError
from tuner.spec.budget import parse_duration
from tuner.spec.checker import Checker
from tuner.spec.cv import parse_cv
from tuner.spec.files import find_study_file
from tuner.spec.metrics import (
    check_rules,
    confirm_override,
    parse_confirm,
    parse_metrics,
    parse_pick,
)
from tuner.spec.model import (
    DEFAULT_MONITOR,
    DERIVED_METRICS,
    SEED_LIMIT,
    TRIALS_LIMIT,
    Final,
    Stage,
    StudySpec,
)
from tuner.spec.objectives import resolve_objective
from tuner.spec.pbt import parse_use, unpinned
from tuner.spec.recipe import RECIPE_KEYS, expand_recipe, is_recipe
from tuner.spec.stage_table import parse_stage

TOP_KEYS = {"name", "objective", "dataset", "metric", "direction", "metrics", "directions",
            "seed", "val_size", "train_limit", "fixed", "stages", "final", "target", "task",
            "test_size", "cv", "budget", *RECIPE_KEYS}
FINAL_KEYS = {"monitor", "set", "pick", "confirm", "use"}


def check_seed(seed: Any, where: str) -> int:
    """`seed` when it is an int in [0, 2**32), else SpecError naming `where`."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise SpecError(f"{where} must be an int in [0, {SEED_LIMIT - 1}]. Got {seed!r} instead.")
    return seed


def load_spec(
    name: str | Path,
    *,
    dataset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    trials: int | None = None,
    seed: int | None = None,
    confirm: bool | Mapping[str, Any] | None = None,
    space: Mapping[str, Any] | None = None,
    budget: str | float | None = None,
) -> StudySpec:
    """Read, validate and resolve a study file, applying the overrides (`confirm`: True for
    the file's [final] confirm or the default one, False for none, or a table like the
    file's; `space`: a space table like a stage's, whose default recipe (spec/recipe.py) of
    `trials` evaluations replaces the file's stages; `budget`: the study's wall time, "2h")."""
    if dataset is not None and not isinstance(dataset, str):
        raise SpecError(f"A study's dataset is a name, a .csv / .npz path or \"module:function\" "
                        "(stored with the study, so that a resumed run and every worker load "
                        f"the same data); got a {type(dataset).__name__}. Give the data itself "
                        "as data= (run_study, final), or write it to a .npz (numpy.savez(path, "
                        "X=X, y=y)) or a CSV.")
    path = find_study_file(name)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: malformed TOML: {exc}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read: {exc}.") from None
    if space is not None:
        if trials is None:
            raise SpecError("space= runs the default recipe over that space; give its total "
                            "number of evaluations as trials=.")
        raw = {**{k: v for k, v in raw.items() if k != "stages"}, "space": dict(space)}
    if budget is not None:
        raw = {**raw, "budget": parse_duration(budget, "--budget")}
    return parse_spec(raw, path, dataset=dataset, overrides=overrides, trials=trials, seed=seed,
                      confirm=confirm)


def parse_spec(
    raw: Mapping[str, Any],
    path: Path,
    *,
    dataset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    trials: int | None = None,
    seed: int | None = None,
    confirm: bool | Mapping[str, Any] | None = None,
) -> StudySpec:
    """Validate a parsed study file and apply the overrides."""
    c = Checker(path)
    c.unknown(raw, TOP_KEYS, "")
    ref = c.get(raw, "objective", (str,), "", required=True)
    objective = resolve_objective(ref, f"{path}: objective", folder=path.parent)
    if isinstance(objective, FunctionObjective):
        objective = objective.declaring(declared_params(raw, overrides or {}))
    study_name = c.get(raw, "name", (str,), "", default=path.stem)
    if not study_name or "/" in study_name or "#" in study_name:
        raise c.fail("name", f"must be a non-empty name without '/' or '#'. Got {study_name!r} "
                     "instead.")
    metrics, directions = parse_metrics(c, raw, lambda m, key: _metric(c, m, key, ref,
                                                                        objective))
    recipe = recipe_confirm = None
    if is_recipe(raw):
        recipe, recipe_confirm, stages = expand_recipe(c, raw, objective, trials, confirm,
                                                       len(metrics), set(overrides or {}))
        raw = {**raw, "stages": stages}
    if seed is not None:
        study_seed = check_seed(seed, "--seed")
    else:
        study_seed = check_seed(c.get(raw, "seed", (int,), "", default=0), f"{path}: seed")
    val_size = c.get(raw, "val_size", (int, float), "")
    if val_size is not None and (val_size <= 0 or isinstance(val_size, float) and val_size >= 1):
        raise c.fail("val_size", f"must be a count >= 1 or a fraction in (0, 1). Got {val_size!r}.")
    train_limit = c.get(raw, "train_limit", (int,), "")
    if train_limit is not None and train_limit < 1:
        raise c.fail("train_limit", f"must be >= 1. Got {train_limit} instead.")
    overrides = _checked_overrides(objective, overrides or {})
    fixed_raw = _checked_table(c, objective, c.get(raw, "fixed", (dict,), "", default={}), "fixed")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int)
                               or not 1 <= trials <= TRIALS_LIMIT):
        raise SpecError(f"--trials must be an int in [1, {TRIALS_LIMIT}]. Got {trials!r} "
                        "instead.")
    spec = StudySpec(
        name=study_name, path=path, objective_ref=ref, objective=objective,
        dataset=dataset or c.get(raw, "dataset", (str,), "", required=True),
        metric=metrics[0], direction=directions[0],
        metrics=metrics if len(metrics) > 1 else (),
        directions=directions if len(metrics) > 1 else (),
        seed=study_seed, val_size=val_size, train_limit=train_limit,
        fixed=resolve_config(objective.name, objective.params, {**fixed_raw, **overrides}),
        stages=_stages(c, raw, objective, overrides, None if recipe else trials),
        final=_final(c, raw, objective), overrides=overrides, trials_override=trials,
        cv=parse_cv(c, raw), recipe=recipe,
        budget=None if "budget" not in raw else parse_duration(raw["budget"],
                                                               f"{path}: budget"),
        **_data_keys(c, raw),
    )
    pick_raw = c.get(raw, "final", (dict,), "", default={}).get("pick")
    spec = replace(spec, final=replace(spec.final, pick=parse_pick(
        c, pick_raw, spec, lambda m, key: _rule_metric(c, m, key, spec))))
    if recipe is not None:
        spec = replace(spec, final=replace(spec.final, confirm=recipe_confirm))
    elif confirm is not None:
        spec = replace(spec, final=replace(spec.final, confirm=confirm_override(
            confirm, spec.final.confirm)))
    check_rules(c, spec)
    return spec


def declared_params(raw: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Every param a study declares for a training function, with its [fixed] value (None when
    only a space, a `set` table or --set names it)."""
    declared: dict[str, Any] = {}
    stages: list[Any] = raw["stages"] if isinstance(raw.get("stages"), list) else []
    tables = [t.get(key) for t in stages if isinstance(t, dict) for key in ("space", "set")]
    final = raw.get("final")
    tables += [final.get("set") if isinstance(final, dict) else None, overrides,
               raw.get("space")]  # the default recipe's (spec/recipe.py)
    for table in tables:
        if isinstance(table, Mapping):
            declared.update(dict.fromkeys(table))
    fixed = raw.get("fixed")
    declared.update(fixed if isinstance(fixed, dict) else {})
    return declared


def _metric(c: Checker, metric: str, key: str, ref: str, objective: Objective) -> None:
    """`metric` (named at `key`) must be one the objective can give, or one the tuner derives
    (seconds, epochs, params_count)."""
    if metric in DERIVED_METRICS:
        return
    if isinstance(objective, EstimatorObjective):
        base = base_name(metric)
        known = CLASSIFICATION_METRICS + REGRESSION_METRICS
        if base not in known or not metric.startswith(("val_", "train_")):
            raise c.fail(key, f"must be val_ (or train_) and one of: {', '.join(known)}, or one "
                         f"of {', '.join(DERIVED_METRICS)}. Got {metric!r} instead.")
        if base in NEEDS_PROBA and not objective.has_proba:
            raise c.fail(key, f"{metric} needs predict_proba, which {objective.name} "
                         "does not have; use val_accuracy or val_f1.")
    elif not is_ref(ref) and metric not in METRIC_NAMES + DERIVED_METRICS:
        raise c.fail(key, f"must be one of: {', '.join(METRIC_NAMES + DERIVED_METRICS)}. "
                     f"Got {metric!r} instead.")


def _rule_metric(c: Checker, metric: str, key: str, spec: StudySpec) -> None:
    """A pick rule's metric: one of the study's, a derived one, or (the built-in nets and
    estimators, whose metrics are known) any metric the objective reports."""
    names = spec.metric_names
    if metric in names or metric in DERIVED_METRICS:
        return
    if is_ref(spec.objective_ref) and not isinstance(spec.objective, EstimatorObjective):
        raise c.fail(key, f"must be one of the study's metrics ({', '.join(names)}) or "
                     f"{', '.join(DERIVED_METRICS)}. Got {metric!r} instead.")
    _metric(c, metric, key, spec.objective_ref, spec.objective)


def _data_keys(c: Checker, raw: Mapping[str, Any]) -> dict[str, Any]:
    """target, task and test_size: how to read and split the user's own data."""
    task = c.get(raw, "task", (str,), "")
    if task is not None and task not in ("classification", "regression"):
        raise c.fail("task", f"must be 'classification' or 'regression'. Got {task!r} instead.")
    test_size = c.get(raw, "test_size", (int, float), "")
    if test_size is not None and (test_size <= 0 or isinstance(test_size, float)
                                  and test_size >= 1):
        raise c.fail("test_size", f"must be a count >= 1 or a fraction in (0, 1). "
                     f"Got {test_size!r}.")
    return {"target": c.get(raw, "target", (str,), ""), "task": task, "test_size": test_size}


def _checked_table(c: Checker, objective: Objective, table: Mapping[str, Any], where: str
                   ) -> dict[str, Any]:
    """A table of fixed params, each value checked (and converted) for the objective."""
    out = {}
    for key, value in table.items():
        try:
            out[key] = check_param(objective.name, objective.params, key, value)
        except ConfigError as exc:
            raise c.fail(f"{where}.{key}", str(exc)) from None
    return out


def _checked_overrides(objective: Objective, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """--set (overrides=) values, each checked (and converted) for the objective."""
    out = {}
    for key, value in overrides.items():
        try:
            out[key] = check_param(objective.name, objective.params, key, value)
        except ConfigError as exc:
            raise SpecError(f"--set {key}={value}: {exc}") from None
    return out


def _stages(c: Checker, raw: Mapping[str, Any], objective: Objective,
            overrides: Mapping[str, Any], trials: int | None) -> tuple[Stage, ...]:
    """Every [[stages]] table; --set pins a param (it leaves every space and refine list)
    and --trials replaces every stage's trial count."""
    stages_raw = c.get(raw, "stages", (list,), "", required=True)
    if not stages_raw:
        raise c.fail("stages", "at least one [[stages]] table is required.")
    stages: list[Stage] = []
    for i, stage_raw in enumerate(stages_raw):
        if not isinstance(stage_raw, dict):
            raise c.fail(f"stages[{i}]", "must be a table ([[stages]]).")
        stage = parse_stage(c, stage_raw, i, objective, stages)
        if trials is not None and stage.pbt is None:  # a PBT stage's count is its population's
            stage = replace(stage, trials=trials)
        stage = replace(stage, space=tuple(p for p in stage.space if p.name not in overrides),
                        overrides={k: v for k, v in stage.overrides.items()
                                   if k not in overrides})
        if stage.pbt is not None and overrides:
            stage = replace(stage, pbt=unpinned(c, stage.name, stage.pbt, overrides))
        if stage.refine is not None:
            refine = replace(stage.refine,
                             params=tuple(p for p in stage.refine.params if p not in overrides))
            if stage.trials is not None:
                refine = replace(refine, enqueue=min(refine.enqueue, stage.trials))
            stage = replace(stage, refine=refine)
        stages.append(stage)
    return tuple(stages)


def _final(c: Checker, raw: Mapping[str, Any], objective: Objective) -> Final:
    final_raw = c.get(raw, "final", (dict,), "", default={})
    c.unknown(final_raw, FINAL_KEYS, "final.")
    monitor = c.get(final_raw, "monitor", (int, float), "final.", default=DEFAULT_MONITOR)
    if monitor <= 0 or isinstance(monitor, float) and monitor >= 1:
        raise c.fail("final.monitor", f"must be a count >= 1 or a fraction in (0, 1). "
                     f"Got {monitor} instead.")
    final_set = _checked_table(c, objective, c.get(final_raw, "set", (dict,), "final.",
                                                   default={}), "final.set")
    return Final(monitor=monitor, overrides=final_set, use=parse_use(c, final_raw),
                 confirm=parse_confirm(c, final_raw.get("confirm")))
