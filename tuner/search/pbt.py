"""Population Based Training's decisions, as pure functions of a generation's results and the
seed: the first generation drawn from the space, exploit (the bottom members take a top
member's checkpoint and params), explore (mutable params perturbed or redrawn), and a member's
lineage as a schedule. tuner/engine/pbt.py stores and runs them.

Every generation's plan depends only on the previous generation's values and the study seed
(NumPy's generator seeded with [seed, generation]), so any worker that plans it plans the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial

from tuner.search.space import suggest
from tuner.spec.model import SEED_LIMIT, ParamSpace
from tuner.spec.pbt import Pbt

MEMBER = "member"
GENERATION = "generation"
PARENT = "parent_trial"
PARENT_STEP = "parent_step"
EXPLOITED = "exploited"
MEMBER_ATTRS = (MEMBER, GENERATION, PARENT, PARENT_STEP, EXPLOITED)


def member_seed(seed: int, attrs: Mapping[str, Any]) -> int:
    """The training seed of the member a trial's user attrs name: the study seed + member."""
    return (seed + int(attrs.get(MEMBER, 0))) % SEED_LIMIT


@dataclass(frozen=True)
class Result:
    """One member's generation as it ended: its trial, params and value (None: it failed or
    diverged, or left no checkpoint to continue from; it then exploits a top member)."""

    member: int
    trial: int
    params: Mapping[str, Any]
    value: float | None


@dataclass(frozen=True)
class Plan:
    """A member's next generation: its params and the trial whose checkpoint it continues
    (None: from scratch, the first generation)."""

    member: int
    params: dict[str, Any]
    parent: int | None
    exploited: bool = False


def first_generation(space: Sequence[ParamSpace], sampler: optuna.samplers.BaseSampler,
                     pbt: Pbt, seeded: Sequence[Mapping[str, Any]] = ()) -> list[Plan]:
    """The population's first params, drawn by `sampler` (QMC by default) in an in-memory
    study of its own; the first members take `seeded`'s params (an earlier stage's best) over
    their draws."""
    draws = optuna.create_study(sampler=sampler)
    plans = []
    for member in range(pbt.population):
        trial = draws.ask()
        params = suggest(trial, space)
        draws.tell(trial, 0.0)
        if member < len(seeded):
            params.update(seeded[member])
        plans.append(Plan(member, params, None))
    return plans


def next_generation(results: Sequence[Result], pbt: Pbt, space: Sequence[ParamSpace],
                    seed: int, generation: int, maximize: bool) -> list[Plan]:
    """Generation `generation`'s plans from the one before (`results`, one per member): the
    bottom quantile (and every member without a value) copies a random top-quantile member,
    whose params it then explores; the others continue themselves unchanged."""
    rng = np.random.default_rng([seed, generation])
    sign = 1.0 if maximize else -1.0
    ranked = sorted(results, key=lambda r: (r.value is None,
                                           -sign * (r.value if r.value is not None else 0.0),
                                           r.member))
    cut = max(1, math.floor(pbt.quantile * len(ranked)))
    alive = [r for r in ranked if r.value is not None]
    top = alive[:cut]
    bottom = {r.member for r in ranked[-cut:]} | {r.member for r in ranked if r.value is None}
    if not top:
        raise ValueError("no member of the generation completed")
    plans = []
    for result in sorted(results, key=lambda r: r.member):
        if result.member in bottom and result not in top:
            parent = top[int(rng.integers(len(top)))]
            params = explore(parent.params, pbt, space, rng)
            plans.append(Plan(result.member, params, parent.trial, exploited=True))
        else:
            plans.append(Plan(result.member, dict(result.params), result.trial))
    return plans


def explore(params: Mapping[str, Any], pbt: Pbt, space: Sequence[ParamSpace],
            rng: np.random.Generator) -> dict[str, Any]:
    """`params` with each mutable param redrawn from its range (probability `resample`; always
    for a categorical) or multiplied by one of the `perturb` factors, kept inside its range."""
    out = dict(params)
    for param in space:
        if param.name not in pbt.mutable or param.name not in out:
            continue
        redraw = rng.random() < pbt.resample
        factor = float(pbt.perturb[int(rng.integers(len(pbt.perturb)))])
        if param.kind == "categorical":
            choices = list(param.choices or ())
            out[param.name] = choices[int(rng.integers(len(choices)))] if redraw \
                else out[param.name]
            continue
        value = _draw(param, rng) if redraw else float(out[param.name]) * factor
        out[param.name] = _inside(param, value)
    return out


def _draw(param: ParamSpace, rng: np.random.Generator) -> float:
    assert param.low is not None and param.high is not None
    if param.log:
        return float(math.exp(rng.uniform(math.log(param.low), math.log(param.high))))
    return float(rng.uniform(param.low, param.high))


def _inside(param: ParamSpace, value: float) -> Any:
    """`value` clipped to the param's range, on its step grid, an int for an int param."""
    assert param.low is not None and param.high is not None
    value = min(max(value, param.low), param.high)
    if param.step is not None:
        value = param.low + round((value - param.low) / param.step) * param.step
        value = min(value, param.high)
    if param.kind == "int":
        return int(round(value))
    return float(value)


def lineage(trials: Sequence[FrozenTrial], last: FrozenTrial) -> list[FrozenTrial]:
    """The trials a member's run went through up to `last`, first generation first (following
    each trial's parent)."""
    by_number = {t.number: t for t in trials}
    chain = [last]
    while (parent := chain[-1].user_attrs.get(PARENT)) is not None:
        chain.append(by_number[int(parent)])
    return chain[::-1]


def schedule(chain: Sequence[FrozenTrial], interval: int) -> list[dict[str, Any]]:
    """The params in force from each generation's first step: [{"step": 1, "trial": n,
    "member": m, "params": {...}}, ...] (steps count reporting points from 1)."""
    return [{"step": index * interval + 1, "trial": t.number,
             "member": t.user_attrs.get(MEMBER), "exploited": bool(t.user_attrs.get(EXPLOITED)),
             "params": dict(t.params)} for index, t in enumerate(chain)]


def params_at(plan: Sequence[Mapping[str, Any]], step: int) -> Mapping[str, Any]:
    """The params a schedule has in force at reporting step `step` (from 1)."""
    current = plan[0]["params"]
    for entry in plan:
        if entry["step"] <= step:
            current = entry["params"]
    return current
