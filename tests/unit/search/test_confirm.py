"""Confirmation's pure rules: candidates by the pick rule (one per configuration), paired racing
on shared seeds, who is evaluated next, and when the race is decided."""

from __future__ import annotations

import pytest

from tuner.search.confirm import (
    Next,
    Ranked,
    Standing,
    choose,
    complete_rounds,
    next_repeat,
    standings,
)
from tuner.spec.model import Condition, Pick


def _ranked(key: str, value: float, x: float, stage: str = "fine") -> Ranked:
    return Ranked(key, stage, {"epochs": 3}, {"x": x}, value)


def test_candidates_are_the_rules_best_configurations_each_once() -> None:
    trials = [_ranked("coarse:0", 0.70, 1.0, "coarse"), _ranked("coarse:1", 0.90, 2.0, "coarse"),
              _ranked("fine:0", 0.95, 2.0), _ranked("fine:1", 0.80, 3.0),
              _ranked("fine:2", 0.85, 4.0)]
    chosen = choose(trials, Pick("val_accuracy", "maximize"), top_k=3)
    # x=2.0 ran in coarse and fine with the same fixed params: one candidate, both trials
    assert [c.key for c in chosen] == ["coarse:1", "fine:2", "fine:1"]
    assert chosen[0].trials == ("coarse:1", "fine:0") and chosen[0].params == {"x": 2.0}
    lowest = choose(trials, Pick("val_loss", "minimize", (Condition("seconds", "<=", 5),)), 2)
    assert [c.key for c in lowest] == ["coarse:0", "fine:1"]


def test_a_candidate_clearly_worse_on_shared_seeds_leaves_the_race() -> None:
    """b trails a by 0.02 on every shared seed while the seeds move both by 0.1: paired, b is
    clearly worse; c is as good as a on seeds 0 and 1 (noise), and stays."""
    evaluations = {"a": {0: 0.90, 1: 0.80, 2: 0.85}, "b": {0: 0.88, 1: 0.78, 2: 0.83},
                   "c": {0: 0.91, 1: 0.79}}
    table = standings(evaluations, "maximize")
    by_key = {s.key: s for s in table}
    assert by_key["a"].racing and by_key["c"].racing and not by_key["b"].racing
    assert table[0].key in ("a", "c") and table[-1].key == "b"
    assert by_key["a"].n == 3 and by_key["a"].mean == pytest.approx(0.85)
    assert by_key["a"].stderr is not None and by_key["a"].stderr > 0


def test_unpaired_noise_alone_removes_nobody_and_one_value_is_never_judged() -> None:
    assert all(s.racing for s in standings({"a": {0: 0.9}, "b": {0: 0.1}}, "maximize"))
    noisy = {"a": {0: 0.9, 1: 0.7}, "b": {0: 0.7, 1: 0.9}}  # no consistent difference
    assert all(s.racing for s in standings(noisy, "maximize"))


def test_minimized_metrics_rank_the_lowest_first() -> None:
    table = standings({"a": {0: 0.5, 1: 0.6}, "b": {0: 0.3, 1: 0.4}}, "minimize")
    assert [s.key for s in table] == ["b", "a"]


def test_a_round_is_complete_when_every_candidate_racing_into_it_has_ended_it() -> None:
    def racing(rounds: int) -> list[str]:  # c leaves the race after round 1
        return ["a", "b", "c"] if rounds == 0 else ["a", "b"]

    assert complete_rounds({"a": {1, 2}, "b": {1}, "c": {1}}, racing) == 1
    assert complete_rounds({"a": {1, 2}, "b": {1, 2}, "c": {1}}, racing) == 2
    assert complete_rounds({"a": {1}, "b": {1}}, racing) == 0  # c's repeat 1 still runs
    assert complete_rounds({"a": {1}}, racing) == 0  # not a round: b and c have none yet


def test_each_round_goes_to_the_racing_candidates_best_first_then_waits() -> None:
    table = [Standing("a", 0.9, None, 1, True), Standing("b", 0.8, None, 1, True),
             Standing("c", 0.7, None, 2, False)]
    assert next_repeat(table, {}, 0) == Next("run", "a", 1)
    assert next_repeat(table, {"a": {1}}, 0) == Next("run", "b", 1)
    assert next_repeat(table, {"a": {1}, "b": {1}, "c": {1}}, 0) == Next("wait")
    assert next_repeat(table, {"a": {1}, "b": {1}, "c": {1}}, 1) == Next("run", "a", 2)
    assert next_repeat(table, {"a": {1, 2}, "b": {1}, "c": {1}}, 1) == Next("run", "b", 2)


def test_the_race_is_decided_when_only_the_leader_is_left_after_a_round() -> None:
    table = [Standing("a", 0.9, 0.01, 3, True), Standing("b", 0.8, 0.01, 2, False)]
    assert next_repeat(table, {"a": {1}, "b": {1}}, 1) == Next("decided")
    assert next_repeat(table, {}, 0) == Next("run", "a", 1)  # no round yet: not decided


def test_repeats_that_change_nothing_decide_the_race_after_one_round() -> None:
    """A deterministic objective: every repeat equals its search value, so a second round
    would only say the same again; the best is the answer."""
    same = standings({"a": {0: 0.9, 1: 0.9}, "b": {0: 0.8, 1: 0.8}, "c": {0: 0.7, 1: 0.7}},
                     "maximize")
    assert [(s.key, s.stderr, s.racing) for s in same] == [
        ("a", 0.0, True), ("b", 0.0, True), ("c", 0.0, True)]
    assert next_repeat(same, {k: {1} for k in "abc"}, 1) == Next("decided")
    noisy = standings({"a": {0: 0.9, 1: 0.7}, "b": {0: 0.8, 1: 0.85}, "c": {0: 0.75, 1: 0.8}},
                      "maximize")
    assert all(s.racing for s in noisy)
    assert next_repeat(noisy, {k: {1} for k in "abc"}, 1) == Next("run", "b", 2)
    one_value = [*same[:2], Standing("c", 0.7, 0.0, 1, True)]  # c's repeat had no metric
    assert next_repeat(one_value, {k: {1} for k in "abc"}, 1) == Next("run", "a", 2)


def test_a_race_every_candidate_left_is_decided_not_waited_on() -> None:
    """Every round-1 repeat diverged or failed: nobody is racing, nothing is left to hand out."""
    out = [Standing("a", 0.9, None, 1, False), Standing("b", 0.8, None, 1, False)]
    assert next_repeat(out, {"a": {1}, "b": {1}}, 1) == Next("decided")
