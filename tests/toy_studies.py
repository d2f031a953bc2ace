"""Toy study files shared by the unit and end-to-end tests (tests/toy_objective.py trains them in
no time): a two-stage study, a multi-objective one with a pick rule, a study for worker
processes and one for interrupts; ONE_TRIAL, one trial of a real objective (checkpoint tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

import tuner
from tuner.cli import main
from tuner.spec import StudySpec

ONE_TRIAL = """
name = "{name}"
objective = "{objective}"
dataset = "digits"
metric = "val_accuracy"
seed = 0

[fixed]
{fixed}

[[stages]]
name = "only"
sampler = "random"
trials = 1
[stages.space]
{space}
"""

TWO_STAGES = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
metric = "val_accuracy"
seed = 3

[fixed]
epochs = 3

[[stages]]
name = "coarse"
sampler = "random"
pruner = { type = "median", n_startup_trials = 2 }
trials = 6
[stages.space]
x = { low = -10.0, high = 10.0 }
y = { low = 0, high = 10 }
optimizer = { choices = ["sgd", "momentum"] }
momentum = { low = 0.5, high = 0.99, when = { optimizer = ["momentum"] } }

[[stages]]
name = "fine"
sampler = "tpe"
trials = 4
refine = { from = "coarse", params = ["x", "y"], top_k = 2, enqueue = 2 }

[final]
monitor = 50
"""


def study_file(tmp_path: Path, text: str = TWO_STAGES) -> str:
    path = tmp_path / "toy.toml"
    path.write_text(text)
    return str(path)


def run_cli(path: str, storage_url: str, *extra: str) -> int:
    return main(["-q", "study", path, "--storage", storage_url, "--no-tracking", *extra])


MULTI_OBJECTIVE = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
metrics = ["val_accuracy", "seconds"]
seed = 5

[fixed]
epochs = 2

[[stages]]
name = "coarse"
sampler = {{ type = "random" }}
pruner = {{ type = "median", n_startup_trials = 2 }}
trials = {trials}
[stages.space]
x = {{ low = -5.0, high = 5.0 }}
optimizer = {{ choices = ["sgd", "momentum"] }}
momentum = {{ low = 0.5, high = 0.99, when = {{ optimizer = ["momentum"] }} }}

[[stages]]
name = "fine"
trials = 2
refine = {{ from = "coarse", params = ["x"], top_k = 2 }}
set = {{ epochs = 3 }}

[final]
monitor = 40
pick = {{ max = "val_accuracy", where = "seconds <= 10" }}
"""


def write_multi_objective(folder: Path, trials: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "toy.toml").write_text(MULTI_OBJECTIVE.format(trials=trials))
    return folder / "toy.toml"


SLEEPY = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
metric = "val_accuracy"
direction = "maximize"
seed = 0

[fixed]
epochs = 3
sleep = {sleep}

[[stages]]
name = "coarse"
sampler = "random"
trials = 8
[stages.space]
x = {{ low = -5.0, high = 5.0 }}

[[stages]]
name = "fine"
sampler = "tpe"
trials = 4
refine = {{ from = "coarse", params = ["x"], top_k = 3, margin = 0.5 }}
"""


def sleepy_spec(tmp_path: Path, **kwargs: Any) -> StudySpec:
    (tmp_path / "toy.toml").write_text(SLEEPY.format(sleep=0.0))
    return tuner.load_study_spec(tmp_path / "toy.toml", **kwargs)


TARGET = 4


KILL_STUDY = f"""
objective = "tests.toy_objective:TOY"
dataset = "digits"

[fixed]
epochs = 3
sleep = 0.1

[[stages]]
name = "only"
sampler = "random"
trials = {TARGET}
[stages.space]
x = {{ low = -10.0, high = 10.0 }}
"""


def kill_trials(storage_url: str) -> list[FrozenTrial]:
    try:
        return optuna.load_study(study_name="kill/only", storage=storage_url).get_trials()
    except KeyError:
        return []
