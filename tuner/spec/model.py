"""A validated study as frozen dataclasses: the study, its stages, their search spaces, the final.

The file format is documented in docs/study-files.md; tuner/spec/load.py turns a file into these.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from objectives.base import Objective
from objectives.metrics import direction_of
from tuner.spec.pbt import Pbt

SAMPLERS = ("tpe", "random", "grid", "qmc", "cmaes", "gp")
PRUNERS = ("median", "hyperband", "successive_halving", "percentile", "threshold", "none")
PARAM_TYPES = ("float", "int", "categorical")
SEED_LIMIT = 2**32
"""Seeds are in [0, SEED_LIMIT): NumPy's and Optuna's samplers' range."""
TRIALS_LIMIT = 100_000
"""The most trials a stage (or --trials, a refine's top_k) may ask for: each is a training run
and an MLflow run; Optuna's storages slow to a crawl long before."""
DERIVED_METRICS = ("seconds", "epochs", "params_count")
"""Objectives the tuner measures itself (trial training seconds, epochs trained) or takes from
the objective's last row (params_count, where the objective reports it); all minimized."""


def default_direction(metric: str) -> str:
    """The derived metrics are minimized; others by their name (accuracy up, loss down)."""
    return "minimize" if metric in DERIVED_METRICS else direction_of(metric)


@dataclass(frozen=True)
class ParamSpace:
    """How one param is sampled. kind: float, int or categorical; `when` lists (param, values)
    conditions that must all hold for the param to be sampled."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form, stored in the stage study's user attrs."""
        return {"name": self.name, "kind": self.kind, "low": self.low, "high": self.high,
                "log": self.log, "step": self.step,
                "choices": None if self.choices is None else list(self.choices),
                "when": [[k, list(v)] for k, v in self.when]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ParamSpace:
        return cls(name=d["name"], kind=d["kind"], low=d["low"], high=d["high"], log=d["log"],
                   step=d["step"],
                   choices=None if d["choices"] is None else tuple(d["choices"]),
                   when=tuple((k, tuple(v)) for k, v in d["when"]))

    def describe(self) -> str:
        if self.kind == "categorical":
            text = f"{self.name}: categorical {list(self.choices or ())}"
        else:
            text = f"{self.name}: {self.kind} [{self.low:g}, {self.high:g}]"
            text += " log" if self.log else ""
            text += f" step {self.step:g}" if self.step is not None else ""
        for key, values in self.when:
            text += f" when {key} in {list(values)}"
        return text


@dataclass(frozen=True)
class Refine:
    """Narrow `params` from the top_k completed trials of stage `source`; enqueue its best N."""

    source: str
    params: tuple[str, ...]
    top_k: int = 3
    margin: float = 0.5
    enqueue: int = 0
    by: str | None = None
    """Rank the source's trials by this metric; None: by the study metric, or in a
    multi-objective study take the source's Pareto front."""
    warm_start: bool = True
    """Start the stage with copies of the source's complete trials inside the refined box
    (search/warm_start.py)."""


@dataclass(frozen=True)
class StopRule:
    """When a stage stops before its trial target (search/stopping.py): no improvement of its
    best by more than `min_delta` in `patience` finished trials, or its best reached
    `target` (each None: not checked)."""

    patience: int | None = None
    min_delta: float = 0.0
    target: float | None = None


@dataclass(frozen=True)
class Stage:
    name: str
    sampler: str
    sampler_options: Mapping[str, Any]
    pruner: str
    pruner_options: Mapping[str, Any]
    trials: int | None
    timeout: float | None
    space: tuple[ParamSpace, ...]
    refine: Refine | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    """Fixed params for this stage's trials only (its `set` table), e.g. longer training."""
    prune_on: str | None = None
    """The metric the pruner judges (multi-objective studies; None: the first metric)."""
    stop: StopRule | None = None
    """Stop before the trial target (None: run to it)."""
    pbt: Pbt | None = None
    """A Population Based Training stage (spec/pbt.py); None: a search stage."""
    budgeted: bool = False
    """Its timeout is this run's share of the study's budget (engine/budget.py), not its own:
    reaching it ends this run of the stage only (not stored: a rerun continues it)."""


@dataclass(frozen=True)
class CrossValidation:
    """k-fold cross-validation of every trial on train+val (stratified for classification when
    every class has `folds` members); `folds` 0: off, the fixed validation split."""

    folds: int = 5
    shuffle: bool = True

    def __str__(self) -> str:
        return f"{self.folds} folds" + ("" if self.shuffle else " (in file order)")


CV_DEFAULT = CrossValidation()
CV_DEFAULT_ROWS = 1000
"""A study of the user's own table that sets neither `cv` nor `val_size` cross-validates with
CV_DEFAULT when train+val has fewer rows than this (docs/own-model.md#cross-validation)."""


DEFAULT_MONITOR = 0.02
"""The share of train+val the final holds out to monitor its training (1,000 of CIFAR-10's
50,000 images, 29 of digits' 1,437), unless [final] monitor says otherwise."""


COMPARISONS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
"""The operators a pick rule's `where` condition may use."""


@dataclass(frozen=True)
class Condition:
    """`metric op bound` in a pick rule's `where`, e.g. seconds <= 10."""

    metric: str
    op: str
    bound: float

    def holds(self, value: float) -> bool:
        return bool(COMPARISONS[self.op](value, self.bound))

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


@dataclass(frozen=True)
class Pick:
    """Which trial the final retrains: the best on `metric` in `direction` among the complete
    trials that meet every `where` condition."""

    metric: str
    direction: str
    where: tuple[Condition, ...] = ()

    def __str__(self) -> str:
        text = f"{'max' if self.direction == 'maximize' else 'min'} {self.metric}"
        return text + "".join(f" where {c}" for c in self.where)


@dataclass(frozen=True)
class Confirm:
    """Before the answer is trusted, its `top_k` best candidates (by the pick rule) are trained
    again, `repeats` more evaluations each on average (other training seeds, the same split):
    the answer is the best mean (engine/confirm.py)."""

    top_k: int = 5
    repeats: int = 2

    @property
    def budget(self) -> int:
        """The confirm stage's evaluations at most (racing may end it sooner)."""
        return self.top_k * self.repeats


CONFIRM_STAGE = "confirm"
"""The name of the confirm stage's study, `NAME/confirm` (no search stage may take it)."""


@dataclass(frozen=True)
class Final:
    monitor: int | float = DEFAULT_MONITOR
    overrides: Mapping[str, Any] = field(default_factory=dict)
    pick: Pick | None = None
    """None: the best trial on the study's (first) metric."""
    confirm: Confirm | None = None
    """None: the answer is the best single measurement (no confirm stage)."""
    use: str = "replay"
    """A PBT answer: "replay" its schedule from scratch, or take the "member"'s weights."""


@dataclass(frozen=True)
class StudySpec:
    """A validated study. `fixed` is the full resolved config (defaults + [fixed] + --set);
    `overrides` (--set, overrides=) and `trials_override` (--trials) are what it was loaded
    with; target, task and test_size describe the user's own data. It is stored with the study
    as data (spec/record.py), and every worker runs the stored one."""

    name: str
    path: Path
    objective_ref: str
    objective: Objective
    dataset: str
    metric: str
    direction: str
    seed: int
    val_size: int | float | None
    train_limit: int | None
    fixed: Mapping[str, Any]
    stages: tuple[Stage, ...]
    final: Final
    overrides: Mapping[str, Any] = field(default_factory=dict)
    trials_override: int | None = None
    target: str | None = None
    """The target column of a CSV dataset (default: its last column)."""
    task: str | None = None
    """classification or regression (default: inferred from the target)."""
    test_size: int | float | None = None
    """The test split carved from a dataset without one (default 20 %)."""
    metrics: tuple[str, ...] = ()
    """Every objective of a multi-objective study (`metric` is the first); () for one."""
    directions: tuple[str, ...] = ()
    cv: CrossValidation | None = None
    """None: the default (CV_DEFAULT for a small table of the user's own, else the val split)."""
    recipe: int | None = None
    """The total evaluations of a default-recipe study (spec/recipe.py: its stages are the
    recipe's); None for a study with its own [[stages]]."""
    budget: float | None = None
    """Seconds of wall time for the stages still to run, per process (`budget`, --budget)."""

    @property
    def objectives(self) -> tuple[tuple[str, str], ...]:
        """(metric, direction) of each objective: one, or those of a multi-objective study."""
        if self.metrics:
            return tuple(zip(self.metrics, self.directions, strict=True))
        return ((self.metric, self.direction),)

    @property
    def metric_names(self) -> list[str]:
        """The objectives' metric names, in order."""
        return [metric for metric, _ in self.objectives]

    @property
    def multi(self) -> bool:
        return len(self.metrics) > 1

    def prune_on(self, stage: Stage) -> str:
        """The metric `stage`'s pruner judges."""
        return stage.prune_on or self.metric

    def direction_of(self, metric: str) -> str:
        """The direction of one of the study's objectives (or of a derived / reported metric
        named in a rule: derived ones are minimized, others by their name)."""
        for name, direction in self.objectives:
            if name == metric:
                return direction
        return default_direction(metric)

    @property
    def folder(self) -> Path:
        """The study file's folder, where its own modules and data files are looked for first."""
        return self.path.parent

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def study_name(self, stage: str) -> str:
        return f"{self.name}/{stage}"

    def stage_fixed(self, stage: Stage) -> dict[str, Any]:
        """The fixed params of `stage`'s trials: [fixed] and --set, then the stage's `set`."""
        return {**self.fixed, **stage.overrides}
