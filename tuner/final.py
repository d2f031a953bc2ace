"""`tuner final NAME`: retrain the best configuration and evaluate it on the test split once.

The best trial over all stages is retrained with the [final] overrides on train+val minus a small
monitoring split (Dataset.final_splits, the only place the test files are read), then evaluated on
the test split. The result is stored in the user attr "final" of the best trial's stage study
(`tuner list` and `tuner show` display it) and recorded by the tracker with the confusion matrix
and weights as artifacts.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.errors import TunerError
from tuner.spec import Stage

if TYPE_CHECKING:
    from tuner.runner import Context

log = logging.getLogger("tuner")


def best_trial(ctx: Context) -> tuple[Stage, optuna.Study, FrozenTrial]:
    """The best completed trial over every stage of the study, with its stage and stage study."""
    from tuner.runner import open_stage_study

    spec = ctx.spec
    best: tuple[Stage, optuna.Study, FrozenTrial] | None = None
    for stage in spec.stages:
        study = open_stage_study(ctx, stage)
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if trial.value is None:
                continue
            if best is None or _better(trial.value, best[2].value, spec.direction):
                best = (stage, study, trial)
    if best is None:
        raise TunerError(f"Study '{spec.name}' has no completed trial yet; run "
                         f"`tuner study {spec.name}` first.")
    return best


def _better(value: float, than: float | None, direction: str) -> bool:
    if than is None:
        return True
    return value > than if direction == "maximize" else value < than


def run_final(ctx: Context) -> dict[str, Any]:
    """Retrain, test once, store and record the result; return it."""
    spec = ctx.spec
    stage, study, trial = best_trial(ctx)
    config = {**spec.stage_fixed(stage), **trial.params, **spec.final.overrides}
    log.info("final: retraining trial %d of %s (%s %.4f) with %s", trial.number,
             study.study_name, spec.metric, trial.value,
             ", ".join(f"{k}={v}" for k, v in spec.final.overrides.items()) or "no overrides")
    data = ctx.data
    monitor_size = spec.final.monitor
    if isinstance(monitor_size, float):
        monitor_size = max(1, round(monitor_size * (len(data.train) + len(data.val))))
    train, monitor, test = data.final_splits(monitor_size)

    def report(step: int, metrics: Mapping[str, float]) -> None:
        log.debug("final step %d: %s", step,
                  ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))

    start = time.perf_counter()
    result = spec.objective.fit(config, train, monitor, report, spec.seed, ctx.data.image_shape)
    seconds = time.perf_counter() - start
    scores = result.model.evaluate(test.X, test.y)
    outcome: dict[str, Any] = {
        "test_accuracy": float(scores["accuracy"]), "test_loss": float(scores["loss"]),
        "monitor_accuracy": result.val_accuracy, "trial": trial.number,
        "stage": study.study_name, "search_value": trial.value, "config": config,
        "dataset": spec.dataset, "train_size": len(train), "test_size": len(test),
        "seconds": round(seconds, 2),
    }
    with tempfile.TemporaryDirectory(prefix="tuner-final-") as tmp:
        artifacts = _artifacts(result.model, test, ctx.data, Path(tmp))
        run_id = ctx.tracker.final_run(spec.name, {**outcome, "history": result.history},
                                       artifacts)
        ctx.tracker.flush()
    if run_id:
        outcome["mlflow_run_id"] = run_id
    study.set_user_attr("final", outcome)
    print(f"final {spec.name}: test accuracy {outcome['test_accuracy']:.4f}, test loss "
          f"{outcome['test_loss']:.4f} ({len(train)} training samples, {seconds:.1f} s)")
    return outcome


def _artifacts(model: Any, test: Any, data: Any, folder: Path) -> list[Path]:
    """Weights file and confusion-matrix PNG of the final model."""
    from tuner.report import confusion_matrix, plot_confusion_matrix

    weights = model.save(folder / "weights")
    classes = int(getattr(data, "classes", int(test.y.max()) + 1))
    matrix = confusion_matrix(test.y, model.predict(test.X), classes)
    names = getattr(data, "class_names", None)
    png = plot_confusion_matrix(matrix, folder / "confusion_matrix.png", names)
    return [Path(weights), png]
