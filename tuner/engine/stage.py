"""One stage: its own Optuna study `NAME/STAGE`, run until its target count (see slots.py) or
its timeout. A stage that has its trials is skipped on rerun. The stage's space (refined bounds
included) is stored in its user attrs on first use, so resumed runs and late workers search the
same space; its metric name is stored too, so optuna-dashboard labels the axis."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.engine.context import Context
from tuner.engine.failure import traceback_place
from tuner.engine.interrupts import Interrupted, ask, check_interrupted, tell_interrupted
from tuner.engine.preflight import directions
from tuner.engine.pruning import fail_orphan_companions, open_pruning_study
from tuner.engine.slots import fail_orphans, first_beat, is_surplus, slots_taken
from tuner.engine.stage_result import end_stage_info, summarize
from tuner.engine.stage_run import close_orphan, close_stopped, parent_run
from tuner.engine.stopping import is_stopped, reopen, stop_now
from tuner.engine.trial import TrialSetup, run_trial
from tuner.engine.warm import start_warm
from tuner.errors import TunerError
from tuner.results import StageResult
from tuner.search.refine import clip_config, refine_sources, refine_space
from tuner.search.samplers import SHARED_SEED_SAMPLERS, build_pruner, build_sampler
from tuner.search.trials import FINISHED, own_trials
from tuner.spec import ParamSpace, Stage, StudySpec
from tuner.spec.model import SEED_LIMIT
from tuner.storage import fail_stale

log = logging.getLogger("tuner")

MAX_CONSECUTIVE_FAILURES = 5
POLL_SECONDS = 1.0


def sampler_seed(spec: StudySpec, stage: Stage, index: int | None, existing: int) -> int | None:
    """qmc/grid: the study seed (they coordinate through storage). Others: the study seed offset
    by worker index and by the stage's trial count at start (a resumed run or a second worker
    must not replay the same proposals), wrapped into the seed range; a `worker` without an
    index draws fresh entropy."""
    if stage.sampler in SHARED_SEED_SAMPLERS:
        return spec.seed
    if index is None:
        return None
    return (spec.seed + 100_003 * index + existing) % SEED_LIMIT


def open_stage_study(ctx: Context, stage: Stage, seed: int | None = None,
                     space: Sequence[ParamSpace] | None = None) -> optuna.Study:
    """The stage's Optuna study (created on first use) with its sampler and pruner."""
    spec = ctx.spec
    # A multi-objective stage prunes through its companion study (engine/pruning.py).
    study = optuna.create_study(
        storage=ctx.storage, study_name=spec.study_name(stage.name), directions=directions(spec),
        sampler=build_sampler(stage, stage.space if space is None else space, seed),
        pruner=optuna.pruners.NopPruner() if spec.multi else build_pruner(stage),
        load_if_exists=True)
    names = spec.metric_names
    stored = [d.name.lower() for d in study.directions]
    if stored != directions(spec) or study.metric_names not in (None, names):
        was = ", ".join(f"{d} {m}" for d, m in zip(stored, study.metric_names or stored,
                                                    strict=False))
        raise TunerError(
            f"Stage study '{study.study_name}' in the storage optimizes {was}; the study file "
            f"now declares {', '.join(f'{d} {m}' for m, d in spec.objectives)}. Keep the "
            "file's metrics, or give the study a new name (or storage) to start afresh.")
    if study.metric_names != names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
    return study


def stage_space(ctx: Context, study: optuna.Study, stage: Stage) -> tuple[ParamSpace, ...]:
    """The stage's space as stored in the study; computed (refined) and stored on first use."""
    stored = study.user_attrs.get("space")
    if stored is not None:
        return tuple(ParamSpace.from_dict(d) for d in stored)
    space = stage.space
    if stage.refine is not None:
        source = open_stage_study(ctx, ctx.spec.stage(stage.refine.source))
        best, enqueue = refine_sources(ctx.spec, source, stage)
        if not best:
            raise TunerError(f"Stage '{stage.name}' refines from stage '{stage.refine.source}', "
                             "which has no completed trials.")
        space = refine_space(space, stage.refine, best)
        study.set_user_attr("refined_from", [dict(params) for _, params in best])
        start_warm(ctx, study, source, stage, space)
        for params in [p for _, p in enqueue]:
            study.enqueue_trial(clip_config(params, space), skip_if_exists=True)
    study.set_user_attr("space", [p.to_dict() for p in space])
    stored = study.user_attrs.get("space", [])
    return tuple(ParamSpace.from_dict(d) for d in stored)


class StagePlan:
    """How the stage loop runs the trials of a search stage: params sampled from its space,
    the stage's fixed params, the study's training seed. (The confirm stage has a plan of its
    own: engine/confirm.py.)"""

    def __init__(self, spec: StudySpec, stage: Stage, space: Sequence[ParamSpace]) -> None:
        self.setup = TrialSetup(space, spec.stage_fixed(stage), spec.seed)

    def ready(self, study: optuna.Study, trials: Sequence[FrozenTrial]) -> bool | None:
        """True when there is a trial to ask for now; None: not yet (wait); False ends the
        stage (decided)."""
        return True

    def setup_of(self, trial: optuna.Trial) -> TrialSetup | None:
        """How `trial` runs (None: it has nothing to run and is told FAIL)."""
        return self.setup

    def target(self, stage: Stage) -> int | None:
        """The finished-trial count that ends the stage (None: ready() decides)."""
        return stage.trials

    def surplus(self, study: optuna.Study, trial: optuna.Trial, target: int | None) -> bool:
        """True when `trial` is beyond the stage's target (engine/slots.py)."""
        return target is not None and is_surplus(study, trial, target)


def stage_done(study: optuna.Study, stage: Stage) -> bool:
    if study.user_attrs.get("timed_out") or study.user_attrs.get("decided"):
        return True
    if is_stopped(study, stage):
        return True
    if stage.trials is None or stage.pbt is not None:  # a PBT stage ends decided
        return False
    return len(own_trials(study.get_trials(deepcopy=False, states=FINISHED))) >= stage.trials


def run_stage(ctx: Context, stage: Stage) -> StageResult:
    """Run one stage until its target count (or timeout); return its result."""
    spec = ctx.spec
    probe = open_stage_study(ctx, stage)
    reopen(probe, stage)
    if stage_done(probe, stage):
        log.info("stage %s: already has its trials; skipped", stage.name)
        close_orphan(ctx, probe, stage, done=True)
        return summarize(probe, stage.name, wall=0.0, ran=0)
    space = stage_space(ctx, probe, stage)
    seed = sampler_seed(spec, stage, ctx.worker_index, len(probe.get_trials(deepcopy=False)))
    study = open_stage_study(ctx, stage, seed, space)
    companion = open_pruning_study(ctx, stage) if spec.multi else None
    return run_plan(ctx, study, stage, StagePlan(spec, stage, space), companion)


def run_plan(ctx: Context, study: optuna.Study, stage: Stage, plan: StagePlan,
             companion: optuna.Study | None = None) -> StageResult:
    """The stage's trials run by the loop below under its MLflow parent run; its result."""
    parent = parent_run(ctx, study, stage, plan.setup.space)
    start = time.monotonic()
    try:
        with _progress(ctx, stage) as bar:
            ran = _trials(ctx, study, stage, plan, parent, start, bar, companion)
    except BaseException as cause:  # Ctrl-C, SIGTERM, a lost storage, too many failures
        close_stopped(ctx, study, parent, cause)
        raise
    result = summarize(study, stage.name, wall=time.monotonic() - start, ran=ran)
    ctx.tracker.end_stage(parent, study, end_stage_info(result), companion)
    return result


def _trials(ctx: Context, study: optuna.Study, stage: Stage, plan: StagePlan,
            parent: str | None, start: float, bar: Any, companion: optuna.Study | None) -> int:
    """Ask, run and tell trials until the stage has its target (or timeout, or the plan says it
    is decided); how many ran."""
    deadline = None if stage.timeout is None else start + stage.timeout
    target = plan.target(stage)
    ran = failures = 0
    waiting_logged = False
    while True:
        check_interrupted()
        fail_stale(study)
        fail_orphans(ctx.storage, study)
        every = study.get_trials(deepcopy=False)
        trials = own_trials(every)
        if companion is not None:
            fail_orphan_companions(companion, trials)
        finished = sum(t.state in FINISHED for t in trials)
        _set_progress(bar, finished)
        if target is not None and finished >= target:
            return ran
        if stop_now(ctx, study, stage, every):
            return ran
        if deadline is not None and time.monotonic() >= deadline:
            if stage.budgeted:
                log.info("stage %s: its share of the study's budget is spent", stage.name)
                return ran
            study.set_user_attr("timed_out", True)
            log.info("stage %s: timeout of %g s reached", stage.name, stage.timeout)
            return ran
        if target is not None and slots_taken(trials, target):
            if not waiting_logged:
                log.info("stage %s: the remaining trials are running in other workers; "
                         "waiting (a dead worker's trial is retried after its heartbeat "
                         "grace period)", stage.name)
                waiting_logged = True
            time.sleep(POLL_SECONDS)
            continue
        ready = plan.ready(study, trials)
        if ready is None:  # e.g. a confirm round still running in other workers
            time.sleep(POLL_SECONDS)
            continue
        if not ready:
            study.set_user_attr("decided", True)
            log.info("stage %s: decided", stage.name)
            return ran
        trial, interrupted = ask(study)
        try:
            if interrupted:
                raise KeyboardInterrupt
            setup = plan.setup_of(trial)
            if setup is None or plan.surplus(study, trial, target):
                trial.set_user_attr("reason", "surplus")
                study.tell(trial, state=TrialState.FAIL)
                continue
            first_beat(ctx.storage, trial)
            out = run_trial(ctx, study, trial, stage, setup, parent, companion)
        except KeyboardInterrupt:  # before run_trial could tell the trial itself
            tell_interrupted(study, trial)
            raise Interrupted() from None
        ran += 1
        failures = failures + 1 if out.state == TrialState.FAIL else 0
        if failures >= MAX_CONSECUTIVE_FAILURES:
            where = f" {traceback_place(trial.number, out.run_id)}" if out.failure else ""
            ctx.tracker.flush()  # the error.txt it names is written before the stage stops
            # run_plan's close_stopped ends the stage's MLflow run FAILED with this reason
            raise TunerError(f"Stage '{stage.name}': {failures} trials in a row failed; "
                             f"last error: {out.reason}.{where} Fix the cause and run again.")


@contextmanager
def _progress(ctx: Context, stage: Stage) -> Iterator[Any]:
    if not ctx.options.progress:
        yield None
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm(), tqdm(total=stage.trials, desc=stage.name, unit="trial",
                                       leave=False) as bar:
        yield bar


def _set_progress(bar: Any, finished: int) -> None:
    if bar is not None and bar.n != finished:
        bar.n = finished
        bar.refresh()
