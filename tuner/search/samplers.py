"""Optuna samplers and pruners by name, built from a stage's options.

Seeds: qmc and grid coordinate through the storage (QMC's sample index and the grid's visited
points live in the study), so every worker uses the study seed. The other samplers draw from
their own RNG, so the engine passes a different seed per worker and per resume (see
tuner.engine.stage.sampler_seed) — otherwise two workers, or a resumed run, would propose the
same params again.

Each option's type and range is checked at load from a table (tuner/spec/sampler_options.py);
`check_stage` then builds both and runs them on a throwaway in-memory study, past the start-up
trials of the model-based samplers, so that a combination Optuna only trips over when sampling or
pruning is one line at load time instead of a failure in every trial.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

import optuna

from tuner.errors import SpecError
from tuner.search.space import suggest
from tuner.spec.model import ParamSpace, Stage
from tuner.spec.sampler_options import GRID_LIMIT, PRUNER_OPTIONS, grid_size

SHARED_SEED_SAMPLERS = ("qmc", "grid")


def grid_values(param: ParamSpace) -> list[Any]:
    """The grid points of one param: its choices, or low..high by step."""
    if param.kind == "categorical":
        return list(param.choices or ())
    count = grid_size(param)
    if count is None or count > GRID_LIMIT:
        raise ValueError(f"the grid sampler needs `choices` or `step` for param '{param.name}', "
                         f"and at most {GRID_LIMIT} points")
    assert param.low is not None and param.step is not None
    values = [param.low + i * param.step for i in range(count)]
    return [int(v) for v in values] if param.kind == "int" else [float(v) for v in values]


class AskTellGridSampler(optuna.samplers.GridSampler):
    """GridSampler without its study.stop() once the grid is exhausted: Optuna allows stop()
    only inside study.optimize, and the stage loop (ask/tell) counts a stage's trials itself."""

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        return None


def build_sampler(
    stage: Stage, space: Sequence[ParamSpace], seed: int | None
) -> optuna.samplers.BaseSampler:
    """The stage's sampler over `space` (the grid sampler needs the space itself)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _sampler(stage, space, seed)


def _sampler(
    stage: Stage, space: Sequence[ParamSpace], seed: int | None
) -> optuna.samplers.BaseSampler:
    options = dict(stage.sampler_options)
    if stage.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **options)
    if stage.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed, **options)
    if stage.sampler == "grid":
        grid = {p.name: grid_values(p) for p in space}
        return AskTellGridSampler(grid, seed=seed, **options)
    if stage.sampler == "qmc":
        options.setdefault("warn_asynchronous_seeding", False)
        return optuna.samplers.QMCSampler(seed=seed, **options)
    if stage.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, **options)
    if stage.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed, **options)
    raise ValueError(f"unknown sampler '{stage.sampler}'")


def build_pruner(stage: Stage) -> optuna.pruners.BasePruner:
    options = dict(stage.pruner_options)
    kinds: dict[str, Any] = {
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
        "percentile": optuna.pruners.PercentilePruner,
        "threshold": optuna.pruners.ThresholdPruner,
        "none": optuna.pruners.NopPruner,
    }
    if stage.pruner not in kinds:
        raise ValueError(f"unknown pruner '{stage.pruner}'")
    pruner: optuna.pruners.BasePruner = kinds[stage.pruner](**options)
    return pruner


CHECK_TRIALS = 3
CHECK_STEPS = 3
MODEL_SAMPLERS = ("tpe", "cmaes")
"""Samplers that sample at random for `n_startup_trials` and then from a model: the check runs
them with one start-up trial, so that its few trials reach the model too. Not gp: fitting its
model (torch) would add seconds to every load, and the table checks each of its options."""

WAIT_OPTIONS = ("n_startup_trials", "n_warmup_steps")
"""Pruner options that hold pruning back; the check sets them to 0 so that its few trials and
steps are judged."""


Direction = Literal["minimize", "maximize"]


def optuna_direction(direction: str) -> Direction:
    """A spec's direction ("maximize" / "minimize") as the literal Optuna's API is typed with."""
    return "maximize" if direction == "maximize" else "minimize"


def check_stage(stage: Stage, directions: Sequence[Direction], prune_direction: str,
                where: str) -> None:
    """Build the stage's sampler (for the study's directions) and pruner (for the direction of
    the metric it watches) and run a few trials of made-up values through them in memory; any
    error is one SpecError naming `where` (the study file)."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _exercise(stage, directions, where, "sampler")
            _exercise(stage, [optuna_direction(prune_direction)], where, "pruner")
    finally:
        optuna.logging.set_verbosity(verbosity)


def _exercise(stage: Stage, directions: Sequence[Direction], where: str, part: str) -> None:
    try:
        checked = replace(stage, pruner_options={**stage.pruner_options, **{
            key: 0 for key in WAIT_OPTIONS if key in PRUNER_OPTIONS[stage.pruner]}})
        if stage.sampler in MODEL_SAMPLERS:
            checked = replace(checked, sampler_options={**stage.sampler_options,
                                                        "n_startup_trials": 1})
        sampler = build_sampler(checked, stage.space, seed=0)
        pruner = build_pruner(checked) if part == "pruner" else optuna.pruners.NopPruner()
        study = optuna.create_study(directions=directions, sampler=sampler, pruner=pruner)
        for number in range(CHECK_TRIALS):
            trial = study.ask()
            suggest(trial, stage.space)
            for step in range(1, CHECK_STEPS + 1) if part == "pruner" else ():
                trial.report(0.1 * step + number, step)
                trial.should_prune()
            values = [0.5 + number + 0.1 * i * (-1) ** number for i in range(len(directions))]
            study.tell(trial, values if len(values) > 1 else values[0])
    except Exception as exc:  # noqa: BLE001 - Optuna raises many types for bad options
        options = stage.sampler_options if part == "sampler" else stage.pruner_options
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items()) or "defaults"
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise SpecError(f"{where}: stages.{stage.name}.{part}: {getattr(stage, part)} with "
                        f"{shown} cannot be used ({type(exc).__name__}: {message}).") from None
