"""PBT's decisions (search/pbt.py): the bottom quantile copies a top member and explores its
mutable params inside the space; the rest go on unchanged; the same inputs give the same plan
(any worker plans the same); a lineage reads back as the schedule in force at each step."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from tuner.search.pbt import (
    Result,
    explore,
    first_generation,
    lineage,
    next_generation,
    params_at,
    schedule,
)
from tuner.spec.model import ParamSpace
from tuner.spec.pbt import Pbt

SPACE = (ParamSpace("lr", "float", 1e-3, 1.0, log=True),
         ParamSpace("wd", "float", 0.0, 0.1, step=0.01),
         ParamSpace("width", "int", 8, 64),
         ParamSpace("opt", "categorical", choices=("sgd", "adam")))
PBT = Pbt(population=8, interval=2, generations=3, mutable=("lr", "wd", "width", "opt"))


def _results(values: list[float | None]) -> list[Result]:
    return [Result(m, 100 + m, {"lr": 0.1 * (m + 1) / 8, "wd": 0.05, "width": 16,
                                "opt": "sgd"}, v) for m, v in enumerate(values)]


def test_the_bottom_quarter_copies_a_top_quarter_member_the_rest_go_on() -> None:
    values = [0.5, 0.9, 0.1, 0.7, 0.8, 0.2, 0.6, 0.3]
    plans = next_generation(_results(values), PBT, SPACE, seed=0, generation=1, maximize=True)
    by_member = {p.member: p for p in plans}
    assert {m for m, p in by_member.items() if p.exploited} == {2, 5}  # 0.1 and 0.2
    for member in (2, 5):
        assert by_member[member].parent in (101, 104)  # the members at 0.9 and 0.8
    for member in (0, 1, 3, 4, 6, 7):
        assert by_member[member].parent == 100 + member
        assert by_member[member].params == _results(values)[member].params
    flipped = next_generation(_results(values), PBT, SPACE, 0, 1, maximize=False)
    assert {p.member for p in flipped if p.exploited} == {1, 4}  # minimizing: 0.9, 0.8 worst


def test_a_member_without_a_value_always_exploits() -> None:
    """Failed members rank last (they fill the bottom quarter, and exploit even beyond it)."""
    values = [0.5, None, 0.1, 0.7, None, 0.2, 0.6, None]
    plans = next_generation(_results(values), PBT, SPACE, 0, 1, maximize=True)
    assert {p.member for p in plans if p.exploited} == {1, 4, 7}
    assert all(p.parent in (103, 106) for p in plans if p.exploited)
    with pytest.raises(ValueError):
        next_generation(_results([None] * 8), PBT, SPACE, 0, 1, maximize=True)


def test_the_plan_is_a_function_of_the_seed_and_generation() -> None:
    results = _results([0.5, 0.9, 0.1, 0.7, 0.8, 0.2, 0.6, 0.3])
    assert next_generation(results, PBT, SPACE, 7, 2, True) == \
        next_generation(results, PBT, SPACE, 7, 2, True)
    plans = {tuple(str(p.params) for p in next_generation(results, PBT, SPACE, 7, g, True))
             for g in range(1, 6)}
    assert len(plans) > 1


def test_explore_keeps_every_param_inside_its_range_and_kind() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    wide = Pbt(mutable=("lr", "wd", "width", "opt"), perturb=(0.01, 100.0), resample=0.5)
    start = {"lr": 0.5, "wd": 0.05, "width": 32, "opt": "sgd", "fixed": 3}
    seen = set()
    for _ in range(200):
        out = explore(start, wide, SPACE, rng)
        assert 1e-3 <= out["lr"] <= 1.0 and 0.0 <= out["wd"] <= 0.1
        assert round(out["wd"] / 0.01, 6) == round(out["wd"] / 0.01)  # on its step grid
        assert isinstance(out["width"], int) and 8 <= out["width"] <= 64
        assert out["opt"] in ("sgd", "adam") and out["fixed"] == 3
        seen.add(out["opt"])
    assert seen == {"sgd", "adam"}
    only_lr = explore(start, Pbt(mutable=("lr",), perturb=(1.25,), resample=0.0), SPACE, rng)
    assert only_lr == {**start, "lr": 0.625}


def test_the_first_generation_is_drawn_with_the_seeded_members_first() -> None:
    sampler = optuna.samplers.QMCSampler(seed=0, warn_asynchronous_seeding=False)
    plans = first_generation(SPACE, sampler, PBT, seeded=[{"lr": 0.3}])
    assert len(plans) == 8 and plans[0].params["lr"] == 0.3
    assert all(p.parent is None for p in plans)
    again = first_generation(SPACE, optuna.samplers.QMCSampler(
        seed=0, warn_asynchronous_seeding=False), PBT, seeded=[{"lr": 0.3}])
    assert [p.params for p in again] == [p.params for p in plans]


def test_a_lineage_reads_back_as_the_schedule_in_force_at_each_step() -> None:
    dist = {"lr": FloatDistribution(1e-3, 1.0)}

    def trial(number: int, lr: float, parent: int | None, exploited: bool
              ) -> optuna.trial.FrozenTrial:
        t = create_trial(state=TrialState.COMPLETE, value=0.5, params={"lr": lr},
                         distributions=dist, user_attrs={"member": number % 2,
                                                         "parent_trial": parent,
                                                         "exploited": exploited})
        t.number = number
        return t

    trials = [trial(0, 0.1, None, False), trial(1, 0.2, None, False),
              trial(2, 0.1, 0, False), trial(3, 0.25, 0, True), trial(4, 0.3, 3, True)]
    chain = lineage(trials, trials[4])
    assert [t.number for t in chain] == [0, 3, 4]
    plan = schedule(chain, interval=2)
    assert [e["step"] for e in plan] == [1, 3, 5]
    assert [params_at(plan, s)["lr"] for s in range(1, 7)] == [0.1, 0.1, 0.25, 0.25, 0.3, 0.3]
