"""A trial killed mid-way continues from its checkpoint when the same command runs again, and
ends exactly as it would have without the kill (engine/checkpoints.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState
from toy_studies import ONE_TRIAL

CASES = {
    "softmax": ("epochs = 40\nbatch_size = 1\noptimizer = \"momentum\"",
                "lr = { choices = [0.01] }"),
    "two_layer": ("hidden = 30\ncycles = 4\nn_s = 200\nbatch_size = 10\npoints_per_cycle = 6",
                  "lambda = { choices = [0.001] }"),
    "mlp": ("epochs = 30\nbatch_size = 8\nwidths = [64, 32, 16]",
            "lr = { choices = [0.02] }"),
}
ENV = {"TUNER_CHECKPOINT_EVERY": "0", "TUNER_HEARTBEAT_SECONDS": "1"}


def _command(folder: Path, tracking: bool = False) -> list[str]:
    return [sys.executable, "-m", "tuner", "-q", "study", str(folder / "study.toml"),
            *(["--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}"] if tracking
              else ["--no-tracking"])]


_STORAGES: dict[Path, optuna.storages.RDBStorage] = {}


def _trials(folder: Path) -> list[FrozenTrial]:
    """The study's trials, read through one storage per folder (checks run often)."""
    db = folder / "tuner.db"
    if not db.exists():
        return []
    try:  # a stopped study may hold SQLite's lock: then nothing is known yet
        if folder not in _STORAGES:
            _STORAGES[folder] = optuna.storages.RDBStorage(f"sqlite:///{db}")
        return optuna.load_study(study_name="resume/only", storage=_STORAGES[folder]).trials
    except (KeyError, sqlalchemy.exc.OperationalError, optuna.exceptions.StorageInternalError):
        return []


def _folder(tmp_path: Path, name: str, objective: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    fixed, space = CASES[objective]
    (folder / "study.toml").write_text(ONE_TRIAL.format(name="resume", objective=objective,
                                                        fixed=fixed, space=space))
    return folder


def _no_time(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if k != "seconds"}


def _freeze_when(proc: subprocess.Popen[str], ready: Callable[[], bool]) -> None:
    """Leave `proc` stopped (SIGSTOP) at the first moment `ready()` holds. It is only ever
    checked while the process is stopped, and the process runs ~5 ms between checks, so what
    was checked is still true when this returns, however loaded the machine."""
    deadline = time.monotonic() + 120
    while True:
        proc.send_signal(signal.SIGSTOP)
        if ready():
            return
        assert proc.poll() is None, "the command ended before the state was reached"
        assert time.monotonic() < deadline, "the state was not reached in 120 s"
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.005)


def _mid_trial(folder: Path, k: int, total: int) -> Callable[[], bool]:
    """The trial is RUNNING with more than k steps reported (its checkpoint at step >= k is
    stored) and at least two still to come."""
    def ready() -> bool:
        trials = _trials(folder)
        return bool(trials) and trials[0].state == TrialState.RUNNING and \
            k < len(trials[0].intermediate_values) < total - 1
    return ready


@pytest.mark.parametrize("objective", list(CASES))
def test_killed_trial_continues_from_its_checkpoint_bit_for_bit(tmp_path: Path,
                                                                 objective: str) -> None:
    env = {**os.environ, **ENV}
    plain = _folder(tmp_path, "plain", objective)
    subprocess.run(_command(plain), cwd=plain, env=env, check=True, timeout=300,
                   capture_output=True)
    (reference,) = _trials(plain)
    total = len(reference.intermediate_values)

    killed = _folder(tmp_path, "killed", objective)
    proc = subprocess.Popen(_command(killed), cwd=killed, env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _freeze_when(proc, _mid_trial(killed, 2, total))
    proc.kill()
    proc.wait()
    assert list((killed / "checkpoints").rglob("*")), "no checkpoint was stored"
    done = subprocess.run(_command(killed), cwd=killed, env=env, timeout=300,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    first, retry = _trials(killed)
    assert first.state == TrialState.FAIL and retry.state == TrialState.COMPLETE
    assert retry.value == reference.value  # bit for bit
    assert _no_time(retry.user_attrs["metrics"]) == _no_time(reference.user_attrs["metrics"])
    assert retry.intermediate_values == reference.intermediate_values
    assert retry.user_attrs["resumed_from_trial"] == 0
    at = retry.user_attrs["resumed_at_step"]
    assert 2 <= at < total and retry.user_attrs["steps"] == total
    assert retry.user_attrs["epochs"] < reference.user_attrs["epochs"]  # only the rest
    assert not [p for p in (killed / "checkpoints").rglob("*") if p.is_file()]  # cleaned up
    show = subprocess.run([sys.executable, "-m", "tuner", "show", "resume"], cwd=killed,
                          capture_output=True, text=True, timeout=120).stdout
    assert f"resumed #0 at step {at}" in show and "checkpoints: 0 files, 0.0 MB in " in show


def test_a_killed_trials_damaged_checkpoint_is_refused_and_its_retry_trains_from_scratch(
    tmp_path: Path
) -> None:
    """SIGKILL mid-trial, one bit of its stored checkpoint flipped: the retry (the heartbeat's)
    refuses it with a WARNING, trains every step and ends as the run without a checkpoint."""
    env = {**os.environ, **ENV}
    plain = _folder(tmp_path, "plain", "softmax")
    subprocess.run(_command(plain), cwd=plain, env=env, check=True, timeout=300,
                   capture_output=True)
    (reference,) = _trials(plain)
    total = len(reference.intermediate_values)
    killed = _folder(tmp_path, "killed", "softmax")
    proc = subprocess.Popen(_command(killed), cwd=killed, env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _freeze_when(proc, _mid_trial(killed, 2, total))
    proc.kill()
    proc.wait()
    stored = killed / "checkpoints" / _trials(killed)[0].user_attrs["checkpoint"]["id"]
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))
    done = subprocess.run(_command(killed), cwd=killed, env=env, timeout=300,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "trial 1: checkpoint of trial 0 not loaded: its SHA-256 " in done.stderr
    assert "Traceback" not in done.stderr
    first, retry = _trials(killed)
    assert first.state == TrialState.FAIL and retry.state == TrialState.COMPLETE
    assert retry.value == reference.value and retry.user_attrs["steps"] == total
    assert retry.user_attrs["epochs"] == reference.user_attrs["epochs"]  # every one of them
    assert "resumed_from_trial" not in retry.user_attrs
    assert not [p for p in (killed / "checkpoints").rglob("*") if p.is_file()]


def test_sigterm_queues_the_trial_to_continue_from_its_checkpoint(tmp_path: Path) -> None:
    env = {**os.environ, **ENV}
    plain = _folder(tmp_path, "plain", "softmax")
    subprocess.run(_command(plain), cwd=plain, env=env, check=True, timeout=300,
                   capture_output=True)
    (reference,) = _trials(plain)
    folder = _folder(tmp_path, "stopped", "softmax")
    proc = subprocess.Popen(_command(folder, tracking=True), cwd=folder, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _freeze_when(proc, _mid_trial(folder, 2, len(reference.intermediate_values)))
    proc.send_signal(signal.SIGTERM)  # delivered when it continues: it stops at its next report
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "to resume, run:" in out, err
    stopped, queued = _trials(folder)
    assert stopped.state == TrialState.FAIL and stopped.user_attrs["reason"] == "interrupted"
    assert queued.state == TrialState.WAITING and "checkpoint" in queued.user_attrs
    done = subprocess.run(_command(folder, tracking=True), cwd=folder, env=env, timeout=300,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    resumed = _trials(folder)[1]
    assert resumed.state == TrialState.COMPLETE and resumed.value == reference.value
    assert resumed.user_attrs["resumed_from_trial"] == 0
    from mlflow import MlflowClient  # its MLflow run shows the whole curve, from step 1

    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    curve = client.get_metric_history(resumed.user_attrs["mlflow_run_id"], "val_accuracy")
    assert sorted(m.step for m in curve) == list(range(1, len(reference.intermediate_values) + 1))


def _final(folder: Path) -> dict[str, float]:
    study = optuna.load_study(study_name="resume/only", storage=f"sqlite:///{folder / 'tuner.db'}")
    return {k: v for k, v in study.user_attrs["final"].items() if k.startswith("test_")}


def _final_saved(folder: Path) -> bool:
    """The final has saved a checkpoint and recorded its SHA-256 (a file alone is not loaded)."""
    try:
        if folder not in _STORAGES:
            _STORAGES[folder] = optuna.storages.RDBStorage(f"sqlite:///{folder / 'tuner.db'}")
        storage = _STORAGES[folder]
        attrs = storage.get_study_system_attrs(storage.get_study_id_from_name("resume/only"))
    except (KeyError, sqlalchemy.exc.OperationalError, optuna.exceptions.StorageInternalError):
        return False
    return any(k.startswith("final_checkpoint:") for k in attrs)


def test_killed_final_continues_from_its_checkpoint(tmp_path: Path) -> None:
    env = {**os.environ, **ENV}
    plain = _folder(tmp_path, "plain", "softmax")
    subprocess.run([*_command(plain), "--final"], cwd=plain, env=env, check=True, timeout=300,
                   capture_output=True)
    killed = _folder(tmp_path, "killed", "softmax")
    subprocess.run(_command(killed), cwd=killed, env=env, check=True, timeout=300,
                   capture_output=True)
    final = [sys.executable, "-m", "tuner", "final", str(killed / "study.toml"),
             "--no-tracking"]
    proc = subprocess.Popen(final, cwd=killed, env=env, text=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _freeze_when(proc, lambda: _final_saved(killed))  # saved while it runs, removed at its end
    proc.kill()
    proc.wait()
    done = subprocess.run(final, cwd=killed, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "final: continuing from its checkpoint" in done.stderr
    assert _final(killed) == _final(plain)  # bit for bit
    assert not list((killed / "checkpoints" / "final").glob("*/*"))  # removed when done
