"""A stage's study plots (Optuna's matplotlib plots) as PNG files."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import optuna  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

log = logging.getLogger(__name__)

_DPI = 80


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI)
    return path


def _importances(study: optuna.Study, first: dict[str, Any]) -> dict[str, float]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.importance.get_param_importances(study, target=first.get("target"))
    except Exception:  # noqa: BLE001 - too few trials or a single distribution value
        return {}


def study_plots(study: optuna.Study, out: Path, curves: optuna.Study | None = None
                ) -> list[Path]:
    """Optuna's matplotlib plots as PNGs in `out`; a plot that cannot be drawn (too few complete
    trials, one param) is skipped. Contour uses the (up to) three most important params.
    `curves`: a multi-objective stage's pruning study, whose learning curves are drawn as its
    intermediate values."""
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as vis

    complete = [t for t in study.get_trials(deepcopy=False)
                if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return []
    params = sorted({name for t in complete for name in t.params})
    # A multi-objective stage: its Pareto front, and the other plots of its first metric.
    first: dict[str, Any] = {}
    plots: list[tuple[str, Any]] = []
    if len(study.directions) > 1:
        names = list(study.metric_names or ["objective 0", "objective 1"])
        first = {"target": lambda t: t.values[0], "target_name": names[0]}
        plots.append(("pareto_front", lambda: vis.plot_pareto_front(
            study, target_names=names if len(names) == len(study.directions) else None)))
    ranked = list(_importances(study, first)) or params
    plots.append(("optimization_history",
                  lambda: vis.plot_optimization_history(study, **first)))
    shown = curves if first else study  # a multi-objective stage's curves: its pruning study
    if shown is not None:
        plots.append(("intermediate_values", lambda: vis.plot_intermediate_values(shown)))
    if params:
        plots += [("slice", lambda: vis.plot_slice(study, **first)),
                  ("parallel_coordinate", lambda: vis.plot_parallel_coordinate(study, **first))]
    if len(ranked) >= 2 and len(complete) >= 2:
        plots.append(("param_importances", lambda: vis.plot_param_importances(study, **first)))
    if len(params) >= 2:
        plots.append(("contour", lambda: vis.plot_contour(study, params=ranked[:3], **first)))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    # Optuna's plots log warnings of their own (a contour param with one distinct value) on the
    # console the user is watching: keep them to errors while drawing.
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        for name, draw in plots:
            if _draw(name, draw, out):
                written.append(out / f"{name}.png")
    finally:
        optuna.logging.set_verbosity(verbosity)
    plt.close("all")
    return written


def _draw(name: str, draw: Any, out: Path) -> bool:
    """Draw one Optuna plot into out/NAME.png; False when it cannot be drawn."""
    import matplotlib.pyplot as plt

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            axes = draw()
            fig = np.asarray(axes).flat[0].get_figure()
            width, height = (9.0, 7.5) if np.asarray(axes).size > 1 else (6.4, 4.8)
            fig.set_size_inches(max(fig.get_figwidth(), width),
                                max(fig.get_figheight(), height))
            fig.savefig(out / f"{name}.png", dpi=_DPI, bbox_inches="tight")
        plt.close(fig)
        return True
    except Exception as exc:  # noqa: BLE001 - a missing plot must not stop the report
        log.debug("skipped %s plot: %s", name, exc)
        return False
