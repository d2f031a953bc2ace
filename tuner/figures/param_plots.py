"""The plots of params against the objective: slice (one panel per param), parallel coordinate
(one vertical axis per param, one line per trial) and param importances (bars)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from optuna.trial import FrozenTrial

from tuner.figures.plot_axes import Objective, ParamAxis

SLICE_COLUMNS = 3


def slice_size(params: int) -> tuple[float, float]:
    columns = min(params, SLICE_COLUMNS)
    return 1.2 + 3.2 * columns, 0.4 + 3.0 * math.ceil(params / columns)


def slice_plot(fig: Figure, trials: Sequence[FrozenTrial], params: Sequence[ParamAxis],
               objective: Objective) -> None:
    """The objective against each param, one panel each, points coloured by trial number."""
    columns = min(len(params), SLICE_COLUMNS)
    axes = fig.subplots(math.ceil(len(params) / columns), columns, squeeze=False, sharey=True)
    values = objective.values(trials)
    numbers = np.array([t.number for t in trials], dtype=float)
    norm = Normalize(numbers.min(), numbers.max())
    for ax, param in zip(axes.flat, params, strict=False):
        x = param.positions(trials)
        has = np.isfinite(x)
        ax.scatter(x[has], values[has], c=numbers[has], cmap="Blues", norm=norm, s=16,
                            edgecolors="grey", linewidths=0.4)
        param.decorate(ax, "x", x)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(params):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel(objective.label)
    fig.suptitle("slice")
    fig.colorbar(ScalarMappable(norm, "Blues"), ax=axes, label="trial", shrink=0.8)


def parallel_size(params: int) -> tuple[float, float]:
    return max(6.4, 1.5 + 1.5 * (params + 1)), 4.8


def parallel_coordinate(fig: Figure, trials: Sequence[FrozenTrial],
                        params: Sequence[ParamAxis], objective: Objective) -> None:
    """One vertical axis for the objective and one per param, each scaled to its range and
    labelled in its own values; one line per trial, coloured by its value, the best on top."""
    ax = fig.subplots()
    values = objective.values(trials)
    columns = [ParamAxis(objective.name), *params]
    scaled = []
    for i, column in enumerate(columns):
        positions = values if i == 0 else column.positions(trials)
        low, high = column.limits(positions)
        scaled.append((positions - low) / (high - low))
        for position, text in column.ticks(low, high):
            ax.text(i - 0.03, (position - low) / (high - low), text, ha="right", va="center",
                    fontsize=7, zorder=4, bbox={"facecolor": "white", "edgecolor": "none",
                                                "alpha": 0.8, "pad": 0.5})
        ax.axvline(i, color="black", linewidth=0.8)
    ys = np.column_stack(scaled)
    order = np.argsort(values if objective.maximize else -values)  # the best drawn last
    lines = LineCollection([np.column_stack([np.arange(len(columns)), ys[k]]) for k in order],
                           array=values[order], cmap=objective.cmap, linewidths=1, alpha=0.8)
    ax.add_collection(lines)
    ax.set_xlim(-0.45, len(columns) - 0.85)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xticks(range(len(columns)), [c.label for c in columns])
    ax.set_yticks([])
    ax.set_title("parallel coordinate")
    fig.colorbar(lines, ax=ax, label=objective.label)


def importances_size(params: int) -> tuple[float, float]:
    return 6.4, max(2.4, 1.2 + 0.4 * params)


def param_importances(fig: Figure, importances: Mapping[str, float], objective: Objective
                      ) -> None:
    """Each param's importance for the objective, the most important on top."""
    ax = fig.subplots()
    names = list(importances)[::-1]
    shares = [importances[name] for name in names]
    bars = ax.barh(names, shares, color="C0")
    ax.bar_label(bars, fmt="%.2f", padding=3, fontsize=8)
    ax.set_xlim(0, 1.15 * max(max(shares), 1e-12))
    ax.set_xlabel(f"importance for {objective.name}")
    ax.set_title("param importances")
    ax.grid(axis="x", alpha=0.3)
