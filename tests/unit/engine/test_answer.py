"""One answer: StudyResult.best_*, the final's configuration, `tuner show`, `tuner list` and
MLflow name the same trial, for every built-in study (its stages, refine tables, pick rule and
objectives) and for a pick rule that is not the study metric's best."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient
from toy_objective import ToyModel

import tuner
from objectives.base import Param, Reporter, RunResult, Split
from tuner.cli import main
from tuner.engine.export import description
from tuner.engine.spec_store import stored_answer
from tuner.search.space import suggest
from tuner.spec import builtin_names


class Instant:
    """Any built-in study's objective, trained in no time: its params as they are (so every
    config the study declares is valid), a constant model."""

    normalize = "feature"

    def __init__(self, params: Mapping[str, Param], name: str) -> None:
        self.params, self.name = params, name

    def fit(self, config: Mapping[str, Any], train: Split, val: Split, report: Reporter,
            seed: int, image_shape: tuple[int, int, int]) -> RunResult:
        row = {"epoch": 1.0, "val_accuracy": 0.5, "val_loss": 0.5, "seconds": 0.01}
        report(1, row)
        return RunResult(model=ToyModel(0, 0.5), history=[row])


def _fill(spec: tuner.StudySpec, storage: str, rng: random.Random) -> None:
    """Every stage of `spec` given its trial count of finished trials with random values (the
    study's own spaces and conditions; metrics and seconds in the user attrs, as the engine
    stores them), so the study is done and only the answer and the final remain."""
    for stage in spec.stages:
        directions = [d for _, d in spec.objectives]
        study = optuna.create_study(storage=storage, study_name=spec.study_name(stage.name),
                                    directions=directions, load_if_exists=True)
        for _ in range(stage.trials or 4):
            trial = study.ask()
            suggest(trial, stage.space)
            metrics = {"val_accuracy": rng.uniform(0.5, 0.99), "val_loss": rng.uniform(0.1, 2),
                       "seconds": rng.uniform(1, 10)}
            trial.set_user_attr("metrics", metrics)
            trial.set_user_attr("seconds", metrics["seconds"])
            values = [metrics[m] for m in spec.metric_names]
            study.tell(trial, values if len(values) > 1 else values[0])


def _searched(spec: tuner.StudySpec, final: tuner.FinalResult,
              params: Mapping[str, Any]) -> dict[str, Any]:
    """The final's value of each searched param ([final] set may replace some: e.g. a longer
    schedule's milestones; those are not the search's to compare)."""
    return {k: final.config[k] if k not in spec.final.overrides else v
            for k, v in params.items()}


SEARCHES = [n for n in builtin_names() if not any(s.pbt for s in tuner.load_study_spec(n).stages)]
"""The built-in studies whose stages search (a PBT study's answer, its last generation's best
member, is pinned to its final by tests/e2e/test_pbt_processes.py)."""


@pytest.mark.parametrize("name", SEARCHES)
def test_best_params_are_the_finals_configuration_for_every_built_in_study(
        name: str, tmp_path: Path) -> None:
    spec = tuner.load_study_spec(name, dataset="digits", confirm=False)
    spec = dataclasses.replace(spec, objective=Instant(spec.objective.params, name))
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    _fill(spec, storage, random.Random(name))
    result = tuner.run_study(spec, storage=storage, tracking=False, progress=False, final=True,
                             checkpoints=False)
    assert result.final is not None and result.answer is not None
    assert result.best_params == _searched(spec, result.final, result.best_params)
    assert result.best_params == dict(result.answer.params)
    assert (result.best_stage, result.best_trial) == (
        result.final.stage.split("/")[1], result.final.trial)
    assert result.answer.rule == result.final.rule
    again = tuner.run_study(spec, storage=storage, tracking=False, progress=False)
    assert again.best_params == result.best_params  # resumed: the same answer


def test_a_pick_rule_is_the_answer_everywhere(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """sgd_batch_size_pareto picks the most accurate trial within 5 s, not the most accurate:
    the Python API, the final, `tuner show`, `tuner list` and MLflow all name that one."""
    spec = tuner.load_study_spec("sgd_batch_size_pareto", dataset="digits")
    spec = dataclasses.replace(spec, objective=Instant(spec.objective.params, "softmax"))
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _fill(spec, storage, random.Random(1))
    trials = optuna.load_study(study_name="sgd_batch_size_pareto/search", storage=storage).trials
    fastest_good = max((t for t in trials if t.user_attrs["seconds"] <= 5),
                       key=lambda t: t.values[0])
    most_accurate = max(trials, key=lambda t: t.values[0])
    assert fastest_good.number != most_accurate.number  # the rule makes a difference here
    result = tuner.run_study(spec, storage=storage, tracking_uri=tracking, progress=False,
                             final=True, checkpoints=False)
    assert result.best_trial == result.final.trial == fastest_good.number
    assert result.best_params == fastest_good.params
    assert result.objectives == [("val_accuracy", "maximize"), ("seconds", "minimize")]
    stored = stored_answer(optuna.storages.get_storage(storage), "sgd_batch_size_pareto")
    assert stored is not None and stored["trial"] == fastest_good.number
    assert "pick max val_accuracy where seconds <= 5" in stored["rule"]

    capsys.readouterr()
    assert main(["show", "sgd_batch_size_pareto", "--storage", storage]) == 0
    shown = capsys.readouterr().out
    assert f"answer: search:{fastest_good.number}, val_accuracy" in shown
    assert main(["list", "--storage", storage]) == 0
    assert f"answer: search:{fastest_good.number}," in capsys.readouterr().out

    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("sgd_batch_size_pareto")
    assert experiment is not None
    assert experiment.tags["answer.trial"] == f"search:{fastest_good.number}"
    assert experiment.tags["answer.rule"].startswith("pick max val_accuracy where seconds <= 5")
    described = description(spec, result.final)  # what the registered version says
    assert f"trial {fastest_good.number} of sgd_batch_size_pareto/search" in described
    assert "chosen by pick max val_accuracy where seconds <= 5" in described
