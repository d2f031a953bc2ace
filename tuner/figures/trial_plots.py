"""The plots along trials and steps: the optimization history (each complete trial's value and
the best so far) and the intermediate values (each trial's learning curve, by how it ended)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from optuna.trial import FrozenTrial, TrialState

from tuner.figures.plot_axes import Objective

CURVE_STATES = {TrialState.COMPLETE: "C0", TrialState.PRUNED: "C1", TrialState.RUNNING: "C2"}
"""The trials whose curves are drawn, and their colours."""


def optimization_history(fig: Figure, trials: Sequence[FrozenTrial], objective: Objective
                         ) -> None:
    """Each complete trial's value against its number, and the best value so far."""
    ax = fig.subplots()
    numbers = np.array([t.number for t in trials])
    values = objective.values(trials)
    best = (np.fmax if objective.maximize else np.fmin).accumulate(values)
    ax.scatter(numbers, values, s=16, color="C0", label=objective.name, zorder=3)
    ax.step(numbers, best, where="post", color="C3", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(objective.label)
    ax.set_title("optimization history")
    ax.grid(alpha=0.3)
    ax.legend()


def has_curves(trials: Sequence[FrozenTrial]) -> bool:
    return any(t.intermediate_values and t.state in CURVE_STATES for t in trials)


def intermediate_values(fig: Figure, trials: Sequence[FrozenTrial], metric: str) -> None:
    """Each complete, pruned or running trial's reported values against the step, coloured by
    its state; a dot marks the last report (where a pruned trial stopped)."""
    ax = fig.subplots()
    for state, color in CURVE_STATES.items():
        curves = [np.array(sorted(t.intermediate_values.items()), dtype=float)
                  for t in trials if t.state == state and t.intermediate_values]
        if not curves:
            continue
        ax.add_collection(LineCollection(curves, colors=color, linewidths=1, alpha=0.6))
        ends = np.array([curve[-1] for curve in curves])
        ax.scatter(ends[:, 0], ends[:, 1], s=10, color=color, zorder=3,
                   label=f"{state.name.lower()} ({len(curves)})")
    ax.autoscale_view()
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title("intermediate values")
    ax.grid(alpha=0.3)
    ax.legend()
