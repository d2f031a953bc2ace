"""Everything that can be checked before the first trial is checked here, once, so that a bad
input is one line and nothing is written to the storage: every stage's sampler and pruner are
built and exercised, the dataset is loaded (missing, truncated or malicious files, an unknown
name, a val_size larger than the data, a CSV's missing or non-numeric columns), the metric is
checked against the data's task and the final's monitor split against its size, and the
checkpoint settings (interval, location) are checked."""

from __future__ import annotations

from objectives import data as data_mod
from objectives.adapters.estimator import EstimatorObjective
from objectives.adapters.function import FunctionObjective
from objectives.adapters.imports import is_ref
from objectives.base import Objective
from objectives.data import Dataset
from objectives.metrics import FAMILIES, base_name
from tuner.engine.checkpoints import check_checkpoints
from tuner.errors import SpecError, tuner_errors
from tuner.options import RunOptions
from tuner.search.samplers import Direction, check_stage, optuna_direction
from tuner.spec import StudySpec
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


@tuner_errors
def load_data(spec: StudySpec, options: RunOptions) -> Dataset:
    """The study's dataset (train and val; the test files are read by the final only)."""
    return data_mod.load_dataset(
        spec.dataset, folder=spec.folder, data_dir=options.data_dir, val_size=spec.val_size,
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
    """The built-in nets are classifiers: a regression target is one line, not a crash."""
    user_model = isinstance(objective, (EstimatorObjective, FunctionObjective))
    if not user_model and data.task != "classification" and not is_ref(ref):
        raise SpecError(f"{where}{ref} trains classifiers; {data.name} has a {data.task} "
                        "target.")


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


def preflight(spec: StudySpec, options: RunOptions) -> Dataset:
    """Run every check; return the loaded dataset."""
    check_stages(spec)
    if options.checkpoints:
        check_checkpoints(options.storage_url, options.checkpoint_dir)
    data = load_data(spec, options)
    check_metric(spec, data)
    monitor_size(spec, data)
    return data
