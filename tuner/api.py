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

import dataclasses
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

from objectives import data as data_mod
from objectives.adapters.estimator import EstimatorObjective
from objectives.adapters.function import FunctionObjective
from objectives.base import Objective
from objectives.config import resolve_config
from objectives.data.files import given_fingerprint
from objectives.threads import set_budget
from tuner.engine.answer import record_answer
from tuner.engine.cluster import cluster_address, run_cluster
from tuner.engine.context import Context, open_context
from tuner.engine.final import run_final
from tuner.engine.jobs import run_jobs
from tuner.engine.preflight import check_stages, check_task, preflight
from tuner.engine.spec_store import check_dataset, store_spec, with_stored_confirm
from tuner.engine.stage import open_stage_study
from tuner.engine.stage_result import summarize
from tuner.engine.study import (
    close_left_open,
    optuna_warnings_only,
    run_confirm_stage,
    run_stages,
    run_worker,
    stages_of,
)
from tuner.errors import ConfigError, SpecError, tuner_errors
from tuner.options import RunOptions
from tuner.results import FinalResult, StageResult, StudyResult, TrainResult
from tuner.spec import StudySpec, check_seed, load_spec
from tuner.spec.objectives import resolve_objective
from tuner.storage import require_existing, storage_errors

StudyRef = str | Path | StudySpec
SPEC_SETTINGS = ("dataset", "overrides", "trials", "seed", "confirm", "space", "budget")
"""Keyword settings that change the study itself (load_study_spec's); every other keyword
setting is a RunOptions field."""


@tuner_errors
def load_study_spec(
    study: str | Path,
    *,
    dataset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    trials: int | None = None,
    seed: int | None = None,
    confirm: bool | Mapping[str, Any] | None = None,
    space: Mapping[str, Any] | None = None,
    budget: str | float | None = None,
) -> StudySpec:
    """A built-in study name, or a path to a study file, read and validated (samplers and
    pruners included) with the overrides (`--set` on the command line, a stage's `set` table
    in the file) applied. `confirm`: True / False turns the confirm stage on (the file's
    [final] confirm table, else the default recipe's, else top_k 5 x repeats 2) or off; a
    mapping like the file's table.
    `space` (with `trials`): search this space with the default recipe, coarse -> fine (->
    confirm from 40 on) in `trials` evaluations at most, in place of the file's stages.
    `budget`: the study's wall time ("2h", "90m", or seconds), spread over the stages still to
    run.
    SpecError (one line) when it is invalid."""
    spec = load_spec(study, dataset=dataset, overrides=overrides, trials=trials, seed=seed,
                     confirm=confirm, space=space, budget=budget)
    check_stages(spec)
    return spec


def _prepare(study: StudyRef, options: RunOptions | None, caller: str,
             settings: dict[str, Any]) -> tuple[StudySpec, RunOptions]:
    """The study to run and how: `settings` are keyword shortcuts, either load_study_spec's
    (dataset, overrides, trials, seed) or RunOptions fields."""
    spec_settings = {k: settings.pop(k) for k in SPEC_SETTINGS if k in settings}
    options = RunOptions.build(options, caller, settings)
    if isinstance(study, StudySpec):
        if any(v is not None for v in spec_settings.values()):
            raise SpecError("Pass dataset, overrides, trials and seed to load_study_spec when "
                            "the study is already a StudySpec.")
        return study, options
    return load_spec(study, **spec_settings), options


def _result(ctx: Context, ran: list[StageResult] | None, final: FinalResult | None,
            workers: int = 1, worker_kind: str = "worker processes") -> StudyResult:
    """The study's result: each stage as this process ran it (or as its worker processes left
    it in storage), and its answer (the trial the final retrains, stored with the study)."""
    spec = ctx.spec
    stages = ran or [summarize(open_stage_study(ctx, s), s.name, wall=None, ran=0)
                     for s in stages_of(spec)]
    answer = final.answer if final is not None else record_answer(ctx)
    return StudyResult(
        name=spec.name, metric=spec.metric, direction=spec.direction,
        best_value=answer.best_value if answer else None,
        best_params=dict(answer.params) if answer else {},
        best_stage=answer.stage if answer else None, stages={s.name: s for s in stages},
        final=final, tracking_warnings=ctx.tracker.warnings, workers=workers,
        worker_kind=worker_kind, metrics=spec.metrics, directions=spec.directions,
        answer=answer)


def _given(spec: StudySpec, options: RunOptions, data: Any) -> StudySpec:
    """`spec` on the data given in memory (its dataset: the data's fingerprint), checked:
    the data stays in this process, so no --jobs or cluster workers."""
    if data is None:
        return spec
    if isinstance(data, (str, Path)):
        raise SpecError(f"data= takes the data itself ((X, y), a DataFrame, a tuner.Data); "
                        f"give a file or a built-in name as dataset=. Got {str(data)!r}.")
    if options.cluster is not None or (options.jobs or 1) > 1:
        raise SpecError("Data given in memory stays in this process; jobs and cluster workers "
                        "load the study's dataset themselves. Save it (numpy.savez(path, X=X, "
                        "y=y) or DataFrame.to_csv) and name the file as dataset=.")
    return dataclasses.replace(spec, dataset=given_fingerprint(data, spec.target))


def _one_dataset(settings: Mapping[str, Any], data: Any) -> None:
    if data is not None and settings.get("dataset") is not None:
        raise SpecError("Give the study either dataset= (a name or a file) or data= (the data "
                        "itself), not both.")


@tuner_errors
def run_study(study: StudyRef, options: RunOptions | None = None, *, final: bool = False,
              data: Any = None, **settings: Any) -> StudyResult:
    """Run (or resume) every stage of a study, then the final retrain if `final`.

    study: a built-in name ("lambda_search"), a path to a .toml file, or a StudySpec (from
    load_study_spec, changed at will: every worker runs it). options: how to run it
    (RunOptions), or keyword settings: storage, tracking_uri, tracking, data_dir, download,
    progress, register, checkpoints, checkpoint_dir, jobs, cluster, threads (RunOptions'
    fields), and for a name or path dataset, overrides, trials and seed (load_study_spec's).
    data: the data itself in place of the study's dataset ((X, y), (X_train, y_train, X_test,
    y_test), a mapping with those keys, a tuner.Data or a pandas DataFrame with the study's
    `target` column); its fingerprint is stored with the study, and resuming it (or its
    final) takes the same data again.
    """
    _one_dataset(settings, data)
    spec, options = _prepare(study, options, "run_study", settings)
    spec = _given(spec, options, data)
    address = cluster_address(options.cluster)
    with optuna_warnings_only():
        ctx = open_context(spec, options, preflight(spec, options, data), role="study")
        with storage_errors(options.storage_url):
            store_spec(ctx.storage, spec)
        if address is not None:
            try:
                tasks = run_cluster(spec, options, address, ctx.storage)
            finally:
                close_left_open(ctx)
            return _result(ctx, None, run_final(ctx) if final else None, workers=tasks,
                           worker_kind="tuner workers on the Dask cluster")
        if options.jobs is not None and options.jobs > 1:
            try:
                run_jobs(spec, options)
            finally:
                close_left_open(ctx)
            ran = None
        else:
            ran = run_stages(ctx)
        return _result(ctx, ran, run_final(ctx) if final else None, workers=options.jobs or 1)


@tuner_errors
def join_study(study: StudyRef, options: RunOptions | None = None,
               **settings: Any) -> StudyResult:
    """One more worker on a study in a shared storage (what `tuner worker` runs): it runs the
    spec the study was started with, as stored with it, on every stage until each has its
    trials, with sampler seeds of its own; no final. `study`: the study's name (nothing else
    is needed when the storage holds it), its study file, or a StudySpec; a study file (or
    overrides) that describes another study than the stored one is one SpecError line.
    Settings as for run_study."""
    spec_settings = {k: settings.pop(k) for k in SPEC_SETTINGS if k in settings}
    options = RunOptions.build(options, "join_study", settings)
    with optuna_warnings_only():
        ctx, ran = run_worker(study, options, spec_settings)
        return _result(ctx, ran, None)


@tuner_errors
def final(study: StudyRef, options: RunOptions | None = None, *, trial: str | int | None = None,
          data: Any = None, **settings: Any) -> FinalResult:
    """Retrain the best configuration of a study (over all its stages) on train+val and
    evaluate it on the test split, once; the result is stored with the study and in MLflow,
    its model logged as an MLflow Model and registered (unless register=False). The trial
    retrained is the one [final] pick chooses (default: the best on the study's first metric),
    or `trial`: N (of the last stage) or "STAGE:N", after the confirm stage the study ran with
    (`confirm=` to choose another). Settings and `data` as for run_study (a study run on data
    given in memory needs the same data)."""
    _one_dataset(settings, data)
    as_ran = not isinstance(study, StudySpec) and settings.get("confirm") is None
    spec, options = _prepare(study, options, "final", settings)
    spec = _given(spec, options, data)
    options = dataclasses.replace(options, progress=False,
                                  final_trial=None if trial is None else str(trial))
    require_existing(options.storage_url)  # a final retrains a study that ran: never an empty one
    with optuna_warnings_only():
        ctx = open_context(spec, options, preflight(spec, options, data), role="final")
        with storage_errors(options.storage_url):
            check_dataset(ctx.storage, spec)
            if as_ran:
                ctx = dataclasses.replace(ctx, spec=with_stored_confirm(ctx.storage, spec))
        if options.final_trial is None:
            run_confirm_stage(ctx)  # the answer is confirmed before it is retrained
        return run_final(ctx)


Reporter = Callable[[int, Mapping[str, float]], None]


@tuner_errors
def train(
    objective: str | Objective,
    *,
    dataset: str | Any = None,
    data: Any = None,
    data_dir: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    seed: int = 0,
    val_size: int | float | None = None,
    target: str | None = None,
    task: str | None = None,
    report: Reporter | None = None,
    progress: bool = False,
    threads: int | None = None,
    download: bool = False,
) -> TrainResult:
    """Train one objective once with `overrides` (defaults for every key it leaves out; the
    params `--set` gives on the command line) and return
    its history (one row per reporting point: epoch, train/val metrics, seconds) and model.

    objective: a built-in name, "module:attr" (an estimator, a training function or an
    Objective; the current folder is searched first) or an objective object; dataset: a
    built-in name, a .csv / .npz path or "module:function", or the data itself: (X, y),
    (X_train, y_train, X_test, y_test), a mapping with those keys, or a pandas DataFrame
    (target: a CSV's or DataFrame's target column, default the last; without a test part one is
    carved with the seed, as for a file); data: the data itself, in place of dataset (the
    same forms, and a tuner.Data).
    `report(step, metrics)`, when given, is called at every reporting point; `progress` shows
    a progress bar on stderr."""
    if (dataset is None) == (data is None):
        raise ConfigError("Give tuner.train either dataset= (a name or a file) or data= (the "
                          "data itself), one of them.")
    dataset = dataset if data is None else data
    if threads is not None:
        set_budget(RunOptions(threads=threads).threads or threads)
    check_seed(seed, "seed")
    here = Path.cwd()
    obj = resolve_objective(objective, folder=here) if isinstance(objective, str) else objective
    if isinstance(obj, FunctionObjective):
        obj = obj.declaring(dict(overrides or {}))
    resolved = resolve_config(obj.name, obj.params, dict(overrides or {}))
    if isinstance(obj, EstimatorObjective):
        obj.check(resolved)  # the estimator's own validation: one line, not a traceback
    data = data_mod.load_dataset(dataset, folder=here, data_dir=data_dir, seed=seed,
                                 normalize=obj.normalize, download=download, val_size=val_size,
                                 target=target, task=task)
    check_task(obj, obj.name, data)
    shown = dataset if isinstance(dataset, str) else data.name
    planned = getattr(obj, "planned_reports", None)
    total = planned(resolved, len(data.train)) if planned is not None else None
    with tqdm(total=total, unit="eval", file=sys.stderr, disable=not progress, leave=False,
              desc=f"{obj.name} on {shown}") as bar:

        def step(number: int, metrics: Mapping[str, float]) -> None:
            bar.update(1)
            if report is not None:
                report(number, metrics)

        result = obj.fit(resolved, data.train, data.val, step, seed, data.image_shape)
    return TrainResult(objective=obj.name, dataset=shown, config=resolved,
                       history=result.history, model=result.model)
