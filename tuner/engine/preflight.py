"""Everything that can be checked before the first trial is checked here, once, so that a bad
input is one line and nothing is written to the storage: every stage's sampler and pruner are
built and exercised, a user estimator's own validation is run on every value the study fixes
and on each space's bounds and choices, the dataset is loaded (missing, truncated or malicious
files, an unknown name, a val_size larger than the data, a CSV's missing or non-numeric columns,
blank targets), the metric is checked against the data's task and the final's monitor split
against its size, and the checkpoint settings (interval, location) are checked."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from objectives import data as data_mod
from objectives.adapters.estimator import EstimatorObjective
from objectives.adapters.function import FunctionObjective
from objectives.adapters.imports import is_ref
from objectives.base import Objective
from objectives.data import Dataset
from objectives.errors import ConfigError
from objectives.metrics import FAMILIES, base_name
from tuner.engine.checkpoint_store import check_checkpoints
from tuner.errors import SpecError, tuner_errors
from tuner.options import RunOptions
from tuner.search.samplers import Direction, check_stage, optuna_direction
from tuner.spec import ParamSpace, Stage, StudySpec
from tuner.spec.checker import Checker
from tuner.spec.sampler_options import check_stage_options


def directions(spec: StudySpec) -> list[Direction]:
    """One Optuna direction per objective of the study."""
    return [optuna_direction(d) for _, d in spec.objectives]


def check_stages(spec: StudySpec) -> None:
    """Each stage's sampler and pruner options against their tables (again, for a StudySpec
    changed in Python), then both built and run on made-up values (see samplers.py)."""
    for stage in spec.stages:
        check_stage_options(Checker(spec.path), stage)
        check_stage(stage, directions(spec), spec.direction_of(spec.prune_on(stage)),
                    str(spec.path))


def check_values(spec: StudySpec) -> None:
    """A user estimator's own parameter validation (scikit-learn's `_validate_params`) on each
    stage's fixed values, with and without [final] set, then on each space's bounds and
    choices, one param at a time: a value it rejects is one line now, not a run of FAIL trials.
    Nothing is fitted."""
    objective = spec.objective
    if not isinstance(objective, EstimatorObjective):
        return
    for stage in spec.stages:
        fixed = spec.stage_fixed(stage)
        for key, config in _candidates(stage, fixed, spec.final.overrides):
            try:
                objective.check(config)
            except ConfigError as exc:
                raise SpecError(f"{spec.path}: {key}: {exc}") from None


def _candidates(stage: Stage, fixed: Mapping[str, Any], final: Mapping[str, Any]
                ) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(where in the study file, a config to validate) for `stage`."""
    where = f"stages.{stage.name}"
    yield f"{where} (its fixed params)", fixed
    if final:
        yield "final.set", {**fixed, **final}
    for param in stage.space:
        for value in _ends(param):
            yield f"{where}.space.{param.name}", {**fixed, param.name: value}


def _ends(param: ParamSpace) -> tuple[Any, ...]:
    """The values of a space that stand for all of it: its choices, or its two bounds."""
    if param.kind == "categorical":
        return param.choices or ()
    cast = int if param.kind == "int" else float
    return tuple(cast(v) for v in (param.low, param.high) if v is not None)


@tuner_errors
def load_data(spec: StudySpec, options: RunOptions, given: Any = None) -> Dataset:
    """The study's dataset (train and val; the test files are read by the final only), or
    the data `given` in memory."""
    return data_mod.load_dataset(
        spec.dataset if given is None else given, folder=spec.folder,
        data_dir=options.data_dir, val_size=spec.val_size,
        seed=spec.seed, normalize=spec.objective.normalize, download=options.download,
        train_limit=spec.train_limit, target=spec.target, task=spec.task,
        test_size=spec.test_size)


def check_metric(spec: StudySpec, data: Dataset) -> None:
    """The study metric must be one the dataset's task gives (val_rmse is no classification
    metric; val_roc_auc needs two classes); the built-in nets only classify."""
    objective = spec.objective
    base = base_name(spec.metric)
    family = FAMILIES[data.task]
    known = {m for metrics in FAMILIES.values() for m in metrics}
    user_model = isinstance(objective, (EstimatorObjective, FunctionObjective))
    if user_model and base in known and base not in family:
        raise SpecError(f"{spec.path}: metric: {spec.metric} is not a {data.task} metric; "
                        f"{spec.dataset} is a {data.task} dataset, which gives: "
                        f"{', '.join('val_' + m for m in family)}.")
    if user_model and base == "roc_auc" and data.classes != 2:
        raise SpecError(f"{spec.path}: metric: val_roc_auc needs two classes; {spec.dataset} "
                        f"has {data.classes}. Use val_f1 or val_loss.")
    check_task(objective, spec.objective_ref, data, f"{spec.path}: objective: ")


def check_task(objective: Objective, ref: str, data: Dataset, where: str = "") -> None:
    """The built-in nets are classifiers, and a scikit-learn estimator says what it is: a
    classifier on a regression target (every trial fails) or a regressor on classes (every
    score meaningless) is one line."""
    user_model = isinstance(objective, (EstimatorObjective, FunctionObjective))
    if not user_model and data.task != "classification" and not is_ref(ref):
        raise SpecError(f"{where}{ref} trains classifiers; {data.name} has a {data.task} "
                        "target.")
    kind = objective.kind if isinstance(objective, EstimatorObjective) else None
    fits = {"classifier": "classification", "regressor": "regression"}
    if kind is not None and fits[kind] != data.task:
        raise SpecError(f"{where}{ref} is a {kind}; {data.name} has a {data.task} target. "
                        f"Expected a {'regressor' if kind == 'classifier' else 'classifier'}, "
                        f"or task = \"{fits[kind]}\" in the study if the target is one.")


def monitor_size(spec: StudySpec, data: Dataset) -> int:
    """The final's monitor split as a count, checked against train+val."""
    pool = len(data.train) + len(data.val)
    monitor = spec.final.monitor
    count = max(1, round(monitor * pool)) if isinstance(monitor, float) else monitor
    if count >= pool:
        raise SpecError(f"{spec.path}: final.monitor: {monitor} leaves nothing to train the "
                        f"final on: {spec.dataset} has {pool} training and validation samples. "
                        "Expected fewer, or a fraction such as 0.02.")
    return count


def preflight(spec: StudySpec, options: RunOptions, given: Any = None) -> Dataset:
    """Run every check; return the loaded dataset (`given`: the data given in memory)."""
    check_stages(spec)
    check_values(spec)
    if options.checkpoints:
        check_checkpoints(options.storage_url, options.checkpoint_dir)
    data = load_data(spec, options, given)
    check_metric(spec, data)
    monitor_size(spec, data)
    return data
