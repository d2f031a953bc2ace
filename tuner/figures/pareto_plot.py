"""The Pareto front plot of a multi-objective stage: every complete trial by its objective values,
the front highlighted. Two objectives: one panel, the front joined by a line; more: one panel per
pair of objectives (a front trial may look dominated on a pair's plane)."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from itertools import combinations

import numpy as np
from matplotlib.figure import Figure
from optuna.trial import FrozenTrial

from tuner.figures.plot_axes import Objective

COLUMNS = 3


def pareto_size(objectives: int) -> tuple[float, float]:
    panels = len(list(combinations(range(objectives), 2)))
    if panels == 1:
        return 6.4, 4.8
    columns = min(panels, COLUMNS)
    return 0.4 + 4.0 * columns, 0.6 + 3.6 * math.ceil(panels / columns)


def pareto_front(fig: Figure, trials: Sequence[FrozenTrial], on_front: Collection[int],
                 objectives: Sequence[Objective]) -> None:
    """`trials` (the complete ones) by each pair of `objectives`; `on_front`: the numbers of the
    Pareto-optimal trials."""
    pairs = list(combinations(objectives, 2))
    columns = min(len(pairs), COLUMNS)
    axes = fig.subplots(math.ceil(len(pairs) / columns), columns, squeeze=False)
    best = np.array([t.number in on_front for t in trials], dtype=bool)
    for ax, (a, b) in zip(axes.flat, pairs, strict=False):
        x, y = a.values(trials), b.values(trials)
        ax.scatter(x[~best], y[~best], s=16, color="#9ecae1", edgecolors="#4a7fb0",
                   linewidths=0.4, label=f"trial ({int((~best).sum())})")
        if len(pairs) == 1 and best.sum() > 1:
            order = np.argsort(x[best])
            ax.plot(x[best][order], y[best][order], color="C3", linewidth=1, alpha=0.6)
        ax.scatter(x[best], y[best], s=30, color="C3", edgecolors="black", linewidths=0.5,
                   zorder=3, label=f"Pareto front ({int(best.sum())})")
        ax.set_xlabel(a.label)
        ax.set_ylabel(b.label)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(pairs):]:
        ax.set_visible(False)
    axes.flat[0].legend()
    fig.suptitle("Pareto front")
