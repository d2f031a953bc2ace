"""Stopping rules of a stage (`stop = { patience = 20, min_delta = 1e-3, target = 0.99 }`): stop
when the stage's best has not improved by more than min_delta in `patience` finished trials, or
when it reached `target`. Judged on the stored trials, so every worker comes to the same
decision, whichever ran the trials: the stage's own finished trials in number order, its best
for patience starting from the copies it holds (search/warm_start.py; a target is judged on
its own trials alone) and counting only trials after the point it was last reopened
(`since`: a larger trial target reopens a stopped stage)."""

from __future__ import annotations

from collections.abc import Sequence

from optuna.trial import FrozenTrial, TrialState

from tuner.search.trials import FINISHED, is_copy
from tuner.spec.model import StopRule


def stop_reason(rule: StopRule, trials: Sequence[FrozenTrial], maximize: bool,
                since: int = 0) -> str | None:
    """Why the stage stops now (None: it goes on). `trials`: all of the stage's, copies
    included; `since`: how many of its own finished trials came before the rules apply."""
    sign = 1.0 if maximize else -1.0
    copies = [sign * float(t.value) for t in trials if is_copy(t) and t.value is not None]
    best = max(copies, default=None)
    own = sorted((t for t in trials if not is_copy(t) and t.state in FINISHED),
                 key=lambda t: t.number)
    quiet = 0
    seen = best  # the best value itself (`best` moves only by more than min_delta)
    mine: float | None = None  # the best of the stage's own trials: what a target judges
    for count, trial in enumerate(own, start=1):
        value = trial.value if trial.state == TrialState.COMPLETE else None
        if value is not None:
            seen = sign * value if seen is None else max(seen, sign * value)
            mine = sign * value if mine is None else max(mine, sign * value)
        if value is not None and (best is None or sign * value > best + rule.min_delta):
            best, quiet = sign * value, 0
        elif count > since:
            quiet += 1
        if count <= since:
            continue
        if rule.target is not None and mine is not None and mine >= sign * rule.target:
            return f"reached the target {rule.target:g} (best {sign * mine:.6g})"
        if rule.patience is not None and quiet >= rule.patience:
            return (f"no improvement of the best by more than {rule.min_delta:g} in "
                    f"{rule.patience} trials (best {sign * seen:.6g})" if seen is not None
                    else f"no complete trial in {rule.patience} trials")
    return None
