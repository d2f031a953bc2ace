"""Which trial the final retrains: the best on the study's (first) metric, a declared rule
(`[final] pick`), or a trial named on the command line (`--trial [STAGE:]N`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.errors import TunerError
from tuner.search.pareto import metric_value
from tuner.search.trials import is_copy
from tuner.spec import Stage, StudySpec
from tuner.spec.model import Pick


@dataclass(frozen=True)
class Candidate:
    stage: Stage
    study: optuna.Study
    trial: FrozenTrial


def rule_of(spec: StudySpec) -> Pick:
    """The study's pick rule: [final] pick, or the best on its first metric."""
    return spec.final.pick or Pick(spec.metric, spec.direction)


def pick(spec: StudySpec, candidates: Sequence[Candidate], rule: Pick) -> Candidate:
    """The complete trial over every stage that meets the rule's conditions and is best on its
    metric. Ties (a 5,000-image val split measures accuracy in steps of 0.0002) go to the trial
    better on the study's objectives in order (so a faster one of two equally accurate trials,
    the one on the Pareto front), then to the first."""
    names = spec.metric_names
    ranked: list[tuple[tuple[float, ...], Candidate]] = []
    for c in eligible(spec, candidates, rule):
        value = float(metric_value(c.trial, rule.metric, names) or 0.0)
        others = [signed(float(v), d) for v, (_, d) in zip(c.trial.values or (),
                                                             spec.objectives, strict=False)]
        ranked.append(((signed(value, rule.direction), *others), c))
    if not ranked:
        if not any(c.trial.state == TrialState.COMPLETE for c in candidates):
            raise TunerError(f"Study '{spec.name}' has no completed trial yet; run "
                             f"`tuner study {spec.name}` first.")
        raise TunerError(f"No completed trial of study '{spec.name}' meets the final's pick "
                         f"rule ({rule}); relax [final] pick or name one with --trial.")
    return max(ranked, key=lambda r: r[0])[1]


def eligible(spec: StudySpec, candidates: Sequence[Candidate], rule: Pick) -> list[Candidate]:
    """The complete trials that have the rule's metric and meet every `where` condition (a
    copy of an earlier stage's trial is that trial: its original is the candidate)."""
    names = spec.metric_names
    return [c for c in candidates if c.trial.state == TrialState.COMPLETE
            and not is_copy(c.trial) and metric_value(c.trial, rule.metric, names) is not None
            and all((v := metric_value(c.trial, cond.metric, names)) is not None
                    and cond.holds(v) for cond in rule.where)]


def signed(value: float, direction: str) -> float:
    """Larger is better."""
    return value if direction == "maximize" else -value


def named(spec: StudySpec, candidates: Sequence[Candidate], ref: str) -> Candidate:
    """The trial `--trial` names: N (of the last stage) or STAGE:N; it must be complete."""
    stage_name, _, number = ref.rpartition(":")
    stage_name = stage_name or spec.stages[-1].name
    if stage_name not in [s.name for s in spec.stages] or not number.isdigit():
        raise TunerError(f"--trial {ref}: expected N or STAGE:N with STAGE one of: "
                         f"{', '.join(s.name for s in spec.stages)}.")
    for c in candidates:
        if c.stage.name == stage_name and c.trial.number == int(number):
            if is_copy(c.trial):
                raise TunerError(f"--trial {ref}: trial {number} of stage {stage_name} is a "
                                 f"copy of {c.trial.user_attrs.get('copied_from')}; name that "
                                 "trial.")
            if c.trial.state != TrialState.COMPLETE:
                raise TunerError(f"--trial {ref}: trial {number} of stage {stage_name} is "
                                 f"{c.trial.state.name}, not COMPLETE; the final retrains a "
                                 "complete trial.")
            return c
    raise TunerError(f"--trial {ref}: stage {stage_name} has no trial {number}.")
