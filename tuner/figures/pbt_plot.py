"""A PBT stage's population: each member's metric and each mutable param against the reporting
step, one colour per member, a cross where a member copied another (exploit), the winning
member's schedule drawn thick."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure
from optuna.trial import FrozenTrial, TrialState

MEMBER_COLOURS = 10
"""Matplotlib's C0..C9 cycle; members beyond reuse them."""


def population_size(mutable: Sequence[str]) -> tuple[float, float]:
    return (7.0, 2.6 * (1 + len(mutable)))


def population(fig: Figure, trials: Sequence[FrozenTrial], metric: str,
               mutable: Sequence[str], interval: int,
               schedule: Sequence[Mapping[str, Any]] | None) -> None:
    """The members' `metric` (each generation's own steps) and mutable params per step."""
    axes = fig.subplots(1 + len(mutable), 1, sharex=True, squeeze=False)[:, 0]
    winners = {entry["trial"] for entry in schedule or ()}
    done = [t for t in trials if t.state == TrialState.COMPLETE and "member" in t.user_attrs]
    for t in sorted(done, key=lambda t: t.number):
        generation = int(t.user_attrs.get("generation", 0))
        first = generation * interval + 1
        colour = f"C{int(t.user_attrs['member']) % MEMBER_COLOURS}"
        width = 2.5 if t.number in winners else 1.0
        start = max(first - 1, 1)  # from the parent's last step: the lineage is one line
        points = sorted((s, v) for s, v in t.intermediate_values.items() if s >= start)
        if points:
            axes[0].plot([s for s, _ in points], [v for _, v in points], color=colour,
                         linewidth=width)
            if t.user_attrs.get("exploited"):
                axes[0].scatter([points[0][0]], [points[0][1]], marker="x", color=colour,
                                zorder=3)
        steps = [start, (generation + 1) * interval]
        for ax, name in zip(axes[1:], mutable, strict=True):
            if name in t.params:
                ax.plot(steps, [t.params[name]] * 2, color=colour, linewidth=width)
    axes[0].set_ylabel(metric)
    axes[0].set_title("population (x: copied a top member; thick: the schedule)")
    for ax, name in zip(axes[1:], mutable, strict=True):
        ax.set_ylabel(name)
        values = [t.params[name] for t in done if isinstance(t.params.get(name), float)]
        if values and min(values) > 0 and max(values) / min(values) > 20:
            ax.set_yscale("log")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("step")
