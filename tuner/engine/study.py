"""A whole study in this process: every stage in order (each its own Optuna study in one
storage), resumable by running it again."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from tuner.engine.budget import with_share
from tuner.engine.confirm import confirm_stage, run_confirm
from tuner.engine.context import Context, open_context
from tuner.engine.cross_validation import folds_text
from tuner.engine.interrupts import Interrupted, interruptible
from tuner.engine.pbt import run_pbt
from tuner.engine.preflight import preflight
from tuner.engine.spec_store import joined_spec, stored_spec
from tuner.engine.stage import open_stage_study, run_stage, stage_done
from tuner.engine.stage_result import summarize
from tuner.engine.stage_run import close_orphan
from tuner.options import RunOptions
from tuner.results import StageResult
from tuner.spec import Stage, StudySpec
from tuner.storage import mask, open_existing, open_storage, storage_errors

log = logging.getLogger("tuner")


@contextmanager
def optuna_warnings_only() -> Iterator[None]:
    """Keep Optuna's per-study INFO lines ("A new study created ...") off the console for the
    duration: the tuner logs its own line per trial."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def run_worker(study: str | Path | StudySpec, options: RunOptions,
               settings: Mapping[str, Any] | None = None, *, stored_only: bool = False
               ) -> tuple[Context, list[StageResult]]:
    """One more worker on a study: the spec stored with it (engine/spec_store.py), checked
    against the worker's own study file or spec if it has one, then every stage until each
    has its trials. `stored_only`: `study` is a name and the stored spec is run as it is (the
    workers that --jobs and --cluster start)."""
    url = options.storage_url
    # a worker by name joins a study already stored
    storage = open_existing(url) if stored_only else open_storage(url)
    if stored_only:
        spec = stored_spec(storage, str(study), url)
    else:
        spec = joined_spec(storage, url, study, settings or {})
    ctx = open_context(spec, options, preflight(spec, options), role="worker")
    return ctx, run_stages(ctx)


def stages_of(spec: StudySpec) -> list[Stage]:
    """The study's stages in the order they run: the search stages, then the confirm stage
    when it has one."""
    confirm = confirm_stage(spec)
    return [*spec.stages, *([confirm] if confirm is not None else [])]


def close_left_open(ctx: Context) -> None:
    """Once every worker of a --jobs or --cluster run stopped (finished, interrupted or
    failed): close the stage runs they left RUNNING (engine/stage_run.py). Best effort: a
    storage or tracking store that is gone leaves the original error to be reported."""
    if not ctx.options.tracking:
        return
    try:
        with optuna_warnings_only():
            for stage in stages_of(ctx.spec):
                try:
                    study = optuna.load_study(study_name=ctx.spec.study_name(stage.name),
                                              storage=ctx.storage)
                except KeyError:  # never started
                    continue
                close_orphan(ctx, study, stage, done=stage_done(study, stage))
    except Exception as exc:  # noqa: BLE001 - cleanup must not hide why the run stopped
        log.debug("could not close the stage runs left open: %s", exc)


def run_stages(ctx: Context) -> list[StageResult]:
    """Every stage of the study, in order. Ctrl-C raises KeyboardInterrupt once the running
    trial is told FAIL "interrupted"."""
    url = ctx.options.storage_url
    log.info("study %s on %s", ctx.spec.name, mask(url))
    if ctx.folds is not None:
        log.info("every trial cross-validates on %s", folds_text(ctx.spec, ctx.data))
    try:
        with interruptible(), storage_errors(url):
            results = _run_search(ctx)
            confirmed = run_confirm(ctx)
            return results if confirmed is None else [*results, confirmed]
    except Interrupted:
        raise KeyboardInterrupt from None


def _run_search(ctx: Context) -> list[StageResult]:
    """The search stages in order, each within its share of the study's budget (if any)."""
    spec = ctx.spec
    budget = spec.budget
    deadline = None if budget is None else time.monotonic() + budget
    results = []
    for i, stage in enumerate(spec.stages):
        if deadline is not None:  # a stage still to run gets its share, or is not started
            probe = open_stage_study(ctx, stage)
            if not stage_done(probe, stage):
                if _out_of_budget(ctx, stage, deadline):
                    results.append(summarize(probe, stage.name, wall=0.0, ran=0))
                    continue
                stage = with_share(stage, spec.stages[i + 1:], deadline)
        results.append(run_pbt(ctx, stage) if stage.pbt is not None else run_stage(ctx, stage))
    return results


def _out_of_budget(ctx: Context, stage: Stage, deadline: float) -> bool:
    """True (and logged) when `stage` is not started in this run: no budget is left, or it
    refines from a stage that has no complete trial yet (its budget ran out first)."""
    if time.monotonic() >= deadline:
        log.info("stage %s: the study's budget is spent; not started", stage.name)
        return True
    if stage.refine is None:
        return False
    source = open_stage_study(ctx, ctx.spec.stage(stage.refine.source))
    if source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return False
    log.info("stage %s: not started, its source %s has no complete trial yet (the budget "
             "ran out first)", stage.name, stage.refine.source)
    return True


def run_confirm_stage(ctx: Context) -> StageResult | None:
    """The confirm stage alone (what `tuner final` runs first when the study has one)."""
    try:
        with interruptible(), storage_errors(ctx.options.storage_url):
            return run_confirm(ctx)
    except Interrupted:
        raise KeyboardInterrupt from None
