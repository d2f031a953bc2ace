"""A Population Based Training stage on Optuna's storage and the tuner's trial checkpoints.

Each member's generation is one trial of the stage study: fixed params (enqueued), trained
for `interval` reporting steps from its parent's checkpoint (user attrs member, generation,
parent_trial, parent_step, exploited; the parent's checkpoint record in "checkpoint"). Its
objective stops right after step (generation + 1) x interval and saves there
(objectives.checkpoint: stop_after); that checkpoint is what the next generation continues.

The population's state is the trials themselves, so any worker (`--jobs`, `--cluster`,
PostgreSQL workers), and a rerun after kill -9, picks up where the stage is: a generation's
missing members are enqueued by whichever worker sees them missing, its plan being a pure
function of the previous generation and the seed (search/pbt.py); should two workers enqueue the
same member, the later copy is told FAIL ("surplus") when asked, before it trains. A member is
missing when it has no trial waiting, running or finished, and no trial that failed for good
(a dead worker's trial is re-queued by the heartbeat, an interrupted one by its checkpoint,
one that never started beating is enqueued again here). A generation is planned only when
every member of the one before has finished, and only members whose trial completed with a
whole checkpoint at the generation's end are ever exploited.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.engine.checkpoints import ATTR as CHECKPOINT_ATTR
from tuner.engine.checkpoints import forget
from tuner.engine.context import Context
from tuner.engine.stage import StagePlan, open_stage_study, run_plan, stage_done, stage_space
from tuner.engine.stage_result import summarize
from tuner.engine.stage_run import close_orphan
from tuner.engine.trial import DROPPED, TrialSetup
from tuner.errors import TunerError
from tuner.results import StageResult
from tuner.search import pbt as decide
from tuner.search.refine import clip_config
from tuner.search.samplers import build_sampler
from tuner.search.trials import best_trial
from tuner.spec import ParamSpace, Stage

log = logging.getLogger("tuner")

SCHEDULE_ATTR = "schedule"
"""The stage study's user attr holding the winning member's schedule (search/pbt.schedule)."""
RERUN_REASONS = (None, "surplus", "interrupted", DROPPED)
"""A FAIL with one of these reasons is not the member's end: it runs again (re-queued)."""
CRASH_LIMIT = 3
"""A member whose trials died without a reason (the worker killed, e.g. out of memory) this
many times in one generation has failed for good."""
LIVE = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)


def members(trials: Sequence[FrozenTrial], generation: int) -> dict[int, FrozenTrial]:
    """Each member's trial in `generation`: its first (lowest-numbered) one waiting, running
    or finished, else its last that failed for good; members without either are missing."""
    found: dict[int, FrozenTrial] = {}
    crashes: dict[int, int] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if t.user_attrs.get(decide.GENERATION) != generation:
            continue
        member = int(t.user_attrs[decide.MEMBER])
        if t.state in LIVE:
            if member not in found or found[member].state not in LIVE:
                found[member] = t
            continue
        reason = t.user_attrs.get("reason")
        crashes[member] = crashes.get(member, 0) + (reason is None)
        final = reason not in RERUN_REASONS or crashes[member] >= CRASH_LIMIT
        if final and (member not in found or found[member].state not in LIVE):
            found[member] = t
    return found


def is_duplicate(trials: Sequence[FrozenTrial], trial: FrozenTrial) -> bool:
    """True when a lower-numbered trial of the same member and generation is waiting, running
    or finished (two workers enqueued it): `trial` must not train."""
    key = (trial.user_attrs.get(decide.MEMBER), trial.user_attrs.get(decide.GENERATION))
    return any(t.number < trial.number and t.state in LIVE
               and (t.user_attrs.get(decide.MEMBER), t.user_attrs.get(decide.GENERATION)) == key
               for t in trials)


def run_pbt(ctx: Context, stage: Stage) -> StageResult:
    """Run (or resume, or skip when done) a PBT stage; its result."""
    assert stage.pbt is not None
    if ctx.checkpoints is None:
        raise TunerError(f"Stage '{stage.name}' is a PBT stage: its members continue from "
                         "trial checkpoints, which are off here (--no-checkpoints); run "
                         "without it.")
    study = open_stage_study(ctx, stage)
    if stage_done(study, stage):  # decided: every generation finished
        log.info("stage %s: its generations have finished; skipped", stage.name)
        close_orphan(ctx, study, stage, done=True)
        return summarize(study, stage.name, wall=0.0, ran=0)
    space = stage_space(ctx, study, stage)
    if "pbt" not in study.user_attrs:
        study.set_user_attr("pbt", stage.pbt.to_dict())
    source = (None if stage.pbt.source is None else
              open_stage_study(ctx, ctx.spec.stage(stage.pbt.source)))
    plan = PbtPlan(ctx, stage, space, source)
    result = run_plan(ctx, study, stage, plan)
    plan.store_schedule(study, study.get_trials(deepcopy=False))
    return result


class PbtPlan(StagePlan):
    """How the stage loop (engine/stage.py) runs a PBT stage: a trial to ask exists when a
    member is waiting; missing members of the current generation are enqueued first; the stage
    is decided when its last generation has finished (its schedule then stored)."""

    def __init__(self, ctx: Context, stage: Stage, space: Sequence[ParamSpace],
                 source: optuna.Study | None) -> None:
        super().__init__(ctx.spec, stage, space)
        assert stage.pbt is not None
        self.ctx, self.stage, self.pbt, self.space = ctx, stage, stage.pbt, tuple(space)
        self.fixed = ctx.spec.stage_fixed(stage)
        self.source = source

    def ready(self, study: optuna.Study, trials: Sequence[FrozenTrial]) -> bool | None:
        """True: a member waits to be asked; None: wait for other workers' members; False:
        every generation has finished."""
        if any(t.state == TrialState.WAITING for t in trials):
            return True
        for generation in range(self.pbt.generations):
            found = members(trials, generation)
            if len(found) < self.pbt.population:
                if generation > 0:
                    self._clean(trials, generation - 2)
                self._enqueue(study, trials, generation, found)
                return True
            if any(t.state in (TrialState.WAITING, TrialState.RUNNING) for t in found.values()):
                return None
        self.store_schedule(study, trials)
        return False

    def setup_of(self, trial: optuna.Trial) -> TrialSetup | None:
        """A member's trial runs with its member's training seed; a trial that is no member
        (asked while none was waiting) or a member's duplicate runs nothing."""
        attrs = trial.user_attrs
        if decide.MEMBER not in attrs:
            return None
        frozen = trial.study.get_trials(deepcopy=False)
        mine = next(t for t in frozen if t.number == trial.number)
        if is_duplicate(frozen, mine):
            log.info("trial %d: member %s of generation %s is already queued; skipped",
                     trial.number, attrs[decide.MEMBER], attrs[decide.GENERATION])
            return None
        return TrialSetup(self.space, self.fixed, decide.member_seed(self.ctx.spec.seed, attrs))

    def target(self, stage: Stage) -> int | None:
        """None: ready() ends the stage, and no member is counted out by trial numbers as
        surplus (setup_of decides): a count could include a member's duplicate."""
        return None

    def _enqueue(self, study: optuna.Study, trials: Sequence[FrozenTrial], generation: int,
                 found: Mapping[int, FrozenTrial]) -> None:
        plans = (self._first(study) if generation == 0 else
                 self._next(trials, generation))
        for plan in plans:
            if plan.member in found:
                continue
            attrs: dict[str, Any] = {decide.MEMBER: plan.member, decide.GENERATION: generation,
                                     decide.PARENT: plan.parent,
                                     decide.PARENT_STEP: generation * self.pbt.interval,
                                     decide.EXPLOITED: plan.exploited}
            if plan.parent is not None:
                parent = next(t for t in trials if t.number == plan.parent)
                attrs[CHECKPOINT_ATTR] = parent.user_attrs[CHECKPOINT_ATTR]
            study.enqueue_trial(plan.params, user_attrs=attrs)
        log.info("stage %s: generation %d of %d queued", self.stage.name, generation + 1,
                 self.pbt.generations)

    def _first(self, study: optuna.Study) -> list[decide.Plan]:
        seeded: list[Mapping[str, Any]] = []
        if self.source is not None:
            seeded = [clip_config(t.params, self.space) for t in _ranked(self.source)]
        sampler = build_sampler(self.stage, self.space, self.ctx.spec.seed)
        return decide.first_generation(self.space, sampler, self.pbt, seeded)

    def _next(self, trials: Sequence[FrozenTrial], generation: int) -> list[decide.Plan]:
        """The plans of `generation` from the finished one before it."""
        end = generation * self.pbt.interval
        results = []
        for member, t in sorted(members(trials, generation - 1).items()):
            whole = (t.state == TrialState.COMPLETE and t.value is not None
                     and t.user_attrs.get(CHECKPOINT_ATTR) is not None)
            if whole and int(t.user_attrs.get("steps", 0)) < end:
                raise TunerError(
                    f"Stage '{self.stage.name}': trial {t.number}'s run ended at step "
                    f"{t.user_attrs.get('steps')}, before generation {generation}'s end at step "
                    f"{end}; give the objective at least generations x interval = "
                    f"{self.pbt.steps} reporting steps (epochs), or fewer generations.")
            results.append(decide.Result(member, t.number, dict(t.params),
                                         float(t.value) if whole and t.value is not None
                                         else None))
        maximize = self.ctx.spec.direction == "maximize"
        try:
            return decide.next_generation(results, self.pbt, self.space, self.ctx.spec.seed,
                                          generation, maximize)
        except ValueError:
            raise TunerError(f"Stage '{self.stage.name}': no member of generation {generation}"
                             " completed; see the trials' reasons (tuner show).") from None

    def _clean(self, trials: Sequence[FrozenTrial], generation: int) -> None:
        """Delete the checkpoints of generations up to `generation`: every member of the
        generation after it has finished, so nothing continues them any more."""
        store = self.ctx.checkpoints
        assert store is not None  # run_pbt refuses to run without
        for t in trials:
            record = t.user_attrs.get(CHECKPOINT_ATTR)
            if t.user_attrs.get(decide.GENERATION, generation + 1) <= generation and record:
                forget(store, record)

    def store_schedule(self, study: optuna.Study, trials: Sequence[FrozenTrial]) -> None:
        """The winning member's schedule, stored once the last generation has finished
        (nothing before)."""
        if SCHEDULE_ATTR in study.user_attrs:
            return
        last = self.pbt.generations - 1
        found = members(trials, last)
        if len(found) < self.pbt.population or any(
                t.state in (TrialState.WAITING, TrialState.RUNNING) for t in found.values()):
            return
        winner = best_trial(study)  # the best of the last generation (the first of equals)
        if winner is None:
            log.warning("stage %s: no member of the last generation completed; no schedule "
                        "(see the trials' reasons: tuner show)", self.stage.name)
            return
        plan = decide.schedule(decide.lineage(trials, winner), self.pbt.interval)
        study.set_user_attr(SCHEDULE_ATTR, plan)
        self._clean(trials, self.pbt.generations - 2)  # the last generation's stay
        log.info("stage %s: member %s wins (trial %d); its schedule: %s", self.stage.name,
                 winner.user_attrs.get(decide.MEMBER), winner.number, schedule_text(plan))


def schedule_text(plan: Sequence[Mapping[str, Any]]) -> str:
    """One line: "steps 1-: lr=0.05; steps 5-: lr=0.04, ..." (the params that change)."""
    parts, before = [], None
    for entry in plan:
        changed = {k: v for k, v in entry["params"].items()
                   if before is None or before.get(k) != v}
        before = entry["params"]
        if changed:
            shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in changed.items())
            parts.append(f"from step {entry['step']}: {shown}")
    return "; ".join(parts)


def _ranked(study: optuna.Study) -> list[FrozenTrial]:
    """An earlier stage's completed trials, best first (the first of equals)."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.value is not None]
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return sorted(complete, key=lambda t: (sign * float(t.value or 0.0), t.number))

