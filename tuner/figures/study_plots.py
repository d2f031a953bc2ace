"""A stage's study plots as PNG files, each drawn on its own matplotlib Figure: no pyplot, no
backend or style change, no figure of the user's touched."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
from matplotlib.figure import Figure
from optuna.trial import TrialState

from tuner.figures.contour import contour, contour_size
from tuner.figures.param_plots import (
    importances_size,
    parallel_coordinate,
    parallel_size,
    param_importances,
    slice_plot,
    slice_size,
)
from tuner.figures.pareto_plot import pareto_front, pareto_size
from tuner.figures.pbt_plot import population, population_size
from tuner.figures.plot_axes import Objective, ParamAxis, objectives
from tuner.figures.trial_plots import has_curves, intermediate_values, optimization_history
from tuner.search.pareto import front
from tuner.search.trials import objective_names, own_trials

log = logging.getLogger(__name__)

_DPI = 80
_SIZE = (6.4, 4.8)
CONTOUR_PARAMS = 3
"""The contour plot shows pairs of the (up to) three most important params."""

Draw = Callable[[Figure], None]


def _importances(study: optuna.Study, objective: Objective) -> dict[str, float]:
    """Optuna's param importances for `objective`, most important first; {} when they cannot
    be computed (a param with a single value, too few trials)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.importance.get_param_importances(
                study, target=lambda t: t.values[objective.index])
    except Exception:  # noqa: BLE001 - Optuna raises several types for degenerate studies
        return {}


def study_plots(study: optuna.Study, out: Path, curves: optuna.Study | None = None
                ) -> list[Path]:
    """The study's plots as PNGs in `out`: optimization history, intermediate values, slice,
    parallel coordinate, param importances (2+ params and 2+ complete trials), contour (2+
    params; pairs of the three most important) and, for a multi-objective stage, its Pareto
    front (the other plots then show its first metric). [] without complete trials.
    `curves`: a multi-objective stage's pruning study, whose learning curves are drawn as its
    intermediate values."""
    # what the stage ran: a refine stage's warm-start copies are its source's trials
    complete = own_trials(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if not complete:
        return []
    goals = objectives(study)
    first = goals[0]
    names = sorted({name for t in complete for name in t.params})
    params = {name: ParamAxis.of(name, complete) for name in names}
    importances = _importances(study, first) if len(names) >= 2 and len(complete) >= 2 else {}
    ranked = [params[name] for name in importances] or list(params.values())
    plots: list[tuple[str, tuple[float, float], Draw]] = []
    if len(goals) > 1:
        on_front = {t.number for t in front(study)}
        plots.append(("pareto_front", pareto_size(len(goals)),
                      lambda fig: pareto_front(fig, complete, on_front, goals)))
    plots.append(("optimization_history", _SIZE,
                  lambda fig: optimization_history(fig, complete, first)))
    shown = curves if len(goals) > 1 else study
    shown_trials = own_trials(shown.get_trials(deepcopy=False)) if shown is not None else []
    if shown is not None and has_curves(shown_trials):
        metric = objective_names(shown)[0]
        plots.append(("intermediate_values", _SIZE,
                      lambda fig: intermediate_values(fig, shown_trials, metric)))
    pbt = study.user_attrs.get("pbt")
    if pbt:
        mutable = [m for m in pbt["mutable"] if m in params]
        every = study.get_trials(deepcopy=False)
        plots.append(("population", population_size(mutable),
                      lambda fig: population(fig, every, first.name, mutable, pbt["interval"],
                                             study.user_attrs.get("schedule"))))
    if params:
        plots += [("slice", slice_size(len(params)),
                   lambda fig: slice_plot(fig, complete, list(params.values()), first)),
                  ("parallel_coordinate", parallel_size(len(params)),
                   lambda fig: parallel_coordinate(fig, complete, ranked, first))]
    if len(importances) >= 2:
        plots.append(("param_importances", importances_size(len(importances)),
                      lambda fig: param_importances(fig, importances, first)))
    if len(params) >= 2:
        shown_params = ranked[:CONTOUR_PARAMS]
        plots.append(("contour", contour_size(len(shown_params)),
                      lambda fig: contour(fig, complete, shown_params, first)))
    out.mkdir(parents=True, exist_ok=True)
    written = [_draw(draw, size, out / f"{name}.png") for name, size, draw in plots]
    return [path for path in written if path is not None]


def _draw(draw: Draw, size: tuple[float, float], path: Path) -> Path | None:
    """One plot on a Figure of its own, saved to `path`; None (and a warning in the log) when
    it cannot be drawn: a missing plot must not stop the stage or the report."""
    fig = Figure(figsize=size, layout="constrained")
    try:
        with warnings.catch_warnings():  # matplotlib's and NumPy's, on degenerate data
            warnings.simplefilter("ignore")
            draw(fig)
            fig.savefig(path, dpi=_DPI)
    except Exception as exc:  # noqa: BLE001 - a missing plot must not stop the report
        log.warning("skipped the %s plot: %s: %s", path.stem, type(exc).__name__, exc)
        return None
    return path
