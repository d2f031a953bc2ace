"""A Population Based Training stage across processes (engine/pbt.py): killed with SIGKILL in
the middle of a generation and run again, it ends with the same population and schedule as an
uninterrupted run; two worker processes share it with no member lost or duplicated; an exploit
continues exactly its parent's checkpoint; the final replays the stored schedule step by step."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import mlflow
import optuna
import pytest
import sqlalchemy
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState
from test_trial_resume import _freeze_when

from tuner.search.pbt import params_at

STUDY = """
name = "pbt"
objective = "mlp"
dataset = "digits"
metric = "val_accuracy"
seed = 2

[fixed]
epochs = 6
batch_size = 16
widths = [32, 32, 32]
milestones = []
threads = 1

[[stages]]
name = "pbt"
pbt = {{ population = 4, interval = 2, generations = 3, mutable = ["lr", "weight_decay"]{extra} }}
[stages.space]
lr = {{ low = 1e-3, high = 0.3, log = true }}
weight_decay = {{ low = 1e-6, high = 1e-2, log = true }}

[final]
monitor = 100
"""
ENV = {"TUNER_CHECKPOINT_EVERY": "0", "TUNER_HEARTBEAT_SECONDS": "1"}


def _folder(tmp_path: Path, name: str, extra: str = "") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "study.toml").write_text(STUDY.format(extra=extra))
    return folder


def _command(folder: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tuner", "-q", "study", str(folder / "study.toml"),
            "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}", *extra]


def _run(folder: Path, *extra: str) -> None:
    done = subprocess.run(_command(folder, *extra), cwd=folder, env={**os.environ, **ENV},
                          timeout=600, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr


_STORAGES: dict[Path, optuna.storages.RDBStorage] = {}


def _study(folder: Path) -> optuna.Study | None:
    db = folder / "tuner.db"
    if not db.exists():
        return None
    try:  # a stopped process may hold SQLite's lock: then nothing is known yet
        if folder not in _STORAGES:
            _STORAGES[folder] = optuna.storages.RDBStorage(f"sqlite:///{db}")
        return optuna.load_study(study_name="pbt/pbt", storage=_STORAGES[folder])
    except (KeyError, sqlalchemy.exc.OperationalError, optuna.exceptions.StorageInternalError):
        return None


def _members(study: optuna.Study) -> dict[tuple[int, int], FrozenTrial]:
    """(generation, member) -> its one COMPLETE trial (asserting there is exactly one)."""
    found: dict[tuple[int, int], FrozenTrial] = {}
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        key = (t.user_attrs["generation"], t.user_attrs["member"])
        assert key not in found, f"member {key} completed twice"
        found[key] = t
    assert sorted(found) == [(g, m) for g in range(3) for m in range(4)]
    return found


def _outcome(study: optuna.Study) -> dict[tuple[int, int], tuple[dict, float, int | None]]:
    return {key: (t.params, t.value, t.user_attrs["parent_trial"] is not None)
            for key, t in _members(study).items()}


def _mid_generation(folder: Path) -> Callable[[], bool]:
    """A member of the second generation is RUNNING, past its parent's steps, not done."""
    def ready() -> bool:
        study = _study(folder)
        return study is not None and any(
            t.state == TrialState.RUNNING and t.user_attrs.get("generation") == 1
            and 2 < len(t.intermediate_values) < 4 for t in study.get_trials(deepcopy=False))
    return ready


def test_a_killed_pbt_stage_ends_as_an_uninterrupted_one(tmp_path: Path) -> None:
    plain = _folder(tmp_path, "plain")
    _run(plain)
    reference = _study(plain)
    assert reference is not None

    killed = _folder(tmp_path, "killed")
    proc = subprocess.Popen(_command(killed), cwd=killed, env={**os.environ, **ENV},
                            text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _freeze_when(proc, _mid_generation(killed))
    proc.kill()
    proc.wait()
    _run(killed)
    again = _study(killed)
    assert again is not None
    assert _outcome(again) == _outcome(reference)  # same population, params and values
    schedule = reference.user_attrs["schedule"]
    assert [e["params"] for e in again.user_attrs["schedule"]] == \
        [e["params"] for e in schedule]
    assert [e["step"] for e in schedule] == [1, 3, 5]
    failed = again.get_trials(states=(TrialState.FAIL,))
    assert failed and all(t.user_attrs.get("generation") == 1 for t in failed)


def test_two_workers_share_a_pbt_stage(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "jobs")
    _run(folder, "--jobs", "2")
    study = _study(folder)
    assert study is not None
    members = _members(study)  # each (generation, member) exactly once
    for (generation, _), t in members.items():
        parent = t.user_attrs["parent_trial"]
        if generation == 0:
            assert parent is None
        else:  # continued from a finished member of the generation before, at its end
            assert study.trials[parent].user_attrs["generation"] == generation - 1
            assert t.user_attrs["resumed_from_trial"] == parent
            assert t.user_attrs["resumed_at_step"] == 2 * generation
    assert study.user_attrs["schedule"]


def test_an_exploit_continues_exactly_its_parents_checkpoint(tmp_path: Path) -> None:
    """With perturb [1.0] and no resampling an exploiting member trains with its parent's
    params: from the parent's weights, optimizer state and random state it must then match,
    step for step, the parent's own continuation."""
    folder = _folder(tmp_path, "exact", ", explore = { perturb = [1.0], resample = 0.0 }")
    _run(folder)
    study = _study(folder)
    assert study is not None
    members = _members(study)
    exploits = [t for (g, _), t in members.items() if g > 0 and t.user_attrs["exploited"]]
    assert exploits
    for child in exploits:
        parent = child.user_attrs["parent_trial"]
        sibling = next(t for (g, _), t in members.items() if t is not child
                       and g == child.user_attrs["generation"]
                       and t.user_attrs["parent_trial"] == parent)  # the parent going on
        assert child.params == sibling.params
        assert child.intermediate_values == sibling.intermediate_values
        assert child.value == sibling.value


def test_the_final_replays_the_schedule_step_by_step(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "final")
    _run(folder, "--final")
    study = _study(folder)
    assert study is not None
    schedule = study.user_attrs["schedule"]
    final = study.user_attrs["final"]
    assert final["schedule"] == schedule
    assert final["trial"] == schedule[-1]["trial"]
    last = [t for t in study.trials if t.user_attrs.get("generation") == 2]
    assert final["trial"] == max(last, key=lambda t: t.value).number  # the answer: the best
    assert final["config"]["lr"] == schedule[-1]["params"]["lr"]      # of the last generation
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    client = MlflowClient()
    run = client.get_run(final["mlflow_run_id"])
    lrs = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "lr")}
    assert sorted(lrs) == list(range(1, 7))
    for step, lr in lrs.items():  # a constant schedule: the lr in force is the param
        assert lr == pytest.approx(params_at(schedule, step)["lr"])

    (folder / "study.toml").write_text(STUDY.format(extra="") + 'use = "member"\n')
    done = subprocess.run([sys.executable, "-m", "tuner", "-q", "final", "study.toml",
                           "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}"], cwd=folder,
                          env={**os.environ, **ENV}, timeout=300, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    member = _study(folder).user_attrs["final"]  # type: ignore[union-attr]
    assert member["trial"] == final["trial"] and member["schedule"] == schedule
    winner = study.trials[final["trial"]]
    assert member["monitor_accuracy"] == winner.value  # the member's own run, not retrained
    assert member["train_size"] < final["train_size"]  # it never saw the val split
