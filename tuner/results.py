"""What the API returns: typed results of a study, its stages, the final and one training run."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from objectives.base import Model


@dataclass(frozen=True)
class FrontTrial:
    """A Pareto-optimal trial of a multi-objective stage."""

    trial: int
    values: Mapping[str, float]
    """One per objective, by metric name."""
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Answer:
    """The configuration a study hands back, the same everywhere (StudyResult.best_*, the final,
    `tuner show` / `list` / `report`, MLflow): the trial the final retrains, the rule that chose
    it, and, when the confirm stage evaluated it again, its mean over every evaluation."""

    stage: str
    """The search stage of its (first) trial."""
    trial: int
    params: Mapping[str, Any]
    metric: str
    """The metric the rule ranks by."""
    value: float
    """Its trial's value on that metric (one measurement)."""
    rule: str
    """What chose it: "pick max val_accuracy", "--trial fine:3", with ", confirmed" when raced."""
    mean: float | None = None
    """Confirmed: the mean over its evaluations (its search trials' and its repeats')."""
    stderr: float | None = None
    """Confirmed: the standard error of that mean (the noise pooled over every candidate)."""
    evaluations: int = 1

    @property
    def best_value(self) -> float:
        """What it is judged by: the confirmed mean, else its one measurement."""
        return self.value if self.mean is None else self.mean

    def describe(self) -> str:
        """One line: "fine:7, val_accuracy 0.9321 +- 0.0012 over 3 evaluations (pick ...)"."""
        if self.mean is None:
            shown = f"{self.metric} {self.value:.4f}"
        else:
            spread = "" if self.stderr is None else f" +- {self.stderr:.4f}"
            shown = (f"{self.metric} {self.mean:.4f}{spread} over {self.evaluations} "
                     "evaluations")
        return f"{self.stage}:{self.trial}, {shown} ({self.rule})"

    def record(self) -> dict[str, Any]:
        """Plain JSON-able form, stored with the study (the spec record's user attr "answer")."""
        return {"stage": self.stage, "trial": self.trial, "params": dict(self.params),
                "metric": self.metric, "value": self.value, "rule": self.rule,
                "mean": self.mean, "stderr": self.stderr, "evaluations": self.evaluations}

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Answer:
        return cls(stage=data["stage"], trial=int(data["trial"]), params=dict(data["params"]),
                   metric=data["metric"], value=float(data["value"]), rule=data["rule"],
                   mean=data.get("mean"), stderr=data.get("stderr"),
                   evaluations=int(data.get("evaluations", 1)))


@dataclass(frozen=True)
class StageResult:
    """One stage, counted from storage (every worker's trials): how many trials ended how, the
    best one, and what the stage cost."""

    name: str
    study_name: str
    complete: int
    pruned: int
    failed: int
    best_value: float | None
    best_params: Mapping[str, Any] | None
    best_trial: int | None
    epochs_trained: float
    epochs_without_pruning: float
    trial_seconds: float
    wall_seconds: float | None
    """Seconds this process spent on the stage (0 when it was already done; None when worker
    processes ran it, see StudyResult.wall_seconds)."""
    ran_here: int
    """Trials this process ran."""
    front: tuple[FrontTrial, ...] = ()
    """The Pareto front of a multi-objective stage, by trial number (() for one metric)."""
    stopped: str | None = None
    """Why a stopping rule ended the stage before its trial target (None: it did not)."""


@dataclass(frozen=True)
class FinalResult(Mapping[str, float]):
    """The final retrain's test metrics, readable as a mapping (result["test_accuracy"]), with
    where the configuration came from."""

    metrics: Mapping[str, float]
    monitor_accuracy: float
    trial: int
    stage: str
    search_value: float
    config: Mapping[str, Any]
    dataset: str
    train_size: int
    test_size: int
    seconds: float
    mlflow_run_id: str | None = None
    model_uri: str | None = None  # models:/STUDY/VERSION (or runs:/RUN/model unregistered)
    rule: str = ""
    """What chose the trial: "pick max val_accuracy where seconds <= 10", "--trial 3"..."""
    search_values: Mapping[str, float] = field(default_factory=dict)
    """The trial's value of each objective during the search."""
    answer: Answer | None = None
    """The study's answer the final retrained (with its confirmed mean, when raced)."""
    schedule: Sequence[Mapping[str, Any]] | None = None
    """The PBT schedule the final replayed (search/pbt.schedule), None for a constant config."""

    def __getitem__(self, key: str) -> float:
        return self.metrics[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.metrics)

    def __len__(self) -> int:
        return len(self.metrics)

    def record(self) -> dict[str, Any]:
        """Plain JSON-able form, stored with the study (user attr "final")."""
        out: dict[str, Any] = {**self.metrics, "trial": self.trial, "stage": self.stage,
                               "search_value": self.search_value, "config": dict(self.config),
                               "dataset": self.dataset, "train_size": self.train_size,
                               "test_size": self.test_size, "seconds": self.seconds,
                               "rule": self.rule, "search_values": dict(self.search_values)}
        if self.answer is not None:
            out["answer"] = self.answer.record()
        if math.isfinite(self.monitor_accuracy):
            out["monitor_accuracy"] = self.monitor_accuracy
        if self.mlflow_run_id:
            out["mlflow_run_id"] = self.mlflow_run_id
        if self.model_uri:
            out["model_uri"] = self.model_uri
        if self.schedule:
            out["schedule"] = [dict(entry) for entry in self.schedule]
        return out


@dataclass(frozen=True)
class StudyResult:
    """A study after `run_study`: its answer (the trial the final retrains: best_value,
    best_params, best_stage, best_trial say the same), every stage's counts (the confirm
    stage's too), and the final's test metrics (None without a final)."""

    name: str
    metric: str
    direction: str
    best_value: float | None
    """The answer's value on the pick rule's metric: its confirmed mean, or its one value."""
    best_params: Mapping[str, Any]
    best_stage: str | None
    stages: Mapping[str, StageResult]
    final: FinalResult | None = None
    tracking_warnings: int = 0
    workers: int = 1
    """Worker processes that ran the stages (jobs)."""
    worker_kind: str = "worker processes"  # or "tuner workers on the Dask cluster"
    metrics: tuple[str, ...] = ()
    """Every objective of a multi-objective study (`metric` is the first); () for one."""
    directions: tuple[str, ...] = ()
    answer: Answer | None = None
    """The configuration handed back (None before any trial completed)."""

    @property
    def best_trial(self) -> int | None:
        return None if self.answer is None else self.answer.trial

    @property
    def objectives(self) -> list[tuple[str, str]]:
        """(metric, direction) of every objective, never empty."""
        if self.metrics:
            return list(zip(self.metrics, self.directions, strict=True))
        return [(self.metric, self.direction)]


@dataclass(frozen=True)
class TrainResult:
    """One training run (`tuner.train`): the resolved config, one history row per reporting
    point, the last row's metrics and the trained model."""

    objective: str
    dataset: str
    config: Mapping[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    model: Model | None = None

    @property
    def metrics(self) -> dict[str, float]:
        """The last reporting point's metrics (val_accuracy, val_loss, ...)."""
        return dict(self.history[-1]) if self.history else {}
