"""The study's answer, one for everything that names "the best": the trial `--trial` names,
else the confirm stage's winner (the best mean over its evaluations), else the best single
measurement by the pick rule. It is stored with the study (the spec record's user attr
"answer", which `tuner show`, `list` and `report` read) and in MLflow (the experiment's tags).
"""

from __future__ import annotations

from tuner.engine.confirm import (
    confirm_stage,
    race,
    search_trials,
    search_values,
    stored_candidates,
)
from tuner.engine.context import Context
from tuner.engine.spec_store import store_answer
from tuner.engine.stage import open_stage_study
from tuner.errors import TunerError
from tuner.results import Answer
from tuner.search.pareto import metric_value
from tuner.search.pick import Candidate, named, pick, rule_of


def study_answer(ctx: Context, trial: str | None = None) -> tuple[Answer, Candidate]:
    """The answer and its search trial; TunerError (one line) when no trial qualifies."""
    spec = ctx.spec
    rule = rule_of(spec)
    trials = search_trials(ctx)
    if trial is not None:
        chosen = named(spec, trials, trial)
        return _answer(ctx, chosen, f"--trial {trial}"), chosen
    chosen = pick(spec, trials, rule)
    stage = confirm_stage(spec)
    if stage is not None:
        study = open_stage_study(ctx, stage)
        repeats = study.get_trials(deepcopy=False)
        if repeats:
            candidates = stored_candidates(ctx, study)
            table = race(spec, search_values(ctx, candidates), repeats)
            best = table[0]
            if best.racing:  # else every candidate diverged or failed: the search's pick
                chosen = next(t for t in trials
                              if f"{t.stage.name}:{t.trial.number}" == best.key)
                return _answer(ctx, chosen, f"pick {rule}, confirmed", best.mean, best.stderr,
                               best.n), chosen
    return _answer(ctx, chosen, f"pick {rule}"), chosen


def _answer(ctx: Context, chosen: Candidate, rule: str, mean: float | None = None,
            stderr: float | None = None, n: int = 1) -> Answer:
    metric = rule_of(ctx.spec).metric
    value = metric_value(chosen.trial, metric, ctx.spec.metric_names)
    return Answer(stage=chosen.stage.name, trial=chosen.trial.number,
                  params=dict(chosen.trial.params), metric=metric,
                  value=float("nan") if value is None else value, rule=rule, mean=mean,
                  stderr=stderr, evaluations=n)


def record_answer(ctx: Context, trial: str | None = None) -> Answer | None:
    """The answer, stored with the study and in MLflow; None while no trial qualifies."""
    try:
        answer, _ = study_answer(ctx, trial)
    except TunerError:
        return None
    return keep_answer(ctx, answer)


def keep_answer(ctx: Context, answer: Answer) -> Answer:
    """Store `answer` with the study and record it in MLflow (experiment and stage runs)."""
    store_answer(ctx.storage, ctx.spec.name, answer.record())
    runs = [run for stage in (ctx.spec.stage(answer.stage), confirm_stage(ctx.spec))
            if stage is not None
            and (run := open_stage_study(ctx, stage).user_attrs.get("mlflow_parent_run_id"))]
    ctx.tracker.record_answer(ctx.spec.name, answer.record(), runs)
    return answer
