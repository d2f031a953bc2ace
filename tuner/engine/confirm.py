"""The confirm stage, `NAME/confirm`: after the search stages, the pick rule's `top_k` best
configurations are trained again with other training seeds (the same train/val split), raced
as search/confirm.py decides, until `top_k x repeats` evaluations are spent or the race is
decided. Each evaluation is a trial of the stage's study, so it is resumable, shared by workers
(`--jobs`, `--cluster`), tracked in MLflow under the stage's parent run and checkpointed like
any trial. The candidates are chosen once, on first use, and stored with the stage.

Repeat r of every candidate trains with seed (study seed + r): the candidates of one round share
their seeds. A training function gets it through its own `seed` param when it declares one
(it is given no other seed); a repeat that diverges takes its candidate out of the race.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace

import optuna
from optuna.trial import FrozenTrial, TrialState

from objectives.adapters.function import FunctionObjective
from tuner.engine.context import Context
from tuner.engine.stage import StagePlan, open_stage_study, run_plan, stage_done, stage_space
from tuner.engine.stage_result import summarize
from tuner.engine.stage_run import close_orphan
from tuner.engine.trial import TrialSetup
from tuner.results import StageResult
from tuner.search.confirm import (
    Candidate,
    Ranked,
    Standing,
    choose,
    complete_rounds,
    next_repeat,
    standings,
)
from tuner.search.pareto import metric_value
from tuner.search.pick import Candidate as SearchTrial
from tuner.search.pick import eligible, rule_of
from tuner.search.trials import FINISHED, is_superseded
from tuner.spec import ParamSpace, Stage, StudySpec
from tuner.spec.model import CONFIRM_STAGE, SEED_LIMIT

log = logging.getLogger("tuner")

UNFINISHED_FAILS = ("interrupted", "surplus", None)
"""Reasons of FAIL trials whose repeat is run again (Ctrl-C, a surplus ask, a dead worker's
trial, whose retry Optuna queues); any other FAIL (the objective raised) ends its repeat."""


def repeats(trials: Sequence[FrozenTrial]) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    """Per candidate, the repeats handed out (queued, running or ended) and those ended."""
    assigned: dict[str, set[int]] = {}
    finished: dict[str, set[int]] = {}
    for t in trials:
        key, repeat = t.user_attrs.get("candidate"), t.user_attrs.get("repeat")
        if key is None or repeat is None:
            continue
        failed = t.state == TrialState.FAIL
        if failed and t.user_attrs.get("reason") in UNFINISHED_FAILS:
            continue
        assigned.setdefault(key, set()).add(int(repeat))
        if t.state.is_finished():
            finished.setdefault(key, set()).add(int(repeat))
    return assigned, finished


def confirm_stage(spec: StudySpec) -> Stage | None:
    """The confirm stage of the study, or None when it has none."""
    confirm = spec.final.confirm
    if confirm is None:
        return None
    return Stage(name=CONFIRM_STAGE, sampler="random", sampler_options={}, pruner="none",
                 pruner_options={}, trials=confirm.budget, timeout=None, space=())


def search_trials(ctx: Context) -> list[SearchTrial]:
    """Every trial of every search stage (of a PBT stage, its last generation), with its stage
    and study."""
    return [SearchTrial(stage, study, trial) for stage in ctx.spec.stages
            for study in [open_stage_study(ctx, stage)]
            for trial in study.get_trials(deepcopy=False)
            if not is_superseded(trial, stage.pbt.generations if stage.pbt else None)]


class ConfirmPlan(StagePlan):
    """The confirm stage's trials: the next candidate the race wants, enqueued before each ask
    with its params; trained with its stage's fixed params and the repeat's seed."""

    def __init__(self, ctx: Context, study: optuna.Study) -> None:
        self.ctx = ctx
        self.spec = ctx.spec
        self.study = study
        self.candidates = stored_candidates(ctx, study)
        self.searched = search_values(ctx, self.candidates)
        self.stages = {s.name: s for s in self.spec.stages}
        self.spaces: dict[str, Sequence[ParamSpace]] = {}
        self.setup = TrialSetup((), {}, self.spec.seed)

    def ready(self, study: optuna.Study, trials: Sequence[FrozenTrial]) -> bool | None:
        if any(t.state == TrialState.WAITING for t in trials):
            return True  # a queued repeat first (a dead worker's, retried; a continuation)
        assigned, finished = repeats(trials)

        def table(rounds: int) -> list[Standing]:
            return race(self.spec, self.searched, trials, rounds)

        rounds = complete_rounds(finished, lambda r: [s.key for s in table(r) if s.racing])
        step = next_repeat(table(rounds), assigned, rounds)
        if step.action == "decided":
            return False
        if step.action == "wait":
            return None
        candidate = next(c for c in self.candidates if c.key == step.key)
        study.enqueue_trial(dict(candidate.params), user_attrs={
            "candidate": step.key, "repeat": step.repeat})
        return True

    def setup_of(self, trial: optuna.Trial) -> TrialSetup | None:
        """How a repeat trains; None for a trial with no repeat, or one whose repeat an
        earlier trial holds (two workers queued the same next repeat at once)."""
        key = trial.user_attrs.get("candidate")
        candidate = next((c for c in self.candidates if c.key == key), None)
        if candidate is None or _held_earlier(self.study, trial):
            return None
        stage = self.stages[candidate.stage]
        if stage.name not in self.spaces:
            self.spaces[stage.name] = stage_space(
                self.ctx, open_stage_study(self.ctx, stage), stage)
        seed = (self.spec.seed + int(trial.user_attrs.get("repeat", 1))) % SEED_LIMIT
        fixed = dict(self.spec.stage_fixed(stage))
        if isinstance(self.spec.objective, FunctionObjective) and "seed" in fixed:
            fixed["seed"] = seed
        return TrialSetup(self.spaces[stage.name], fixed, seed)


def _held_earlier(study: optuna.Study, trial: optuna.Trial) -> bool:
    """True when a lower-numbered trial holds the same repeat (queued, running or ended)."""
    mine = (trial.user_attrs.get("candidate"), trial.user_attrs.get("repeat"))
    return any(t.number < trial.number and (t.user_attrs.get("candidate"),
                                           t.user_attrs.get("repeat")) == mine
               and not (t.state == TrialState.FAIL
                        and t.user_attrs.get("reason") in UNFINISHED_FAILS)
               for t in study.get_trials(deepcopy=False))


def stored_candidates(ctx: Context, study: optuna.Study) -> list[Candidate]:
    """The stage's candidates, chosen on first use from every search stage and stored."""
    stored = study.user_attrs.get("candidates")
    if stored is None:
        study.set_user_attr("candidates", [c.to_dict() for c in _choose(ctx)])
        stored = study.user_attrs["candidates"]
    return [Candidate.from_dict(d) for d in stored]


def rechoose(ctx: Context, study: optuna.Study) -> int:
    """When the search's best candidates are no longer the ones the stage chose (a larger
    --trials ran more search trials), choose them again and reopen the race: the repeats of
    candidates still chosen count on, the others' no longer. Returns how many finished repeats
    are of candidates no longer chosen (the stage's trial target grows by them)."""
    stored = study.user_attrs.get("candidates")
    if stored is None:
        return 0
    now = _choose(ctx)
    keys = {c.key for c in now}
    if keys != {d["key"] for d in stored}:
        study.set_user_attr("candidates", [c.to_dict() for c in now])
        study.set_user_attr("decided", False)
        log.info("stage %s: the search changed since its candidates were chosen; chosen again "
                 "(%s), the race reopened", CONFIRM_STAGE, ", ".join(c.key for c in now))
    return sum(t.user_attrs.get("candidate") not in keys
               for t in study.get_trials(deepcopy=False, states=FINISHED))


def _choose(ctx: Context) -> list[Candidate]:
    """The confirm stage's candidates as the search stands: its top_k by the pick rule."""
    confirm = ctx.spec.final.confirm
    assert confirm is not None
    return choose(ranked(ctx.spec, search_trials(ctx)), rule_of(ctx.spec), confirm.top_k)


def ranked(spec: StudySpec, trials: Sequence[SearchTrial]) -> list[Ranked]:
    """The complete search trials the pick rule may choose (in a multi-objective study, those on
    the front of all stages together), with their value on its metric."""
    rule = rule_of(spec)
    names = spec.metric_names
    chosen = eligible(spec, trials, rule)
    if spec.multi:
        chosen = _front(spec, chosen)
    return [Ranked(f"{c.stage.name}:{c.trial.number}", c.stage.name, spec.stage_fixed(c.stage),
                   dict(c.trial.params), float(metric_value(c.trial, rule.metric, names) or 0))
            for c in chosen]


def _front(spec: StudySpec, trials: Sequence[SearchTrial]) -> list[SearchTrial]:
    """The trials no other one dominates on the study's objectives."""
    signs = [1.0 if d == "maximize" else -1.0 for _, d in spec.objectives]

    def scores(c: SearchTrial) -> list[float]:
        return [s * float(v) for s, v in zip(signs, c.trial.values or (), strict=False)]

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x >= y for x, y in zip(a, b, strict=True)) and a != b

    return [c for c in trials if not any(dominates(scores(o), scores(c)) for o in trials)]


def search_values(ctx: Context, candidates: Sequence[Candidate]) -> dict[str, float]:
    """Each candidate's value on the pick rule's metric in the search (the mean over its
    search trials, which all trained with the study's seed: seed index 0)."""
    rule = rule_of(ctx.spec)
    names = ctx.spec.metric_names
    by_key = {f"{t.stage.name}:{t.trial.number}": t.trial for t in search_trials(ctx)}
    out = {}
    for c in candidates:
        found = [v for key in c.trials if key in by_key
                 if (v := metric_value(by_key[key], rule.metric, names)) is not None]
        if found:
            out[c.key] = sum(found) / len(found)
    return out


def race(spec: StudySpec, searched: Mapping[str, float], confirm_trials: Sequence[FrozenTrial],
         rounds: int | None = None) -> list[Standing]:
    """Every candidate's standing from its search value (seed index 0) and its finished
    repeats (seed index r; only those of the first `rounds` rounds when given); a candidate
    whose repeat diverged or failed leaves the race and goes last."""
    rule = rule_of(spec)
    names = spec.metric_names
    values: dict[str, dict[int, float]] = {key: {0: v} for key, v in searched.items()}
    unstable: set[str] = set()
    for t in confirm_trials:
        key = t.user_attrs.get("candidate")
        repeat = int(t.user_attrs.get("repeat", 0))
        if key not in values or rounds is not None and repeat > rounds:
            continue
        if t.state == TrialState.PRUNED or (t.state == TrialState.FAIL and t.user_attrs.get(
                "reason") not in UNFINISHED_FAILS):
            unstable.add(key)
        elif t.state == TrialState.COMPLETE:
            value = metric_value(t, rule.metric, names)
            if value is not None:
                values[key][repeat] = value
    table = standings(values, rule.direction)
    return ([s for s in table if s.key not in unstable]
            + [Standing(s.key, s.mean, s.stderr, s.n, False) for s in table
               if s.key in unstable])


def run_confirm(ctx: Context) -> StageResult | None:
    """Run (or resume, or skip when done) the confirm stage; None when the study has none."""
    stage = confirm_stage(ctx.spec)
    if stage is None:
        return None
    unfinished = [s.name for s in ctx.spec.stages
                  if not stage_done(open_stage_study(ctx, s), s)]
    if unfinished:  # its candidates are chosen once: from the whole search, not part of it
        log.info("stage %s: not run: stage %s has not reached its trials (a budget or an "
                 "interruption ended it early); until a run finishes the search, the answer is "
                 "its best single measurement", stage.name, ", ".join(unfinished))
        return None
    study = open_stage_study(ctx, stage)
    stage = replace(stage, trials=(stage.trials or 0) + rechoose(ctx, study))
    if stage_done(study, stage):
        log.info("stage %s: already decided; skipped", stage.name)
        close_orphan(ctx, study, stage, done=True)
        return summarize(study, stage.name, wall=0.0, ran=0)
    plan = ConfirmPlan(ctx, study)
    if not plan.candidates:
        log.info("stage %s: no completed trial to confirm; skipped", stage.name)
        return None
    log.info("stage %s: %d candidates, up to %d evaluations", stage.name,
             len(plan.candidates), stage.trials)
    return run_plan(ctx, study, stage, plan)
