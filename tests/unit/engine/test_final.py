"""`tuner final`: the test split is read only by final, once; the result is stored and shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from objectives import data as data_mod
from tuner.cli import main
from tuner.engine import preflight
from tuner.storage import open_storage

STUDY = """
objective = "tests.toy_objective:TOY"
dataset = "digits"

[fixed]
epochs = 2

[[stages]]
name = "coarse"
sampler = "random"
trials = 3
[stages.space]
x = { low = -10.0, high = 10.0 }

[final]
monitor = 40
set = { epochs = 3 }
"""


class Spy:
    """A real dataset whose final_splits (the only door to the test split) is counted."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.final_calls = 0
        self.train, self.val = real.train, real.val
        self.image_shape, self.classes, self.task = real.image_shape, real.classes, real.task
        self.name = real.name
        self.class_names = real.class_names

    def final_splits(self, monitor: int) -> Any:
        self.final_calls += 1
        return self.real.final_splits(monitor)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    holder = Spy(data_mod.load("digits"))

    def fake_load(spec: Any, options: Any, given: Any = None) -> Spy:
        assert spec.dataset == "digits"
        return holder

    monkeypatch.setattr(preflight, "load_data", fake_load)
    return holder


def test_test_split_untouched_until_final(
    tmp_path: Path, storage_url: str, spy: Spy, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fin.toml"
    path.write_text(STUDY)
    base = ["-q", "study", str(path), "--storage", storage_url, "--no-tracking"]
    assert main(base) == 0
    assert spy.final_calls == 0
    assert main(["-q", "final", *base[2:]]) == 0
    assert spy.final_calls == 1
    study = optuna.load_study(study_name="fin/coarse", storage=storage_url)
    final = study.user_attrs["final"]
    assert final["trial"] == study.best_trial.number
    assert final["config"]["epochs"] == 3 and final["config"]["x"] == study.best_params["x"]
    assert 0.0 <= final["test_accuracy"] <= 1.0 and final["test_size"] > 0
    assert f"final fin: test accuracy {final['test_accuracy']:.4f}" in capsys.readouterr().out
    assert main(["list", "--storage", storage_url]) == 0
    assert f"{final['test_accuracy']:.4g}" in capsys.readouterr().out


def test_final_uses_the_best_stage_set_then_final_set(
    tmp_path: Path, storage_url: str, spy: Spy
) -> None:
    path = tmp_path / "fin.toml"
    path.write_text(STUDY.replace("trials = 3\n", "trials = 3\nset = { y = 3, epochs = 4 }\n"))
    assert main(["-q", "study", str(path), "--storage", storage_url, "--no-tracking",
                 "--final"]) == 0
    study = optuna.load_study(study_name="fin/coarse", storage=storage_url)
    config = study.user_attrs["final"]["config"]
    assert config["y"] == 3 and config["epochs"] == 3  # stage set, then [final] set on top


def test_study_with_final_flag_runs_final_once(tmp_path: Path, storage_url: str, spy: Spy) -> None:
    path = tmp_path / "fin.toml"
    path.write_text(STUDY)
    assert main(["-q", "study", str(path), "--storage", storage_url, "--no-tracking",
                 "--final"]) == 0
    assert spy.final_calls == 1


def test_final_without_completed_trials_is_one_line(
    tmp_path: Path, storage_url: str, spy: Spy, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fin.toml"
    path.write_text(STUDY)
    open_storage(storage_url)  # exists, empty (a missing one is refused: test_bad_inputs_state)
    assert main(["final", str(path), "--storage", storage_url, "--no-tracking"]) == 1
    assert "error: Study 'fin' has no completed trial yet; run `tuner study fin` first." in \
        capsys.readouterr().err
    assert spy.final_calls == 0
