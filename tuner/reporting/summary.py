"""The end-of-study summary and the final's line, as `tuner study` prints them."""

from __future__ import annotations

from tuner.results import FinalResult, StudyResult
from tuner.search.space import params_text
from tuner.spec.model import CONFIRM_STAGE


def study_summary(result: StudyResult) -> str:
    """One block per stage (counts, wall time, best trial, epochs saved by pruning), the
    study's answer, then the MLflow warnings if any."""
    lines = [f"study {result.name}: " + ", ".join(
        f"{d} {m}" for m, d in zip(result.metrics or (result.metric,),
                                   result.directions or (result.direction,), strict=True))]
    for s in result.stages.values():
        wall = (f"wall {s.wall_seconds:.1f} s this run" if s.wall_seconds is not None
                else f"run by {result.workers} {result.worker_kind}")
        lines.append(f"  stage {s.name}: {s.complete} complete, {s.pruned} pruned, "
                     f"{s.failed} failed; {wall}, {s.trial_seconds:.1f} s in trials")
        if s.name == CONFIRM_STAGE:
            lines.append(f"    {s.complete + s.pruned} evaluations of the search's top "
                         "candidates, with other training seeds")
            continue
        if s.stopped:
            lines.append(f"    stopped early: {s.stopped}")
        if s.best_value is not None:
            lines.append(f"    best {result.metric} {s.best_value:.4f} "
                         f"(trial {s.best_trial}): {params_text(s.best_params or {})}")
        if s.front:
            lines.append(f"    pareto front: {len(s.front)} trials")
            lines += [f"      trial {f.trial}: " + ", ".join(f"{m} {v:.4g}" for m, v in
                                                           f.values.items())
                      + f": {params_text(f.params)}" for f in s.front]
        trained, full = s.epochs_trained, s.epochs_without_pruning
        if s.pruned or full > s.complete:  # else every trial reported once: nothing to prune
            saved = f" ({100 * (1 - trained / full):.0f}% saved by pruning)" if full > 0 else ""
            lines.append(f"    epochs trained {trained:.1f} vs {full:.1f} without pruning{saved}")
    if result.answer is not None:
        lines.append(f"  answer: {result.answer.describe()}: "
                     f"{params_text(result.answer.params)}")
    if result.tracking_warnings:
        lines.append(f"  MLflow: {result.tracking_warnings} tracking warnings (failed writes, "
                     "logged above); the trials are unaffected")
    return "\n".join(lines)


def final_line(study: str, final: FinalResult) -> str:
    """`final NAME: test accuracy 0.9333, test loss 0.2623 (...)` for the built-in nets; the
    whole test metric family (test_rmse 3.1, test_r2 0.8, ...) for the user's own models."""
    if set(final) == {"test_accuracy", "test_loss"}:
        shown = (f"test accuracy {final['test_accuracy']:.4f}, test loss "
                 f"{final['test_loss']:.4f}")
    else:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in final.items())
    model = f"; model {final.model_uri}" if final.model_uri else ""
    rule = f", trial {final.trial} chosen by {final.rule}" if final.rule else ""
    return (f"final {study}: {shown} ({final.train_size} training samples, "
            f"{final.seconds:.1f} s{rule}{model})")
