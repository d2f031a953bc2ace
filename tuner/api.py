"""The Python API: run a study, join one as a worker, retrain its best configuration, train once.

    import tuner
    result = tuner.run_study("lambda_search", dataset="digits", final=True)
    result.best_params, result.final["test_accuracy"]

Same behaviour as the CLI (which calls these): studies resume from their storage, every trial is
tracked in MLflow unless tracking=False, and every bad input raises a tuner.TunerError subclass
with the one-line message the CLI prints, before any trial is written. Ctrl-C stops at the
running trial's next report and raises KeyboardInterrupt; running the same call again resumes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

from objectives import data as data_mod
from objectives.adapters.function import FunctionObjective
from objectives.base import Objective
from objectives.config import resolve_config
from objectives.threads import set_budget
from tuner.engine.cluster import cluster_address, run_cluster
from tuner.engine.context import Context, open_context
from tuner.engine.final import run_final
from tuner.engine.jobs import run_jobs
from tuner.engine.preflight import check_stages, check_task, preflight
from tuner.engine.stage import open_stage_study
from tuner.engine.study import optuna_warnings_only, run_stages
from tuner.engine.summary import summarize
from tuner.errors import SpecError, tuner_errors
from tuner.options import RunOptions
from tuner.results import FinalResult, StageResult, StudyResult, TrainResult
from tuner.spec import StudySpec, check_seed, load_spec
from tuner.spec.objectives import resolve_objective
from tuner.trials import better

StudyRef = str | Path | StudySpec


@tuner_errors
def load_study_spec(
    study: str | Path,
    *,
    dataset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    trials: int | None = None,
    seed: int | None = None,
) -> StudySpec:
    """A built-in study name, or a path to a study file, read and validated (samplers and
    pruners included) with the overrides applied. SpecError (one line) when it is invalid."""
    spec = load_spec(study, dataset=dataset, sets=overrides, trials=trials, seed=seed)
    check_stages(spec)
    return spec


def _spec(study: StudyRef, dataset: str | None, overrides: Mapping[str, Any] | None,
          trials: int | None, seed: int | None) -> StudySpec:
    """The study to run (its samplers and pruners are checked by the preflight)."""
    if isinstance(study, StudySpec):
        if dataset is not None or overrides or trials is not None or seed is not None:
            raise SpecError("Pass dataset, overrides, trials and seed to load_study_spec when "
                            "the study is already a StudySpec.")
        return study
    return load_spec(study, dataset=dataset, sets=overrides, trials=trials, seed=seed)


def _threads(threads: int | None) -> None:
    """Make `threads` this process's budget for training (None leaves it as it is)."""
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise SpecError(f"threads must be a positive number of threads. Got {threads!r} instead.")
    set_budget(threads)


def _result(ctx: Context, ran: list[StageResult] | None, final: FinalResult | None,
            workers: int = 1, worker_kind: str = "worker processes") -> StudyResult:
    """The study's result: each stage as this process ran it (or as its worker processes left
    it in storage), and the best trial over all stages (the one the final retrains)."""
    spec = ctx.spec
    stages = ran or [summarize(open_stage_study(ctx, s), s.name, wall=None, ran=0)
                     for s in spec.stages]
    best: StageResult | None = None
    for stage in stages:
        if stage.best_value is not None and better(
                stage.best_value, best.best_value if best else None, spec.direction):
            best = stage
    return StudyResult(
        name=spec.name, metric=spec.metric, direction=spec.direction,
        best_value=best.best_value if best else None,
        best_params=dict(best.best_params or {}) if best else {},
        best_stage=best.name if best else None, stages={s.name: s for s in stages},
        final=final, tracking_warnings=ctx.tracker.warnings, workers=workers,
        worker_kind=worker_kind, metrics=spec.metrics, directions=spec.directions)


@tuner_errors
def run_study(
    study: StudyRef,
    *,
    dataset: str | None = None,
    data_dir: str | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    tracking: bool = True,
    trials: int | None = None,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    final: bool = False,
    jobs: int | None = None,
    progress: bool = True,
    threads: int | None = None,
    download: bool = False,
    register: bool = True,
    cluster: str | None = None,
    checkpoints: bool = True,
    checkpoint_dir: str | None = None,
) -> StudyResult:
    """Run (or resume) every stage of a study, then the final retrain if `final`.

    study: a built-in name ("lambda_search"), a path to a .toml file, or a StudySpec.
    storage: Optuna storage URL (default $TUNER_STORAGE, then sqlite:///tuner.db);
    tracking_uri: MLflow (default $MLFLOW_TRACKING_URI, then sqlite:///mlflow.db);
    overrides: fixed params, like --set; trials: every stage's trial count; jobs: worker
    processes on this machine (default 1), or tuner workers on the Dask cluster at `cluster`
    ("tcp://host:8786", default $TUNER_CLUSTER; jobs default: one per Dask worker thread);
    threads: CPU threads per training run (default: all cores, cores // jobs with jobs > 1);
    register: register the final's model under the study's name in the MLflow Model Registry.
    """
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise SpecError(f"jobs must be a positive number of processes. Got {jobs!r} instead.")
    address = cluster_address(cluster)
    _threads(threads)
    spec = _spec(study, dataset, overrides, trials, seed)
    options = RunOptions(storage=storage, tracking_uri=tracking_uri, tracking=tracking,
                         data_dir=data_dir, download=download, progress=progress,
                         register=register, checkpoints=checkpoints,
                         checkpoint_dir=checkpoint_dir)
    with optuna_warnings_only():
        ctx = open_context(spec, options, preflight(spec, options), role="study")
        if address is not None:
            tasks = run_cluster(spec, options, address, jobs, ctx.storage, threads)
            return _result(ctx, None, run_final(ctx) if final else None, workers=tasks,
                           worker_kind="tuner workers on the Dask cluster")
        if jobs is not None and jobs > 1:
            run_jobs(spec, options, jobs, threads)
            ran = None
        else:
            ran = run_stages(ctx)
        return _result(ctx, ran, run_final(ctx) if final else None, workers=jobs or 1)


@tuner_errors
def join_study(
    study: str | Path,
    *,
    dataset: str | None = None,
    data_dir: str | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    tracking: bool = True,
    trials: int | None = None,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    progress: bool = True,
    threads: int | None = None,
    download: bool = False,
    checkpoints: bool = True,
    checkpoint_dir: str | None = None,
) -> StudyResult:
    """One more worker on a study in a shared storage (what `tuner worker` runs): it works on
    every stage until each has its trials, with sampler seeds of its own; no final."""
    _threads(threads)
    spec = _spec(study, dataset, overrides, trials, seed)
    options = RunOptions(storage=storage, tracking_uri=tracking_uri, tracking=tracking,
                         data_dir=data_dir, download=download, progress=progress,
                         checkpoints=checkpoints, checkpoint_dir=checkpoint_dir)
    with optuna_warnings_only():
        ctx = open_context(spec, options, preflight(spec, options), role="worker")
        return _result(ctx, run_stages(ctx), None)


@tuner_errors
def final(
    study: StudyRef,
    *,
    dataset: str | None = None,
    data_dir: str | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    tracking: bool = True,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    threads: int | None = None,
    download: bool = False,
    register: bool = True,
    checkpoints: bool = True,
    checkpoint_dir: str | None = None,
    trial: str | int | None = None,
) -> FinalResult:
    """Retrain the best configuration of a study (over all its stages) on train+val and
    evaluate it on the test split, once; the result is stored with the study and in MLflow,
    its model logged as an MLflow Model and registered (unless register=False). The trial
    retrained is the one [final] pick chooses (default: the best on the study's first metric),
    or `trial`: N (of the last stage) or "STAGE:N"."""
    _threads(threads)
    spec = _spec(study, dataset, overrides, None, seed)
    options = RunOptions(storage=storage, tracking_uri=tracking_uri, tracking=tracking,
                         data_dir=data_dir, download=download, progress=False,
                         register=register, checkpoints=checkpoints,
                         checkpoint_dir=checkpoint_dir,
                         final_trial=None if trial is None else str(trial))
    with optuna_warnings_only():
        return run_final(open_context(spec, options, preflight(spec, options), role="final"))


Reporter = Callable[[int, Mapping[str, float]], None]


@tuner_errors
def train(
    objective: str | Objective,
    *,
    dataset: str,
    data_dir: str | None = None,
    config: Mapping[str, Any] | None = None,
    seed: int = 0,
    val_size: int | float | None = None,
    target: str | None = None,
    task: str | None = None,
    report: Reporter | None = None,
    progress: bool = False,
    threads: int | None = None,
    download: bool = False,
) -> TrainResult:
    """Train one objective once with `config` (defaults for every key it leaves out) and return
    its history (one row per reporting point: epoch, train/val metrics, seconds) and model.

    objective: a built-in name, "module:attr" (an estimator, a training function or an
    Objective; the current folder is searched first) or an objective object; dataset: a
    built-in name, a .csv / .npz path or "module:function" (target: a CSV's target column).
    `report(step, metrics)`, when given, is called at every reporting point; `progress` shows
    a progress bar on stderr."""
    _threads(threads)
    check_seed(seed, "seed")
    here = Path.cwd()
    obj = resolve_objective(objective, folder=here) if isinstance(objective, str) else objective
    if isinstance(obj, FunctionObjective):
        obj = obj.declaring(dict(config or {}))
    resolved = resolve_config(obj.name, obj.params, dict(config or {}))
    data = data_mod.load_dataset(dataset, folder=here, data_dir=data_dir, seed=seed,
                                 normalize=obj.normalize, download=download, val_size=val_size,
                                 target=target, task=task)
    check_task(obj, obj.name, data)
    planned = getattr(obj, "planned_reports", None)
    total = planned(resolved, len(data.train)) if planned is not None else None
    with tqdm(total=total, unit="eval", file=sys.stderr, disable=not progress, leave=False,
              desc=f"{obj.name} on {dataset}") as bar:

        def step(number: int, metrics: Mapping[str, float]) -> None:
            bar.update(1)
            if report is not None:
                report(number, metrics)

        result = obj.fit(resolved, data.train, data.val, step, seed, data.image_shape)
    return TrainResult(objective=obj.name, dataset=dataset, config=resolved,
                       history=result.history, model=result.model)
