"""Every option each sampler and pruner accepts, as a table: its type and range, checked at
load (before any storage is touched) so that an option Optuna would only trip over later (TPE's
`gamma` after its start-up trials, CMA-ES's `sigma0 = -1` never) is one line instead.

Options Optuna wants as Python objects (callables such as TPE's `gamma`, other samplers, trials)
cannot come from a study: its spec is stored as data for every worker. The grid sampler's size
is computed from the space before a grid is built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tuner.spec.checker import Checker
from tuner.spec.model import TRIALS_LIMIT, ParamSpace, Stage

GRID_LIMIT = 100_000
"""The most points a grid stage may have (Optuna builds every combination in memory)."""
POPULATION_LIMIT = 10_000
"""The most candidates a sampler may draw per step (CMA-ES's popsize, TPE's n_ei_candidates)."""


@dataclass(frozen=True)
class Option:
    """kind: bool, int, float, choice (one of `choices`), int_or_auto (an int or "auto"),
    table (of numbers), or refused (with `why`); ints and floats lie in [low, high] (`open`:
    the low end excluded)."""

    kind: str
    low: float = -math.inf
    high: float = math.inf
    open: bool = False
    choices: tuple[str, ...] = ()
    why: str = ""
    required: bool = False


BOOL = Option("bool")
TRIALS = Option("int", 0, TRIALS_LIMIT)
STEPS = Option("int", 0)
EVERY = Option("int", 1)
CALLABLE = Option("refused", why="is a Python callable in Optuna, which a study cannot hold "
                  "(its spec is stored as data for every worker); leave it out for Optuna's "
                  "default")
OBJECT = Option("refused", why="is a Python object in Optuna, which a study cannot hold (its "
                "spec is stored as data for every worker); leave it out for Optuna's default")
GONE = Option("refused", why="is no longer used by Optuna (deprecated in 4.4, ignored); leave "
              "it out")
SEED = Option("refused", why="is the study's: set `seed` at the top of the file or --seed")

SAMPLER_OPTIONS: dict[str, dict[str, Option]] = {
    "tpe": {"consider_prior": BOOL, "prior_weight": Option("float", 0, open=True),
            "consider_magic_clip": BOOL, "consider_endpoints": BOOL, "n_startup_trials": TRIALS,
            "n_ei_candidates": Option("int", 1, POPULATION_LIMIT), "gamma": CALLABLE,
            "weights": CALLABLE, "multivariate": BOOL, "group": BOOL,
            "warn_independent_sampling": BOOL, "constant_liar": BOOL,
            "constraints_func": CALLABLE},
    "random": {},
    "grid": {"search_space": Option("refused", why="is built from the stage's space")},
    "qmc": {"qmc_type": Option("choice", choices=("sobol", "halton")), "scramble": BOOL,
            "warn_asynchronous_seeding": BOOL, "warn_independent_sampling": BOOL,
            "independent_sampler": OBJECT},
    "cmaes": {"x0": Option("table"), "sigma0": Option("float", 0, open=True),
              "n_startup_trials": TRIALS, "warn_independent_sampling": BOOL,
              "consider_pruned_trials": BOOL, "restart_strategy": GONE,
              "popsize": Option("int", 2, POPULATION_LIMIT), "inc_popsize": GONE,
              "use_separable_cma": BOOL, "with_margin": BOOL, "lr_adapt": BOOL,
              "independent_sampler": OBJECT, "source_trials": OBJECT},
    "gp": {"n_startup_trials": TRIALS, "deterministic_objective": BOOL,
           "warn_independent_sampling": BOOL, "constraints_func": CALLABLE,
           "independent_sampler": OBJECT},
}

_MEDIAN = {"n_startup_trials": TRIALS, "n_warmup_steps": STEPS, "interval_steps": EVERY,
           "n_min_trials": Option("int", 1, TRIALS_LIMIT)}
PRUNER_OPTIONS: dict[str, dict[str, Option]] = {
    "median": _MEDIAN,
    "percentile": {"percentile": Option("float", 0, 100, required=True), **_MEDIAN},
    "hyperband": {"min_resource": EVERY, "max_resource": Option("int_or_auto", 1),
                  "reduction_factor": Option("int", 2), "bootstrap_count": TRIALS},
    "successive_halving": {"min_resource": Option("int_or_auto", 1),
                           "reduction_factor": Option("int", 2),
                           "min_early_stopping_rate": STEPS, "bootstrap_count": TRIALS},
    "threshold": {"lower": Option("float"), "upper": Option("float"),
                  "n_warmup_steps": STEPS, "interval_steps": EVERY},
    "none": {},
}


def _bounds(option: Option) -> str:
    low = "-inf" if option.low == -math.inf else f"{option.low:g}"
    high = "inf" if option.high == math.inf else f"{option.high:g}"
    return f"{'(' if option.open or option.low == -math.inf else '['}{low}, {high}" \
           f"{')' if option.high == math.inf else ']'}"


def _number(value: Any, ints_only: bool) -> bool:
    kinds = (int,) if ints_only else (int, float)
    return isinstance(value, kinds) and not isinstance(value, bool)


def problem(option: Option, value: Any) -> str | None:
    """What is wrong with `value` for `option` ("must be ..."), or None when it is fine."""
    if option.kind == "refused":
        return f"{option.why}."
    if option.kind == "bool":
        return None if isinstance(value, bool) else f"must be true or false. Got {value!r} " \
            "instead."
    if option.kind == "choice":
        return None if value in option.choices else f"must be one of: " \
            f"{', '.join(option.choices)}. Got {value!r} instead."
    if option.kind == "table":
        ok = isinstance(value, Mapping) and all(_number(v, False) for v in value.values())
        return None if ok else f"must be a table of numbers, one per param. Got {value!r} " \
            "instead."
    if option.kind == "int_or_auto" and value == "auto":
        return None
    ints_only = option.kind != "float"
    name = "an int" if ints_only else "a number"
    in_range = _number(value, ints_only) and math.isfinite(value) and (
        option.low < value if option.open else option.low <= value) and value <= option.high
    if in_range:
        return None
    auto = ' or "auto"' if option.kind == "int_or_auto" else ""
    return f"must be {name} in {_bounds(option)}{auto}. Got {value!r} instead."


def check_options(c: Checker, table: Mapping[str, Option], options: Mapping[str, Any],
                  key: str, refused: Mapping[str, Option] | None = None) -> None:
    """Every option of one sampler or pruner against its row of the table (and `refused`,
    options known but never allowed); `key` is where it is written (stages.NAME.sampler)."""
    allowed = {**table, **(refused or {})}
    for name, value in options.items():
        if name not in allowed:
            expected = ", ".join(sorted(table)) or "none (it takes no options)"
            raise c.fail(f"{key}.{name}", f"unknown option; expected one of: {expected}.")
        message = problem(allowed[name], value)
        if message is not None:
            raise c.fail(f"{key}.{name}", message)
    for name, option in table.items():
        if option.required and name not in options:
            raise c.fail(f"{key}.{name}", "missing required option.")


def grid_size(param: ParamSpace) -> int | None:
    """The number of grid points of one param (its choices, or low..high by step); None when
    it has neither choices nor a step. Arithmetic only: nothing is built."""
    if param.kind == "categorical":
        return len(param.choices or ())
    if param.step is None or param.low is None or param.high is None:
        return None
    count = (param.high - param.low) / param.step + 1e-9
    return int(count) + 1 if math.isfinite(count) and count < 2**62 else 2**62


def check_grid(c: Checker, space: Sequence[ParamSpace], key: str) -> None:
    """A grid stage's space: every param has choices or a step, and the grid has at most
    GRID_LIMIT points."""
    total = 1
    for param in space:
        size = grid_size(param)
        if size is None:
            raise c.fail(f"{key}.space.{param.name}", "the grid sampler needs `choices` or "
                         "`step` for every param.")
        total *= size
    if total > GRID_LIMIT:
        raise c.fail(f"{key}.sampler", f"the grid has {total:,} points (the product of each "
                     f"param's choices or steps); expected at most {GRID_LIMIT:,}: use fewer "
                     "choices or a larger step.")


def check_x0(c: Checker, x0: Mapping[str, Any], space: Sequence[ParamSpace], key: str) -> None:
    """CMA-ES's start point: a value within bounds for every int and float param."""
    numeric = {p.name: p for p in space if p.kind != "categorical"}
    for name in x0:
        if name not in numeric:
            raise c.fail(f"{key}.{name}", f"is not an int or float param of this stage's "
                         f"space; expected: {', '.join(numeric) or 'none'}.")
    for name, param in numeric.items():
        if name not in x0:
            raise c.fail(f"{key}", f"misses a start value for '{name}'; expected one for "
                         f"each of: {', '.join(numeric)}.")
        assert param.low is not None and param.high is not None
        if not param.low <= x0[name] <= param.high:
            raise c.fail(f"{key}.{name}", f"must lie in [{param.low:g}, {param.high:g}]. "
                         f"Got {x0[name]!r} instead.")


def check_stage_options(c: Checker, stage: Stage) -> None:
    """The stage's sampler and pruner options against the tables, CMA-ES's x0 against the
    space, and a grid's size."""
    where = f"stages.{stage.name}"
    check_options(c, SAMPLER_OPTIONS[stage.sampler], stage.sampler_options, f"{where}.sampler",
                  {"seed": SEED})
    options = stage.pruner_options
    check_options(c, PRUNER_OPTIONS[stage.pruner], options, f"{where}.pruner")
    low, high = options.get("min_resource", 1), options.get("max_resource", "auto")
    if stage.pruner == "hyperband" and high != "auto" and high < low:
        raise c.fail(f"{where}.pruner.max_resource", f"must be >= min_resource ({low}); with "
                     f"less, hyperband has no bracket and never prunes. Got {high} instead.")
    if stage.sampler == "cmaes" and "x0" in stage.sampler_options:
        check_x0(c, stage.sampler_options["x0"], stage.space, f"{where}.sampler.x0")
    if stage.sampler == "grid":
        check_grid(c, stage.space, where)
