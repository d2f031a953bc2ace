"""How a stage's trials land on plot axes: an objective (its values, name, and which end is
better) and a param (its position: log10 of a log-distributed number, the index of a categorical
choice, else the number itself; ticks labelled in the param's own values)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from matplotlib.axes import Axes
from matplotlib.ticker import FixedFormatter, FixedLocator, LogLocator, MaxNLocator
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial

from tuner.search.trials import objective_names


@dataclass(frozen=True)
class Objective:
    """One of the study's objectives, as plotted."""

    name: str
    index: int
    maximize: bool

    @property
    def label(self) -> str:
        return f"{self.name} ({'maximize' if self.maximize else 'minimize'})"

    @property
    def cmap(self) -> str:
        """The colour map in which the better end is the brighter one."""
        return "viridis" if self.maximize else "viridis_r"

    def values(self, trials: Sequence[FrozenTrial]) -> np.ndarray:
        """This objective's value of each (complete) trial."""
        return np.array([t.values[self.index] for t in trials], dtype=float)


def objectives(study: optuna.Study) -> list[Objective]:
    """The study's objectives, named by its metric names."""
    return [Objective(name, i, direction == optuna.study.StudyDirection.MAXIMIZE)
            for i, (name, direction) in enumerate(zip(objective_names(study), study.directions,
                                                      strict=True))]


@dataclass(frozen=True)
class ParamAxis:
    """One param on a plot axis."""

    name: str
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] = ()
    """A categorical param's choices, in the order of its distribution (empty otherwise)."""

    @classmethod
    def of(cls, name: str, trials: Sequence[FrozenTrial]) -> ParamAxis:
        """The axis of param `name` from its distribution in the last of `trials` that has it;
        a categorical value outside those choices (the space changed) gets a tick of its own."""
        having = [t for t in trials if name in t.distributions]
        if not having:
            raise ValueError(f"no trial has param '{name}'")
        dist = having[-1].distributions[name]
        if isinstance(dist, CategoricalDistribution):
            choices = list(dist.choices)
            choices += [v for v in dict.fromkeys(t.params[name] for t in having)
                        if v not in choices]
            return cls(name, choices=tuple(choices))
        return cls(name, log=bool(getattr(dist, "log", False)),
                   integer=isinstance(dist, optuna.distributions.IntDistribution))

    @property
    def label(self) -> str:
        return f"{self.name} (log)" if self.log else self.name

    def position(self, value: Any) -> float:
        if self.choices:
            return float(self.choices.index(value))
        number = float(value)
        return math.log10(number) if self.log and number > 0 else number

    def positions(self, trials: Sequence[FrozenTrial]) -> np.ndarray:
        """Each trial's position on this axis; NaN where the trial lacks the param."""
        return np.array([self.position(t.params[self.name]) if self.name in t.params
                         else math.nan for t in trials], dtype=float)

    def limits(self, positions: np.ndarray) -> tuple[float, float]:
        """Every choice of a categorical param; the positions' range plus 5 % otherwise."""
        if self.choices:
            return -0.5, len(self.choices) - 0.5
        finite = positions[np.isfinite(positions)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        pad = 0.05 * (high - low) or 0.5 * (abs(low) or 1.0)
        return low - pad, high + pad

    def ticks(self, low: float, high: float) -> list[tuple[float, str]]:
        """(position, label) of the ticks within [low, high], labelled in the param's values."""
        if self.choices:
            return [(float(i), str(c)) for i, c in enumerate(self.choices)]
        if self.log:
            for subs in ((1.0,), (1.0, 2.0, 5.0)):
                values = LogLocator(subs=subs).tick_values(10**low, 10**high)
                inside = [math.log10(v) for v in values if low <= math.log10(v) <= high]
                if len(inside) >= 2:
                    return [(p, f"{10**p:.3g}") for p in inside]
            return [(p, f"{10**p:.3g}") for p in MaxNLocator(4).tick_values(low, high)
                    if low <= p <= high]
        locator = MaxNLocator(5, integer=self.integer)
        fmt = "{:.0f}" if self.integer else "{:.3g}"
        return [(p, fmt.format(p)) for p in locator.tick_values(low, high) if low <= p <= high]

    def decorate(self, ax: Axes, which: str, positions: np.ndarray) -> None:
        """Limits, ticks and label of `ax`'s x or y axis (`which`) for this param."""
        low, high = self.limits(positions)
        ticks = self.ticks(low, high)
        axis = ax.xaxis if which == "x" else ax.yaxis
        (ax.set_xlim if which == "x" else ax.set_ylim)(low, high)
        axis.set_major_locator(FixedLocator([p for p, _ in ticks]))
        axis.set_major_formatter(FixedFormatter([label for _, label in ticks]))
        axis.set_label_text(self.label)
