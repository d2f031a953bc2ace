"""A stage's MLflow parent run: created exactly once however many workers start the stage
together, and never left RUNNING when the stage stops.

Once: the worker that creates the record study `NAME/STAGE#run` in the Optuna storage (a unique
name, so exactly one create succeeds, on SQLite and PostgreSQL alike) creates the run and stores
its id in the stage study's user attr `mlflow_parent_run_id`; every other worker waits for that
attr (at most CLAIM_WAIT_SECONDS: a claimer that died in between is replaced) and reuses the run.

Closed: a stage stopped by Ctrl-C / SIGTERM ends its run KILLED, one stopped by an error FAILED,
unless another worker still runs a trial of it (the last one to stop closes it); a `--jobs` or
`--cluster` parent closes what its workers left open once they all stopped.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from tuner.engine.context import Context
from tuner.engine.interrupts import Interrupted
from tuner.engine.stage_result import end_stage_info, summarize
from tuner.search.trials import RUN_SUFFIX
from tuner.spec import ParamSpace, Stage
from tuner.storage import from_storage, mask
from tuner.storage.errors import explained

log = logging.getLogger("tuner")

ATTR = "mlflow_parent_run_id"
CLAIM_WAIT_SECONDS = 60.0
POLL_SECONDS = 0.2


def parent_run(ctx: Context, study: optuna.Study, stage: Stage,
               space: Sequence[ParamSpace]) -> str | None:
    """The stage's MLflow parent run id (None without tracking): reused when the stage study
    names one, else created by the one worker that claims it (see the module docstring)."""
    if not ctx.options.tracking:
        return None
    spec = ctx.spec
    info = {"objective": spec.objective_ref, "dataset": spec.dataset,
            "metric": ", ".join(spec.metric_names),
            "direction": ", ".join(d for _, d in spec.objectives), "seed": spec.seed,
            "sampler": stage.sampler, "pruner": stage.pruner,
            "prune_on": spec.prune_on(stage) if spec.multi else None, "trials": stage.trials,
            "fixed": spec.stage_fixed(stage),
            "space": {p.name: p.describe() for p in space},
            "storage": mask(ctx.options.storage_url)}
    if ATTR not in study.user_attrs and not claim(ctx, study, RUN_SUFFIX):
        _wait_for_run(study, stage)
        if ATTR in study.user_attrs and study.user_attrs[ATTR] is None:
            return None  # the claimer could not create it just now (MLflow unreachable)
    existing = study.user_attrs.get(ATTR)
    if existing:
        return ctx.tracker.stage_run(spec.name, stage.name, info, run_id=existing)
    # Claimed here, or a claimer that died, or an earlier run that could not create it.
    parent = ctx.tracker.stage_run(spec.name, stage.name, info)
    study.set_user_attr(ATTR, parent)  # None too: the waiting workers stop waiting
    return parent


def claim(ctx: Context, study: optuna.Study, suffix: str) -> bool:
    """True for the one worker whose create of the record study `study` + `suffix` succeeds
    (a unique name: exactly one create succeeds, on SQLite and PostgreSQL alike)."""
    try:
        ctx.storage.create_new_study([StudyDirection.MINIMIZE], study.study_name + suffix)
    except optuna.exceptions.DuplicatedStudyError:
        return False
    return True


def _wait_for_run(study: optuna.Study, stage: Stage) -> None:
    """Wait until the claimer stored the run id (or gave up on it); after CLAIM_WAIT_SECONDS
    (the claimer died in between) the caller creates the run itself."""
    deadline = time.monotonic() + CLAIM_WAIT_SECONDS
    while ATTR not in study.user_attrs:
        if time.monotonic() >= deadline:
            log.warning("stage %s: the worker creating its MLflow run did not finish in %.0f s;"
                        " creating it here", stage.name, CLAIM_WAIT_SECONDS)
            return
        time.sleep(POLL_SECONDS)


def others_running(study: optuna.Study) -> bool:
    """True when a trial of the stage is still RUNNING (in another worker)."""
    return bool(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def close_stopped(ctx: Context, study: optuna.Study, parent: str | None,
                  cause: BaseException) -> None:
    """The stage loop stopped by `cause`: end its run KILLED (an interrupt) or FAILED (an
    error), unless other workers still run its trials (after a storage failure this worker's
    own trial stays RUNNING, so it closes the run anyway; a later end_stage finishes it)."""
    if parent is None:
        return
    storage_failed = from_storage(cause)
    if not storage_failed:
        with contextlib.suppress(Exception):
            if others_running(study):
                return
    interrupted = isinstance(cause, (Interrupted, KeyboardInterrupt))
    status = "KILLED" if interrupted else "FAILED"
    reason = ("interrupted" if interrupted else
              explained(cause, ctx.options.storage_url) if storage_failed else
              f"{type(cause).__name__}: {cause}")
    ctx.tracker.end_run(parent, status, reason)


def close_orphan(ctx: Context, study: optuna.Study, stage: Stage, done: bool) -> None:
    """A stage run left RUNNING by processes that stopped (a worker killed between the stage's
    last trial and its end, or every --jobs worker interrupted): finished with its summary when
    the stage is `done`, else KILLED (a later run reopens nothing: it finishes the same run)."""
    parent = study.user_attrs.get(ATTR)
    if not parent or not ctx.tracker.run_is_open(parent):
        return
    if done:
        log.info("stage %s: closing its MLflow run, left open by an earlier process",
                 stage.name)
        result = summarize(study, stage.name, wall=0.0, ran=0)
        ctx.tracker.end_stage(parent, study, end_stage_info(result))
    elif not others_running(study):
        ctx.tracker.end_run(parent, "KILLED", "stopped before the stage had its trials")
