"""The spec stored with a study: a worker with only the study's name runs it, and a worker whose
own file differs stops with one line before any trial."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from toy_studies import write_multi_objective

import tuner


def test_a_worker_with_only_the_name_runs_the_stored_spec(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    spec = tuner.load_study_spec(write_multi_objective(tmp_path / "here"), trials=2)
    tuner.run_study(spec, storage=storage, tracking=False, progress=False)
    monkeypatch.chdir(tmp_path)  # no toy.toml here: the worker has only the name
    result = tuner.join_study("toy", storage=storage, tracking=False, progress=False,
                              trials=None)
    assert set(result.stages) == {"coarse", "fine"}
    assert result.stages["coarse"].complete + result.stages["coarse"].pruned == 2
    with pytest.raises(tuner.SpecError, match=r"^No study 'nosuch' in storage "):
        tuner.join_study("nosuch", storage=storage, tracking=False)


def test_a_worker_whose_own_file_differs_stops_with_one_line_before_any_trial(
        tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    tuner.run_study(write_multi_objective(tmp_path / "a"), storage=storage, tracking=False,
                    progress=False, overrides={"epochs": 1})
    before = len(optuna.load_study(study_name="toy/coarse", storage=storage).trials)
    other = write_multi_objective(tmp_path / "b", trials=5)
    with pytest.raises(tuner.SpecError) as info:
        tuner.join_study(other, storage=storage, tracking=False, progress=False)
    message = str(info.value)
    assert "\n" not in message and "does not describe study 'toy'" in message
    assert "stages.coarse.trials: 5 here, 3 stored" in message
    assert len(optuna.load_study(study_name="toy/coarse", storage=storage).trials) == before
    # the same file with the stored overrides (epochs=1, from the study's own run) is welcome
    same = tuner.join_study(write_multi_objective(tmp_path / "c"), storage=storage, tracking=False,
                            progress=False)
    assert same.name == "toy"
