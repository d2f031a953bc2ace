"""Study plots drawn on Figure objects: a notebook's backend, style and open figures survive a
study run, params land on readable axes, and the contour fill appears only where it can."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from tuner.figures.contour import fill
from tuner.figures.param_plots import slice_plot
from tuner.figures.plot_axes import ParamAxis, objectives


def _trials() -> list[optuna.trial.FrozenTrial]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1e-1, log=True)
                   + t.suggest_int("layers", 1, 4)
                   + (t.suggest_categorical("optimizer", ["sgd", "adam"]) == "adam"),
                   n_trials=12)
    return study.trials


def test_param_axes_are_log_integer_or_categorical_from_the_distribution() -> None:
    trials = _trials()
    lr, layers, optimizer = (ParamAxis.of(name, trials) for name in ("lr", "layers",
                                                                    "optimizer"))
    assert (lr.log, lr.label) == (True, "lr (log)")
    assert lr.position(1e-3) == pytest.approx(-3.0)
    assert [text for _, text in lr.ticks(-4.1, -0.9)] == ["0.0001", "0.001", "0.01", "0.1"]
    assert layers.integer and not layers.log
    assert all(text.isdigit() for _, text in layers.ticks(*layers.limits(np.array([1, 4]))))
    assert optimizer.choices == ("sgd", "adam")
    assert optimizer.ticks(-0.5, 1.5) == [(0.0, "sgd"), (1.0, "adam")]
    assert optimizer.positions(trials).tolist() == [
        float(t.params["optimizer"] == "adam") for t in trials]


def test_slice_panels_show_log_and_categorical_params_in_their_own_values() -> None:
    trials = _trials()
    params = [ParamAxis.of(name, trials) for name in ("lr", "optimizer")]
    study = optuna.create_study()
    fig = Figure()
    slice_plot(fig, trials, params, objectives(study)[0])
    lr_ax, optimizer_ax = fig.axes[:2]
    fig.canvas.draw_idle()
    assert lr_ax.get_xlabel() == "lr (log)"
    assert {t.get_text() for t in lr_ax.get_xticklabels()} >= {"0.001", "0.01"}
    assert [t.get_text() for t in optimizer_ax.get_xticklabels()] == ["sgd", "adam"]
    assert lr_ax.get_ylabel() == "objective_0 (minimize)"


@pytest.mark.parametrize(("x", "y", "z", "filled"), [
    ([0, 1, 0, 1], [0, 0, 1, 1], [1, 2, 3, 4], True),
    ([0, 1, 0], [0, 0, 1], [1, 2, 3], False),  # three points
    ([0, 1, 2, 3], [0, 1, 2, 3], [1, 2, 3, 4], False),  # on one line
    ([0, 1, 0, 1, 1], [0, 0, 1, 1, 1], [1, 2, 3, 4, 5], True),  # a repeated point, averaged
    ([0, 0, 1, 1, 0], [0, 0, 1, 1, 0], [1, 2, 3, 4, 5], False),  # 5 trials, 2 distinct points
    ([0, 1, 0, 1], [0, 0, 1, 1], [2, 2, 2, 2], False),  # one value
])
def test_contour_fill_needs_four_points_spanning_an_area(
        x: list[float], y: list[float], z: list[float], filled: bool) -> None:
    ax = Figure().subplots()
    drawn = fill(ax, np.array(x, float), np.array(y, float), np.array(z, float), "viridis",
                 Normalize(min(z), max(z)))
    assert drawn is filled
    assert bool(ax.collections) is filled


def test_the_population_plot_draws_every_member_and_marks_exploits() -> None:
    """One line per member's generation on the metric panel (from its parent's last step, so a
    lineage is one line), a cross per exploit, one panel per mutable param (log when wide)."""
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from tuner.figures.pbt_plot import population

    dist = {"lr": FloatDistribution(1e-4, 1.0, log=True)}

    def member(number: int, m: int, g: int, lr: float, exploited: bool) -> optuna.trial.FrozenTrial:
        t = create_trial(state=TrialState.COMPLETE, value=0.5, params={"lr": lr},
                         distributions=dist,
                         intermediate_values={s: 0.1 * s + m for s in range(1, 2 * g + 3)},
                         user_attrs={"member": m, "generation": g, "exploited": exploited})
        t.number = number
        return t

    trials = [member(0, 0, 0, 1e-3, False), member(1, 1, 0, 0.5, False),
              member(2, 0, 1, 0.4, True), member(3, 1, 1, 0.5, False)]
    fig = Figure()
    population(fig, trials, "val_accuracy", ["lr"], 2,
               [{"trial": 1, "step": 1}, {"trial": 2, "step": 3}])
    metric, lr = fig.axes
    assert len(metric.lines) == 4 and len(lr.lines) == 4
    assert list(metric.lines[2].get_xdata()) == [2, 3, 4]  # from the parent's last step
    assert len(metric.collections) == 1  # the one exploit's cross
    assert lr.get_yscale() == "log" and lr.get_ylabel() == "lr"
    assert metric.lines[2].get_linewidth() > metric.lines[0].get_linewidth()  # the schedule
