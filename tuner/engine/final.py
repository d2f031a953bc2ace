"""The final: retrain the best configuration and evaluate it on the test split once.

The study's answer (engine/answer.py: --trial, the confirm stage's winner, or the pick rule's
best) is retrained with its stage's `set` and the [final] overrides on
train+val minus a small monitoring split (Dataset.final_splits, the only place the test files are
read), then evaluated on the test split. A resumable objective checkpoints it like a trial
(engine/checkpoints.final_checkpoint), so a killed final continues when run again. The result
is stored in the user attr "final" of the best trial's stage study (`tuner list` and `tuner
show` display it) and recorded by the tracker with the confusion matrix and weights as
artifacts, and the model as an MLflow Model that takes raw rows, registered under the study's
name (tuner/engine/export.py).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from objectives.adapters.estimator import EstimatorModel
from objectives.adapters.function import PICKLE_NOTE, FunctionModel
from objectives.base import Model, Split
from objectives.data import Dataset
from objectives.data.dataset import CLASSIFICATION
from tuner.engine.answer import keep_answer, study_answer
from tuner.engine.context import Context
from tuner.engine.export import model_to_log
from tuner.engine.final_checkpoint import final_checkpoint
from tuner.engine.preflight import monitor_size
from tuner.engine.replay import member_model, replay
from tuner.figures.confusion import confusion_matrix, plot_confusion_matrix
from tuner.results import FinalResult
from tuner.search import pbt as decide

log = logging.getLogger("tuner")


def run_final(ctx: Context) -> FinalResult:
    """Retrain, test once, store and record the result; return it."""
    spec = ctx.spec
    answer, chosen = study_answer(ctx, ctx.options.final_trial)
    stage, study, trial = chosen.stage, chosen.study, chosen.trial
    rule = answer.rule
    config = {**spec.stage_fixed(stage), **trial.params, **spec.final.overrides}
    search_values = {m: float(v) for m, v in zip(spec.metric_names, trial.values or (),
                                                 strict=False)}
    log.info("final: retraining trial %d of %s (%s), chosen by %s, with %s", trial.number,
             study.study_name, ", ".join(f"{m} {v:.4g}" for m, v in search_values.items()), rule,
             ", ".join(f"{k}={v}" for k, v in spec.final.overrides.items()) or "no overrides")
    monitor_rows = monitor_size(spec, ctx.data)
    train, monitor, test = ctx.data.final_splits(monitor_rows)

    def report(step: int, metrics: Mapping[str, float]) -> None:
        log.debug("final step %d: %s", step,
                  ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))

    start = time.perf_counter()
    schedule = None
    member = stage.pbt is not None and spec.final.use == "member"
    if stage.pbt is not None and member:  # its weights as they are (trained on the train split)
        result = member_model(ctx, stage, trial, train, monitor)
        schedule = decide.schedule(decide.lineage(study.get_trials(deepcopy=False), trial),
                                   stage.pbt.interval)
    elif stage.pbt is not None:  # the member's schedule, replayed from scratch
        result, schedule = replay(ctx, stage, study, trial, train, monitor, report)
    else:
        checkpoint = final_checkpoint(ctx, study.study_name, trial.number, config)
        extra = {"checkpoint": checkpoint} if checkpoint is not None else {}
        result = spec.objective.fit(config, train, monitor, report, spec.seed,
                                    ctx.data.image_shape, **extra)
        if checkpoint is not None:
            shutil.rmtree(checkpoint.root, ignore_errors=True)
    seconds = time.perf_counter() - start
    if schedule is not None and not member:  # the replay's monitor metric beside the member's
        searched = (trial.user_attrs.get("metrics") or {}).get("val_accuracy", float("nan"))
        log.info("final: the replayed run's val_accuracy %.4f on its monitor split; the "
                 "member's %.4f on the search's val split", result.val_accuracy, searched)
    scores = result.model.evaluate(test.X, test.y)
    outcome = FinalResult(
        metrics={f"test_{name}": float(value) for name, value in sorted(scores.items())},
        monitor_accuracy=result.val_accuracy, trial=trial.number, stage=study.study_name,
        search_value=float((trial.values or [0.0])[0]), config=config, dataset=spec.dataset,
        train_size=len(ctx.data.train) if member else len(train), test_size=len(test),
        seconds=round(seconds, 2), rule=rule,
        search_values=search_values, answer=answer, schedule=schedule)
    with tempfile.TemporaryDirectory(prefix="tuner-final-") as tmp:
        artifacts = _artifacts(result.model, test, ctx.data, Path(tmp))
        info: dict[str, Any] = {**outcome.record(), "history": result.history,
                                **{f"search_{m}": v for m, v in outcome.search_values.items()}}
        run_id = ctx.tracker.final_run(spec.name, info, artifacts)
        logged = None
        if run_id:
            tuned = model_to_log(spec, ctx.data, result.model, monitor_rows, outcome, Path(tmp),
                                 register=ctx.options.register)
            logged = ctx.tracker.log_model(run_id, spec.name, tuned) if tuned else None
        ctx.tracker.flush()
    if run_id:
        outcome = replace(outcome, mlflow_run_id=run_id,
                          model_uri=logged.uri if logged else None)
    study.set_user_attr("final", outcome.record())
    keep_answer(ctx, answer)
    return outcome


def _artifacts(model: Model, test: Split, data: Dataset, folder: Path) -> list[Path]:
    """The saved model (weights, or a pickle of the user's own model with a note on what
    loading it means) and, for classification, the confusion-matrix PNG."""
    user_model = isinstance(model, (EstimatorModel, FunctionModel))
    files = [Path(model.save(folder / ("model" if user_model else "weights")))]
    if isinstance(model, FunctionModel):
        files.append(folder / "model_README.txt")
        files[-1].write_text(PICKLE_NOTE + "\n")
    if data.task == CLASSIFICATION:
        matrix = confusion_matrix(test.y, model.predict(test.X), data.classes)
        files.append(plot_confusion_matrix(matrix, folder / "confusion_matrix.png",
                                           data.class_names))
    return files
