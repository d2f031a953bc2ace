"""Confirmation, the pure part: which configurations are candidates, how they stand after their
evaluations, which one is evaluated next, and which one is the answer.

One validation score is one noisy measurement: the best of many is partly the luckiest. The
confirm stage (engine/confirm.py) trains the `top_k` candidates of the pick rule again with
other training seeds, racing them as SMAC's intensification does: the candidates share their
seeds, and a candidate that is clearly worse than the leader on the seeds both have (by more
than Z standard errors of the mean paired difference) gets no more evaluations; the budget goes
to those still in the race. The answer is the best of those on the seeds they share. An
objective that trains the same on every seed (not one value differs after a round) decides the
race at once: more repeats would only say the same again.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tuner.search.pick import signed
from tuner.spec.model import Pick

IDENTITY = ("candidate", "repeat")
"""The user attrs that say which evaluation a confirm trial is (its candidate's key and its
repeat); a trial continued from a checkpoint keeps them."""
Z = 2.0
"""Standard errors of the difference by which a candidate trails the leader to leave the race."""


@dataclass(frozen=True)
class Candidate:
    """A configuration the confirm stage evaluates again: `key` names its first search trial
    ("fine:7"); `trials` every search trial that ran the same configuration."""

    key: str
    stage: str
    params: Mapping[str, Any]
    trials: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "stage": self.stage, "params": dict(self.params),
                "trials": list(self.trials)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        return cls(data["key"], data["stage"], dict(data["params"]), tuple(data["trials"]))


@dataclass(frozen=True)
class Ranked:
    """A search trial as candidates are chosen from: its key, stage, the fixed params of its
    stage, its params and its value on the pick rule's metric."""

    key: str
    stage: str
    fixed: Mapping[str, Any]
    params: Mapping[str, Any]
    value: float


@dataclass(frozen=True)
class Standing:
    """A candidate after its evaluations: their mean, the standard error of the mean (the
    noise pooled over all candidates), how many, and whether it is still in the race."""

    key: str
    mean: float
    stderr: float | None
    n: int
    racing: bool


def choose(trials: Sequence[Ranked], rule: Pick, top_k: int) -> list[Candidate]:
    """The `top_k` best configurations by the rule (best first); trials that ran the same
    configuration (the same fixed and sampled params) are one candidate."""
    groups: dict[str, list[Ranked]] = {}
    for t in trials:
        groups.setdefault(json.dumps([dict(t.fixed), dict(t.params)], sort_keys=True,
                                     default=str), []).append(t)
    best = sorted(groups.values(), key=lambda g: -max(signed(t.value, rule.direction)
                                                      for t in g))[:top_k]
    return [Candidate(g[0].key, g[0].stage, dict(g[0].params), tuple(t.key for t in g))
            for g in best]


Evaluations = Mapping[str, Mapping[int, float]]
"""Per candidate, its values by seed index: 0 for the search (every search trial trains with
the study's seed), r for its repeat r (seed + r). Candidates share their seeds, so they are
compared on the seeds they have in common (paired, as SMAC compares on the same instances)."""


def standings(evaluations: Evaluations, direction: str) -> list[Standing]:
    """Every candidate's standing, the racing ones first (best first on the seeds they share),
    then those out of the race. A candidate leaves the race when, over the seeds it shares
    with the leader (two or more), it trails by more than Z standard errors of the mean paired
    difference (the differences' spread pooled over every challenger)."""
    values = {k: dict(v) for k, v in evaluations.items() if v}
    racing = list(values)
    while True:
        common = set.intersection(*(set(values[k]) for k in racing)) if racing else set()
        order = sorted(racing, key=lambda k: -signed(_mean(values[k], common), direction))
        if not order:
            return []
        leader = order[0]
        out = _trailing(values, order, leader, direction)
        if not out:
            break
        racing = [k for k in racing if k not in out]
    spread = _pooled_sd([list(v.values()) for v in values.values()])
    dropped = sorted((k for k in values if k not in racing),
                     key=lambda k: -signed(_mean(values[k]), direction))
    return [Standing(k, _mean(values[k]), None if spread is None else
                     spread / math.sqrt(len(values[k])), len(values[k]), k in racing)
            for k in [*order, *dropped]]


def _mean(values: Mapping[int, float], on: set[int] | None = None) -> float:
    chosen = [v for i, v in values.items() if on is None or i in on] or list(values.values())
    return sum(chosen) / len(chosen)


def _trailing(values: Mapping[str, Mapping[int, float]], order: Sequence[str], leader: str,
              direction: str) -> set[str]:
    """The challengers clearly worse than the leader on the seeds each shares with it."""
    diffs = {}
    for key in order[1:]:
        shared = sorted(set(values[key]) & set(values[leader]))
        if len(shared) >= 2:
            diffs[key] = [signed(values[leader][i], direction)
                          - signed(values[key][i], direction) for i in shared]
    spread = _pooled_sd(list(diffs.values()))
    if not spread:
        return set()
    return {key for key, d in diffs.items()
            if sum(d) / len(d) > Z * spread / math.sqrt(len(d))}


def _pooled_sd(groups: Sequence[Sequence[float]]) -> float | None:
    """The spread of one value around its group's mean, pooled over every group of two or more
    (None before any has two)."""
    squares = df = 0.0
    for group in groups:
        if len(group) >= 2:
            mean = sum(group) / len(group)
            squares += sum((v - mean) ** 2 for v in group)
            df += len(group) - 1
    return math.sqrt(squares / df) if df else None


def complete_rounds(finished: Mapping[str, set[int]],
                    racing_after: Callable[[int], Sequence[str]]) -> int:
    """How many rounds are complete: round r is when every candidate still racing after round
    r - 1 (`racing_after(r - 1)`) has its repeat r finished. The race is judged on complete
    rounds only, so it decides the same whatever the order in which workers finish (or are
    killed and retried)."""
    rounds = 0
    while True:
        racing = racing_after(rounds)
        if not racing or any(rounds + 1 not in finished.get(k, set()) for k in racing):
            return rounds
        rounds += 1


@dataclass(frozen=True)
class Next:
    """What the confirm stage does next: run `key`'s repeat `repeat`, wait for the round to
    complete, or end (decided)."""

    action: str  # "run", "wait" or "decided"
    key: str = ""
    repeat: int = 0


def next_repeat(table: Sequence[Standing], assigned: Mapping[str, set[int]],
                rounds: int) -> Next:
    """After `rounds` complete rounds, standing as `table` says: decided when no candidate is
    left in the race (every one diverged or failed), when only the leader is, or when the
    repeats show no noise at all (every racing candidate has two values or more, all alike);
    the last two only once a round is complete. Else round rounds + 1 for the racing
    candidates, best first; wait while that round is handed out."""
    racing = [s.key for s in table if s.racing]
    noiseless = all(s.n >= 2 and s.stderr == 0 for s in table if s.racing)
    if not racing or rounds >= 1 and (len(racing) == 1 or noiseless):
        return Next("decided")
    for key in racing:
        if rounds + 1 not in assigned.get(key, set()):
            return Next("run", key, rounds + 1)
    return Next("wait")
