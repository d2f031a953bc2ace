"""The contour plot: for each pair of (up to three) params, the trials on the pair's plane
coloured by their value, over a filled contour interpolated between them where they span an
area."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.tri import Triangulation
from optuna.trial import FrozenTrial

from tuner.figures.plot_axes import Objective, ParamAxis

LEVELS = 12


def contour_size(params: int) -> tuple[float, float]:
    panels = len(list(combinations(range(params), 2)))
    return 1.4 + 4.0 * panels, 4.4


def contour(fig: Figure, trials: Sequence[FrozenTrial], params: Sequence[ParamAxis],
            objective: Objective) -> None:
    """One panel per pair of `params`, on one colour scale (the better end brighter)."""
    pairs = list(combinations(params, 2))
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    values = objective.values(trials)
    norm = Normalize(float(values.min()), float(values.max()))
    for ax, (px, py) in zip(axes, pairs, strict=True):
        x, y = px.positions(trials), py.positions(trials)
        both = np.isfinite(x) & np.isfinite(y)
        fill(ax, x[both], y[both], values[both], objective.cmap, norm)
        ax.scatter(x[both], y[both], c=values[both], cmap=objective.cmap, norm=norm, s=20,
                   edgecolors="black", linewidths=0.5, zorder=3)
        px.decorate(ax, "x", x[both])
        py.decorate(ax, "y", y[both])
    fig.suptitle("contour")
    fig.colorbar(ScalarMappable(norm, objective.cmap), ax=axes, label=objective.label, shrink=0.9)


def fill(ax: Axes, x: np.ndarray, y: np.ndarray, z: np.ndarray, cmap: str, norm: Normalize
         ) -> bool:
    """A filled contour of z over the convex hull of the (x, y) points, linear between them
    (trials at the same point averaged); False, and nothing drawn, with fewer than 4 distinct
    points, collinear ones or one value."""
    points, inverse = np.unique(np.column_stack([x, y]), axis=0, return_inverse=True)
    if len(points) < 4:
        return False
    inverse = inverse.ravel()
    mean = np.bincount(inverse, weights=z) / np.bincount(inverse)
    span = np.ptp(points, axis=0)
    if not span.all() or np.ptp(mean) == 0 or norm.vmin is None or norm.vmax is None:
        return False
    # Triangulated on the unit square: a log10 axis and a categorical index are on other scales.
    unit = (points - points.min(axis=0)) / span
    if np.linalg.matrix_rank(unit - unit.mean(axis=0), tol=1e-9) < 2:
        return False
    triangles = Triangulation(unit[:, 0], unit[:, 1]).triangles
    ax.tricontourf(Triangulation(points[:, 0], points[:, 1], triangles), mean,
                   levels=np.linspace(norm.vmin, norm.vmax, LEVELS), cmap=cmap, norm=norm,
                   alpha=0.75)
    return True
