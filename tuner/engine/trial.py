"""One trial: train once with the trial's params, report every step, tell the study how it ended.

Per reporting step: the tracker's log_epoch, then, when the row holds the metric the stage's
pruner watches (a user's function may report others), a report to the pruner and should_prune
-> optuna.TrialPruned (engine/pruning.py: on the trial itself, or on its companion trial in a
multi-objective stage). A complete trial is told one value per objective (engine/values.py). A
DivergenceError ends the trial PRUNED (its region is bad, and samplers learn from pruned
trials) with the reason in user attr "reason"; any other exception ends it FAIL, its last line
the reason and its traceback logged at WARNING and kept in its MLflow run (engine/failure.py),
except a failure of the study's storage itself: the trial is not told (it stays RUNNING until
its heartbeat goes stale and a later run retries it, from its checkpoint, which is kept), its
MLflow run is ended FAILED, and the error stops the worker (one StorageError line).
Every trial stores user attrs epochs, seconds, pruned_at, steps, reason and its last metrics.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from objectives.errors import DivergenceError
from tuner.engine.checkpoints import TrialCheckpoint, member_checkpoint, trial_key
from tuner.engine.context import Context
from tuner.engine.cross_validation import fit_folds
from tuner.engine.failure import Failure
from tuner.engine.interrupts import Interrupted, check_interrupted
from tuner.engine.pruning import Pruning
from tuner.engine.values import MissingMetric, derived, objective_values
from tuner.search.confirm import IDENTITY
from tuner.search.pbt import MEMBER_ATTRS
from tuner.search.space import params_text, suggest
from tuner.spec import ParamSpace, Stage, StudySpec
from tuner.spec.model import DERIVED_METRICS
from tuner.storage import from_storage, heartbeat
from tuner.storage.optuna_private import trial_id
from tuner.tracking import TrialTracker

log = logging.getLogger("tuner")

DROPPED = "ended by another worker (heartbeat late); result dropped"
STORAGE_LOST = "the study's storage failed mid-trial; the trial is retried by the next run"


@dataclass
class Outcome:
    """How a trial ended, and what it did before."""

    state: TrialState = TrialState.FAIL
    value: float | None = None
    values: list[float] | None = None
    """One per objective (the first is `value`)."""
    reason: str | None = None
    pruned_at: int | None = None
    last_step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    final: dict[str, float] | None = None
    """The returned run's last row: the reported metrics, plus any computed at its end."""
    failure: Failure | None = None
    """The objective's exception, when it raised one."""
    run_id: str | None = None
    """The trial's MLflow run."""


@dataclass(frozen=True)
class TrialSetup:
    """What a trial runs with besides its sampled params: the space they come from, the fixed
    params of its stage and the training seed (the study's; a confirm repeat's own)."""

    space: Sequence[ParamSpace]
    fixed: Mapping[str, Any]
    seed: int


def run_trial(ctx: Context, study: optuna.Study, trial: optuna.Trial, stage: Stage,
              setup: TrialSetup, parent: str | None,
              companion: optuna.Study | None = None) -> Outcome:
    """Train once with the trial's params; tell the study how it ended, and return it.
    `companion`: the stage's pruning study in a multi-objective stage (engine/pruning.py)."""
    spec = ctx.spec
    params = suggest(trial, setup.space)
    pruning = Pruning(trial, companion)
    watch = spec.prune_on(stage)
    config = {**setup.fixed, **params}
    tracker = ctx.tracker.start_trial(parent, spec.name, stage.name, trial.number, params)
    if tracker.run_id:
        trial.set_user_attr("mlflow_run_id", tracker.run_id)
    out = Outcome(run_id=tracker.run_id)
    # Steps the trial already holds: a retry of a dead worker's trial inherits its intermediate
    # values when it may continue from a checkpoint (only then: no read otherwise).
    inherited = (set(ctx.storage.get_trial(trial_id(trial)).intermediate_values)
                 if ctx.checkpoints is not None and companion is None else set())
    with tempfile.TemporaryDirectory(prefix="tuner-checkpoint-") as tmp:
        checkpoint = _checkpoint(ctx, stage, trial, tracker, out, inherited, Path(tmp),
                                 pruning, watch)
        try:
            _run(ctx, study, trial, config, tracker, out, inherited, checkpoint, pruning, watch,
                 setup.seed)
        except Exception as exc:
            if from_storage(exc):  # not the trial's fault: it stays RUNNING, to be retried
                tracker.finish(TrialState.FAIL.name, None, {"reason": STORAGE_LOST},
                               out.history, config)
            raise
    return out


def _checkpoint(ctx: Context, stage: Stage, trial: optuna.Trial, tracker: TrialTracker,
                out: Outcome, inherited: set[int], folder: Path, pruning: Pruning,
                metric: str) -> TrialCheckpoint | None:
    """The trial's checkpoint (engine/checkpoints.py) when the study keeps them; a restored one
    puts the steps before it back into the history, MLflow and (where missing) Optuna."""
    if ctx.checkpoints is None:
        return None

    def on_restore(history: list[dict[str, float]]) -> None:
        for step, row in enumerate(history, start=1):
            tracker.log_epoch(step, row)
            if metric in row and step not in inherited:
                pruning.report(float(row[metric]), step)
                inherited.add(step)
        out.history.extend(dict(row) for row in history)
        out.last_step = len(history)

    key = trial_key(ctx.options.storage_url, ctx.spec.study_name(stage.name), trial.number)
    if stage.pbt is not None:
        return member_checkpoint(folder, ctx.checkpoints, trial, on_restore, key,
                                 stage.pbt.interval)
    return TrialCheckpoint(folder, ctx.checkpoints, trial, on_restore, key)


def _run(ctx: Context, study: optuna.Study, trial: optuna.Trial, config: Mapping[str, Any],
         tracker: TrialTracker, out: Outcome, inherited: set[int],
         checkpoint: TrialCheckpoint | None, pruning: Pruning, watch: str, seed: int) -> None:
    """Fit with training seed `seed` and tell; steps in `inherited` (trained again after the
    last checkpoint) are already reported to Optuna; `watch` is the metric the pruner judges."""
    spec = ctx.spec
    extra = {"checkpoint": checkpoint} if checkpoint is not None else {}

    def report(step: int, metrics: Mapping[str, float]) -> None:
        check_interrupted()
        out.last_step = step
        out.history.append(dict(metrics))
        tracker.log_epoch(step, metrics)
        if watch in metrics:  # a user's function may report other metrics per epoch
            if step not in inherited:
                pruning.report(float(metrics[watch]), step)
            if pruning.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step}")

    def judge(fold: int, row: dict[str, float], mean: float | None) -> None:
        out.last_step = fold
        out.history.append(row)
        if mean is not None:
            pruning.report(mean, fold)
            if pruning.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {fold}")

    start = time.perf_counter()
    try:
        with heartbeat(study, trial):
            start = time.perf_counter()
            if ctx.folds is None:
                result = spec.objective.fit(config, ctx.data.train, ctx.data.val, report,
                                            seed, ctx.data.image_shape, **extra)
                last, model = result.history[-1] if result.history else None, result.model
            else:
                folds = fit_folds(spec.objective, config, ctx.folds, seed,
                                  ctx.data.image_shape, spec.metric_names, watch,
                                  tracker.log_epoch, judge)
                last, model = folds.mean, folds.model
                trial.set_user_attr("fold_values", folds.values)
        seconds = time.perf_counter() - start
        _ended(out, last, spec, seconds, model)
        if ctx.folds is None:
            _log_final(out, tracker)
    except optuna.TrialPruned:
        out.state, out.pruned_at = TrialState.PRUNED, out.last_step
    except DivergenceError as exc:
        # cross-validated: the fold it diverged in (its step counts that fold's reports)
        step = exc.step if ctx.folds is None else out.last_step + 1
        out.state, out.pruned_at = TrialState.PRUNED, step or out.last_step
        out.reason = f"diverged: {exc}"
    except KeyboardInterrupt:
        out.reason = "interrupted"
        _tell(ctx, study, trial, tracker, out, config, time.perf_counter() - start, checkpoint,
              pruning, watch)
        if checkpoint is not None:
            checkpoint.resume_later(study, {k: trial.user_attrs[k] for k in (
                *IDENTITY, *MEMBER_ATTRS) if k in trial.user_attrs})  # what it is
        raise Interrupted() from None
    except optuna.exceptions.UpdateFinishedTrialError:  # a report after another worker ended it
        out.reason = DROPPED
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a trial's failure (even sys.exit)
        if from_storage(exc):  # the storage failed, not the trial: stop, keep the checkpoint
            raise
        out.failure = Failure.of(exc)
        out.reason = out.failure.line
    _tell(ctx, study, trial, tracker, out, config, time.perf_counter() - start, checkpoint,
          pruning, watch)
    if checkpoint is not None:
        checkpoint.discard()


def _ended(out: Outcome, final: Mapping[str, float] | None, spec: StudySpec, seconds: float,
           model: Any) -> None:
    """A fit that returned: COMPLETE with one value per objective, or why not. The derived
    metrics (seconds, epochs, params_count) join the last row (out.final)."""
    final = final if final is not None else (out.history[-1] if out.history else None)
    if final is None:
        out.reason = f"the objective returned no '{spec.metric}'"
        return
    epochs = float(final.get("epoch", out.last_step))
    extra = derived(final, seconds, epochs, model) if spec.multi or \
        spec.metric in DERIVED_METRICS else {}
    out.final = {**final, **{k: v for k, v in extra.items() if k not in final}}
    try:
        values = objective_values(spec, final, extra)
    except MissingMetric as missing:
        out.reason = f"the objective returned no '{missing}'"
        return
    bad = [(m, v) for m, v in zip(spec.metric_names, values, strict=True)
           if not math.isfinite(v)]
    if bad:
        out.state, out.pruned_at = TrialState.PRUNED, out.last_step
        out.reason = f"diverged: {bad[0][0]} is {bad[0][1]}"
        return
    out.state, out.values, out.value = TrialState.COMPLETE, values, values[0]


def _log_final(out: Outcome, tracker: TrialTracker) -> None:
    """Metrics computed after the last report (a user's model's scores) go to that step."""
    reported = out.history[-1] if out.history else {}
    extra = {k: v for k, v in (out.final or {}).items() if k not in reported}
    if extra:
        tracker.log_epoch(max(out.last_step, 1), extra)


def _tell(ctx: Context, study: optuna.Study, trial: optuna.Trial, tracker: TrialTracker,
          out: Outcome, config: Mapping[str, Any], seconds: float,
          checkpoint: TrialCheckpoint | None, pruning: Pruning, watch: str) -> None:
    """Store how the trial ended; `epochs` and `seconds` count only the work done here (a
    trial continued from a checkpoint also records resumed_from_trial, resumed_at_step)."""
    history = out.history
    epochs = float(history[-1].get("epoch", out.last_step)) if history else 0.0
    info: dict[str, Any] = {"epochs": epochs, "seconds": round(seconds, 3),
                            "pruned_at": out.pruned_at, "reason": out.reason,
                            "steps": out.last_step}
    if checkpoint is not None and checkpoint.resumed_at and checkpoint.origin is not None:
        info["epochs"] = round(epochs - checkpoint.resumed_epoch, 6)
        info["resumed_from_trial"] = checkpoint.origin.get("trial")
        info["resumed_at_step"] = checkpoint.resumed_at
    try:
        _store(study, trial, out, info)
    except optuna.exceptions.UpdateFinishedTrialError:
        # Our heartbeat came late (a stalled machine or database): another worker counted this
        # trial as dead, failed it and queued its retry. Its storage row is final; drop ours.
        log.warning("trial %d was already ended by another worker (its heartbeat came too "
                    "late); this run's result is dropped, its retry counts instead",
                    trial.number)
        out.state, out.value, out.values = TrialState.FAIL, None, None
        out.reason = info["reason"] = DROPPED
    last = out.final or (history[-1] if history else None)
    pruning.finish(out.state, float(last[watch]) if last and watch in last else None)
    failure = out.failure
    tracker.finish(out.state.name, out.value, {**info, "schedule": config.get("schedule")},
                   history, config, failure.text if failure else None)
    shown = (" ".join(f"{m}={v:.4f}" for (m, _), v in zip(ctx.spec.objectives, out.values,
                                                           strict=True))
             if out.values is not None else (out.reason or ""))
    if out.state == TrialState.PRUNED and out.pruned_at:
        shown += (f" pruned after fold {out.pruned_at}" if ctx.folds is not None else
                  f" pruned at step {out.pruned_at}")
    log.log(logging.WARNING if failure else logging.INFO,
            "trial %d %s: %s  [%s] %.1f epochs, %.1f s", trial.number, out.state.name, shown,
            params_text(trial.params), epochs, seconds, exc_info=failure.exc if failure else None)
    if failure:
        failure.exc = None  # its traceback holds the fit's frames


def _store(study: optuna.Study, trial: optuna.Trial, out: Outcome,
           info: Mapping[str, Any]) -> None:
    """The trial's user attrs (`info`, its last metrics) and its end state, in the storage."""
    for key, val in info.items():
        trial.set_user_attr(key, val)
    last = out.final or (out.history[-1] if out.history else None)
    if last:  # the last metrics, e.g. val_accuracy of a study that minimizes val_loss
        trial.set_user_attr("metrics", {k: float(v) for k, v in last.items()})
    if out.state == TrialState.COMPLETE:
        assert out.values is not None
        study.tell(trial, out.values if len(out.values) > 1 else out.values[0])
    else:
        study.tell(trial, state=out.state)
