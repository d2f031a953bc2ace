"""`tuner study` and `tuner worker`: run (or resume) every stage of a study as its own Optuna study.

Each stage is the Optuna study `NAME/STAGE` in one storage. A stage's target is its count of
finished (COMPLETE + PRUNED) trials in storage, across every process: a new trial runs only while
fewer than `trials` non-failed trials have lower numbers; otherwise it is told FAIL with user attr
reason "surplus" (trial numbers are unique and ordered, so the finished count ends exactly at the
target however many workers run). When every remaining slot is held by another worker's running
trial, this worker waits; a dead worker's trial is failed and re-queued by the storage's heartbeat.
A stage that has its trials is skipped on rerun. The stage's space (refined bounds included) is
stored in its user attrs on first use, so resumed runs and late workers search the same space.

Per trial the objective reports each step through `report(step, metrics)`: trial.report of the
study metric, the tracker's log_epoch, then should_prune -> optuna.TrialPruned. A DivergenceError
ends the trial PRUNED (its region is bad, and samplers learn from pruned trials) with the reason in
user attr "reason"; any other exception ends it FAIL with its message. Every trial stores user
attrs epochs, seconds, pruned_at, steps and reason. Five failures in a row stop the command.

Ctrl-C: the running trial is told FAIL (reason "interrupted"), the command prints how to resume and
exits with code 130; running the same command again continues where it stopped.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import optuna
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import FrozenTrial, TrialState

from objectives.base import Objective
from objectives.errors import DivergenceError
from tuner import storage as storage_mod
from tuner import tracking
from tuner.cli import parse_sets
from tuner.errors import TunerError
from tuner.parallel import INTERRUPTED, WORKER_INDEX_ENV, resume_hint, run_jobs
from tuner.samplers import SHARED_SEED_SAMPLERS, build_pruner, build_sampler
from tuner.space import suggest
from tuner.spec import ParamSpace, Stage, StudySpec, load_spec
from tuner.stages import clip_config, refine_space, top_k

log = logging.getLogger("tuner")

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
MAX_CONSECUTIVE_FAILURES = 5
POLL_SECONDS = 1.0

optuna.logging.set_verbosity(optuna.logging.WARNING)


class Interrupted(Exception):
    """Ctrl-C reached a running trial, which was already told FAIL."""


SIGINT_SEEN = threading.Event()
"""Set by the first Ctrl-C; the loop between trials and every report() raise KeyboardInterrupt
when it is set. Raising from the handler itself could land inside a finalizer or a library's
weakref callback, where Python prints "Exception ignored ... Traceback" and carries on."""


def _on_sigint(signum: int, frame: Any) -> None:
    if SIGINT_SEEN.is_set():
        raise KeyboardInterrupt  # a second Ctrl-C: stop now, wherever we are
    SIGINT_SEEN.set()
    os.write(2, b"stopping at the running trial's next report (Ctrl-C again to stop now)\n")


@contextmanager
def _interruptible() -> Iterator[None]:
    """Install _on_sigint for the duration (main thread only; elsewhere signals can't be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    SIGINT_SEEN.clear()
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_interrupted() -> None:
    if SIGINT_SEEN.is_set():
        raise KeyboardInterrupt


@dataclass
class Context:
    """Everything one process needs to run trials: the spec, storage, tracker and (lazily) data."""

    spec: StudySpec
    args: argparse.Namespace
    storage: Any
    tracker: tracking.Tracker
    worker_index: int | None
    progress: bool = True
    _data: Any = field(default=None, repr=False)

    @property
    def data(self) -> Any:
        if self._data is None:
            self._data = load_dataset(self.spec, self.args)
        return self._data


def load_dataset(spec: StudySpec, args: argparse.Namespace) -> Any:
    """The study's dataset, loaded once per process (train and val only; no test files)."""
    from objectives import data

    return data.load(spec.dataset, data_dir=getattr(args, "data_dir", None),
                     val_size=spec.val_size, seed=spec.seed,
                     normalize=spec.objective.normalize,
                     download=bool(getattr(args, "download", False)),
                     train_limit=spec.train_limit)


def load_from_args(args: argparse.Namespace) -> StudySpec:
    return load_spec(args.name, dataset=args.dataset, sets=parse_sets(args.sets),
                     trials=args.trials, seed=args.seed)


def describe(spec: StudySpec) -> str:
    """The resolved study, as --dry-run prints it."""
    lines = [f"study {spec.name} ({spec.path})",
             f"  objective {spec.objective_ref}, dataset {spec.dataset}, "
             f"{spec.direction} {spec.metric}, seed {spec.seed}"]
    if spec.val_size is not None or spec.train_limit is not None:
        lines.append(f"  val_size {spec.val_size}, train_limit {spec.train_limit}")
    lines.append("  fixed: " + ", ".join(f"{k}={v}" for k, v in spec.fixed.items()))
    for stage in spec.stages:
        options = "".join(f" {k}={v}" for k, v in stage.sampler_options.items())
        pruner = "".join(f" {k}={v}" for k, v in stage.pruner_options.items())
        budget = f"{stage.trials} trials" if stage.trials is not None else "no trial target"
        budget += f", timeout {stage.timeout:g} s" if stage.timeout is not None else ""
        lines.append(f"  stage {stage.name} ({spec.study_name(stage.name)}): {budget}, "
                     f"sampler {stage.sampler}{options}, pruner {stage.pruner}{pruner}")
        if stage.refine is not None:
            r = stage.refine
            lines.append(f"    refine {', '.join(r.params) or '(nothing)'} from {r.source} "
                         f"top {r.top_k}, margin {r.margin:g}, enqueue {r.enqueue}")
        if stage.overrides:
            lines.append("    set " + ", ".join(f"{k}={v}" for k, v in stage.overrides.items()))
        lines.extend(f"    {p.describe()}" for p in stage.space)
    final = ", ".join(f"{k}={v}" for k, v in spec.final.overrides.items()) or "none"
    lines.append(f"  final: monitor {spec.final.monitor}, set {final}")
    return "\n".join(lines)


def worker_index(command: str) -> int | None:
    """$TUNER_WORKER_INDEX (set by --jobs); a plain `study` is worker 0; a bare `worker` None."""
    raw = os.environ.get(WORKER_INDEX_ENV)
    if raw is not None and raw.strip().isdigit():
        return int(raw)
    return 0 if command == "study" else None


def sampler_seed(spec: StudySpec, stage: Stage, index: int | None, existing: int) -> int | None:
    """qmc/grid: the study seed (they coordinate through storage). Others: the study seed offset
    by worker index and by the stage's trial count at start (a resumed run or a second worker
    must not replay the same proposals); a `worker` without an index draws fresh entropy."""
    if stage.sampler in SHARED_SEED_SAMPLERS:
        return spec.seed
    if index is None:
        return None
    return spec.seed + 100_003 * index + existing


def study_command(args: argparse.Namespace) -> int:
    spec = load_from_args(args)
    if args.dry_run:
        print(describe(spec))
        return 0
    if args.jobs != 1:
        return run_jobs(args)
    return _run(args, spec, command="study", final=bool(args.final))


def worker_command(args: argparse.Namespace) -> int:
    return _run(args, load_from_args(args), command="worker", final=False)


def final_command(args: argparse.Namespace) -> int:
    from tuner.final import run_final

    spec = load_from_args(args)
    ctx = _context(args, spec, "final")
    run_final(ctx)
    return 0


def _context(args: argparse.Namespace, spec: StudySpec, command: str) -> Context:
    tracker = tracking.make_tracker(args.tracking_uri, args.no_tracking)
    tracker.check()

    def on_stale(trial: FrozenTrial) -> None:
        run_id = trial.user_attrs.get("mlflow_run_id")
        log.warning("trial %d of a dead worker failed after its heartbeat stopped; retrying it",
                    trial.number)
        if run_id:
            tracker.end_trial_run(run_id, "FAIL", "worker died (heartbeat stale)")

    store = storage_mod.open_storage(storage_mod.resolve_url(args.storage), on_stale=on_stale)
    quiet = bool(getattr(args, "quiet", False))
    return Context(spec=spec, args=args, storage=store, tracker=tracker,
                   worker_index=worker_index(command), progress=not quiet)


def _run(args: argparse.Namespace, spec: StudySpec, *, command: str, final: bool) -> int:
    ctx = _context(args, spec, command)
    log.info("study %s on %s", spec.name, storage_mod.mask(storage_mod.resolve_url(args.storage)))
    try:
        with _interruptible(), storage_mod.storage_errors(storage_mod.resolve_url(args.storage)):
            summaries = [run_stage(ctx, stage) for stage in spec.stages]
    except (Interrupted, KeyboardInterrupt):
        print(f"interrupted; to resume, run: {resume_hint(args, command)}")
        return INTERRUPTED
    print(format_summaries(spec, summaries, tracking_warnings=ctx.tracker.warnings))
    if final:
        from tuner.final import run_final

        run_final(ctx)
    return 0


def open_stage_study(ctx: Context, stage: Stage, seed: int | None = None) -> optuna.Study:
    spec = ctx.spec
    sampler = build_sampler(stage, stage.space, seed)
    return optuna.create_study(storage=ctx.storage, study_name=spec.study_name(stage.name),
                               direction=_direction(spec), sampler=sampler,
                               pruner=build_pruner(stage), load_if_exists=True)


def stage_space(ctx: Context, study: optuna.Study, stage: Stage) -> tuple[ParamSpace, ...]:
    """The stage's space as stored in the study; computed (refined) and stored on first use."""
    stored = study.user_attrs.get("space")
    if stored is not None:
        return tuple(ParamSpace.from_dict(d) for d in stored)
    space = stage.space
    if stage.refine is not None:
        source = open_stage_study(ctx, ctx.spec.stage(stage.refine.source))
        rows = [(float(t.value), t.params) for t in source.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
        if not rows:
            raise TunerError(f"Stage '{stage.name}' refines from stage '{stage.refine.source}', "
                             "which has no completed trials.")
        best = top_k(rows, stage.refine.top_k, ctx.spec.direction)
        space = refine_space(space, stage.refine, best)
        study.set_user_attr("refined_from", [dict(params) for _, params in best])
        for params in [p for _, p in top_k(rows, stage.refine.enqueue, ctx.spec.direction)]:
            study.enqueue_trial(clip_config(params, space), skip_if_exists=True)
    study.set_user_attr("space", [p.to_dict() for p in space])
    stored = study.user_attrs.get("space", [])
    return tuple(ParamSpace.from_dict(d) for d in stored)


def _direction(spec: StudySpec) -> Literal["minimize", "maximize"]:
    return "maximize" if spec.direction == "maximize" else "minimize"


def _stage_done(study: optuna.Study, stage: Stage) -> bool:
    if study.user_attrs.get("timed_out"):
        return True
    if stage.trials is None:
        return False
    return len(study.get_trials(deepcopy=False, states=FINISHED)) >= stage.trials


def run_stage(ctx: Context, stage: Stage) -> dict[str, Any]:
    """Run one stage until its target count (or timeout); return its summary."""
    spec = ctx.spec
    probe = open_stage_study(ctx, stage)
    if _stage_done(probe, stage):
        log.info("stage %s: already has its trials; skipped", stage.name)
        return summarize(probe, stage, wall=0.0, ran=0)
    space = stage_space(ctx, probe, stage)
    seed = sampler_seed(spec, stage, ctx.worker_index, len(probe.get_trials(deepcopy=False)))
    study = optuna.create_study(
        storage=ctx.storage, study_name=spec.study_name(stage.name), direction=_direction(spec),
        sampler=build_sampler(stage, space, seed), pruner=build_pruner(stage), load_if_exists=True)
    parent = _parent_run(ctx, study, stage, space)
    start = time.monotonic()
    deadline = None if stage.timeout is None else start + stage.timeout
    ran = 0
    failures = 0
    waiting_logged = False
    with _progress(ctx, stage, study) as bar:
        while True:
            _check_interrupted()
            storage_mod.fail_stale(study)
            _fail_orphans(ctx, study)
            trials = study.get_trials(deepcopy=False)
            finished = sum(t.state in FINISHED for t in trials)
            _set_progress(bar, finished)
            if stage.trials is not None and finished >= stage.trials:
                break
            if deadline is not None and time.monotonic() >= deadline:
                study.set_user_attr("timed_out", True)
                log.info("stage %s: timeout of %g s reached", stage.name, stage.timeout)
                break
            if stage.trials is not None and _slots_taken(trials, stage.trials):
                if not waiting_logged:
                    log.info("stage %s: the remaining trials are running in other workers; "
                             "waiting (a dead worker's trial is retried after its heartbeat "
                             "grace period)", stage.name)
                    waiting_logged = True
                time.sleep(POLL_SECONDS)
                continue
            trial, interrupted = _ask(study)
            try:
                if interrupted:
                    raise KeyboardInterrupt
                if stage.trials is not None and _is_surplus(study, trial, stage.trials):
                    trial.set_user_attr("reason", "surplus")
                    study.tell(trial, state=TrialState.FAIL)
                    continue
                _first_beat(ctx, trial)
                state, reason = run_trial(ctx, study, trial, stage, space, parent)
            except KeyboardInterrupt:  # before run_trial could tell the trial itself
                _tell_interrupted(study, trial)
                raise Interrupted() from None
            ran += 1
            failures = failures + 1 if state == TrialState.FAIL else 0
            if failures >= MAX_CONSECUTIVE_FAILURES:
                raise TunerError(f"Stage '{stage.name}': {failures} trials in a row failed; "
                                 f"last error: {reason}. Fix the cause and run again.")
    summary = summarize(study, stage, wall=time.monotonic() - start, ran=ran)
    ctx.tracker.end_stage(parent, study, summary)
    return summary


def _first_beat(ctx: Context, trial: optuna.Trial) -> None:
    """Record the trial's first heartbeat now, then mark it "beating": Optuna never fails a
    RUNNING trial that has no heartbeat row, so a process killed right after ask() would leave
    an eternal RUNNING trial; _fail_orphans catches those by the missing mark."""
    if is_heartbeat_enabled(ctx.storage):
        ctx.storage.record_heartbeat(trial._trial_id)
        trial.set_user_attr("beating", True)


def _fail_orphans(ctx: Context, study: optuna.Study) -> None:
    """Fail RUNNING trials that never got their first heartbeat and are older than 3 grace
    periods (their process was killed between ask() and _first_beat; Ctrl-C there is caught)."""
    if not is_heartbeat_enabled(ctx.storage):
        return
    interval = ctx.storage.get_heartbeat_interval()
    limit = 3 * (getattr(ctx.storage, "grace_period", None) or 2 * interval)
    now = datetime.now()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        started = t.datetime_start
        if "beating" in t.user_attrs or started is None:
            continue
        if (now - started).total_seconds() > limit:
            log.warning("trial %d never started beating (its process died); failing it",
                        t.number)
            with suppress(optuna.exceptions.UpdateFinishedTrialError, ValueError,
                          RuntimeError):
                study.tell(t.number, state=TrialState.FAIL)


def _ask(study: optuna.Study) -> tuple[optuna.Trial, bool]:
    """study.ask() -> (trial, interrupted). Ctrl-C is held until ask() returns: the trial is in
    storage before then, and an interrupt inside would leave a RUNNING trial nobody can name.
    (Also silences Optuna's warning that heartbeats expect optimize(): we beat ourselves.)"""
    held: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    hold = (threading.current_thread() is threading.main_thread()
            and previous in (signal.default_int_handler, _on_sigint))

    def hold_sigint(signum: int, frame: Any) -> None:
        SIGINT_SEEN.set()
        held.append(signum)

    if hold:
        signal.signal(signal.SIGINT, hold_sigint)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
            trial = study.ask()
    finally:
        if hold:
            signal.signal(signal.SIGINT, previous)
    return trial, bool(held)


def _tell_interrupted(study: optuna.Study, trial: optuna.Trial) -> None:
    """Fail a trial hit by Ctrl-C at once, so the next run need not wait to fail it."""
    with suppress(optuna.exceptions.UpdateFinishedTrialError, ValueError, RuntimeError):
        trial.set_user_attr("reason", "interrupted")
        study.tell(trial, state=TrialState.FAIL)


def _slots_taken(trials: Sequence[FrozenTrial], target: int) -> bool:
    """True when non-failed trials already fill the target and none is waiting to be run."""
    live = sum(t.state != TrialState.FAIL for t in trials)
    waiting = any(t.state == TrialState.WAITING for t in trials)
    return live >= target and not waiting


def _is_surplus(study: optuna.Study, trial: optuna.Trial, target: int) -> bool:
    """True when `target` non-failed trials have lower numbers than `trial` (see module doc)."""
    lower = sum(1 for t in study.get_trials(deepcopy=False)
                if t.number < trial.number and t.state != TrialState.FAIL)
    return lower >= target


def _parent_run(ctx: Context, study: optuna.Study, stage: Stage,
                space: Sequence[ParamSpace]) -> str | None:
    """The stage's MLflow parent run, created once and shared through the study's user attrs."""
    spec = ctx.spec
    existing = study.user_attrs.get("mlflow_parent_run_id")
    info = {"objective": spec.objective_ref, "dataset": spec.dataset, "metric": spec.metric,
            "direction": spec.direction, "seed": spec.seed, "sampler": stage.sampler,
            "pruner": stage.pruner, "trials": stage.trials, "fixed": spec.stage_fixed(stage),
            "space": {p.name: p.describe() for p in space},
            "storage": storage_mod.mask(storage_mod.resolve_url(ctx.args.storage))}
    parent = ctx.tracker.stage_run(spec.name, stage.name, info, run_id=existing)
    if parent and not existing:
        study.set_user_attr("mlflow_parent_run_id", parent)
    return parent


@contextmanager
def _progress(ctx: Context, stage: Stage, study: optuna.Study) -> Iterator[Any]:
    if not ctx.progress:
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


def run_trial(ctx: Context, study: optuna.Study, trial: optuna.Trial, stage: Stage,
              space: Sequence[ParamSpace], parent: str | None) -> tuple[TrialState, str | None]:
    """Train once with the trial's params; tell the study how it ended."""
    spec = ctx.spec
    params = suggest(trial, space)
    config = {**spec.stage_fixed(stage), **params}
    tracker = ctx.tracker.start_trial(parent, spec.name, stage.name, trial.number, params)
    if tracker.run_id:
        trial.set_user_attr("mlflow_run_id", tracker.run_id)
    history: list[dict[str, float]] = []
    last_step = 0

    def report(step: int, metrics: Mapping[str, float]) -> None:
        nonlocal last_step
        _check_interrupted()
        last_step = step
        history.append(dict(metrics))
        if spec.metric not in metrics:
            raise TunerError(f"The objective reported no '{spec.metric}' (the study metric); "
                             f"it reported: {', '.join(metrics)}.")
        trial.report(float(metrics[spec.metric]), step)
        tracker.log_epoch(step, metrics)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step}")

    state, value, reason, pruned_at = TrialState.FAIL, None, None, None
    objective: Objective = spec.objective
    start = time.perf_counter()
    try:
        with storage_mod.heartbeat(study, trial):
            data = ctx.data
            start = time.perf_counter()
            result = objective.fit(config, data.train, data.val, report, spec.seed,
                                   data.image_shape)
        final = result.history[-1] if result.history else (history[-1] if history else None)
        if final is None or spec.metric not in final:
            reason = f"the objective returned no '{spec.metric}'"
        else:
            value, state = float(final[spec.metric]), TrialState.COMPLETE
            if not math.isfinite(value):
                reason = f"diverged: {spec.metric} is {value}"
                state, value, pruned_at = TrialState.PRUNED, None, last_step
    except optuna.TrialPruned:
        state, pruned_at = TrialState.PRUNED, last_step
    except DivergenceError as exc:
        state, pruned_at, reason = TrialState.PRUNED, exc.step or last_step, f"diverged: {exc}"
    except KeyboardInterrupt:
        reason = "interrupted"
        _tell(ctx, study, trial, tracker, TrialState.FAIL, None, reason, None, history, config,
              time.perf_counter() - start, last_step)
        raise Interrupted() from None
    except Exception as exc:  # noqa: BLE001 - one trial's failure must not stop the study
        reason = f"{type(exc).__name__}: {exc}"
    _tell(ctx, study, trial, tracker, state, value, reason, pruned_at, history, config,
          time.perf_counter() - start, last_step)
    return state, reason


def _tell(ctx: Context, study: optuna.Study, trial: optuna.Trial, tracker: tracking.TrialTracker,
          state: TrialState, value: float | None, reason: str | None, pruned_at: int | None,
          history: Sequence[Mapping[str, float]], config: Mapping[str, Any], seconds: float,
          steps: int) -> None:
    epochs = float(history[-1].get("epoch", steps)) if history else 0.0
    info = {"epochs": epochs, "seconds": round(seconds, 3), "pruned_at": pruned_at,
            "reason": reason, "steps": steps}
    for key, val in info.items():
        trial.set_user_attr(key, val)
    if history:  # the last reported metrics, e.g. val_accuracy of a study that minimizes val_loss
        trial.set_user_attr("metrics", {k: float(v) for k, v in history[-1].items()})
    if state == TrialState.COMPLETE:
        study.tell(trial, value)
    else:
        study.tell(trial, state=state)
    tracker.finish(state.name, value, {**info, "schedule": config.get("schedule")}, history,
                   config)
    shown = f"{ctx.spec.metric}={value:.4f}" if value is not None else (reason or "")
    if state == TrialState.PRUNED and pruned_at:
        shown += f" pruned at step {pruned_at}"
    params = ", ".join(f"{k}={_fmt(v)}" for k, v in trial.params.items())
    log.info("trial %d %s: %s  [%s] %.1f epochs, %.1f s", trial.number, state.name, shown,
             params, epochs, seconds)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def summarize(study: optuna.Study, stage: Stage, *, wall: float, ran: int) -> dict[str, Any]:
    """Counts, best trial and cost of one stage, from storage (all workers' trials)."""
    trials = study.get_trials(deepcopy=False)
    counts = {s.name: sum(t.state == s for t in trials) for s in
              (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    full = max((float(t.user_attrs.get("epochs", 0.0)) for t in complete), default=0.0)
    trained = sum(float(t.user_attrs.get("epochs", 0.0)) for t in complete + pruned)
    unpruned = sum(float(t.user_attrs.get("epochs", 0.0)) for t in complete) + full * len(pruned)
    best = None
    if complete:
        bt = study.best_trial
        best = {"number": bt.number, "value": bt.value, "params": dict(bt.params)}
    return {"stage": stage.name, "study": study.study_name, "complete": counts["COMPLETE"],
            "pruned": counts["PRUNED"], "failed": counts["FAIL"], "best": best,
            "epochs_trained": trained, "epochs_without_pruning": unpruned,
            "trial_seconds": sum(float(t.user_attrs.get("seconds", 0.0)) for t in trials),
            "wall_seconds": wall, "ran_here": ran}


def format_summaries(spec: StudySpec, summaries: Sequence[Mapping[str, Any]],
                     tracking_warnings: int = 0) -> str:
    """The end-of-study summary: one block per stage, then the MLflow warnings if any."""
    lines = [f"study {spec.name}: {spec.direction} {spec.metric}"]
    for s in summaries:
        lines.append(f"  stage {s['stage']}: {s['complete']} complete, {s['pruned']} pruned, "
                     f"{s['failed']} failed; wall {s['wall_seconds']:.1f} s this run, "
                     f"{s['trial_seconds']:.1f} s in trials")
        if s["best"] is not None:
            params = ", ".join(f"{k}={_fmt(v)}" for k, v in s["best"]["params"].items())
            lines.append(f"    best {spec.metric} {s['best']['value']:.4f} "
                         f"(trial {s['best']['number']}): {params}")
        trained, full = s["epochs_trained"], s["epochs_without_pruning"]
        saved = f" ({100 * (1 - trained / full):.0f}% saved by pruning)" if full > 0 else ""
        lines.append(f"    epochs trained {trained:.1f} vs {full:.1f} without pruning{saved}")
    if tracking_warnings:
        lines.append(f"  MLflow: {tracking_warnings} tracking warnings (failed writes, logged "
                     "above); the trials are unaffected")
    return "\n".join(lines)

