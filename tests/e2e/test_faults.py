"""Faults in the middle of a study leave clean state: a full disk, Ctrl-C / SIGTERM at a trial,
two --jobs workers starting on fresh stores, the PostgreSQL server gone for longer than workers
wait for it. Afterwards nothing is left RUNNING, in Optuna or in MLflow, each stage has exactly
one MLflow parent run, the error is one line, and the rerun ends each stage at its exact count."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import FrozenTrial, TrialState
from paths import ROOT

from tuner.search.trials import own_trials

State = TrialState

STUDY = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
seed = 0

[fixed]
epochs = 3
{extra}

[[stages]]
name = "coarse"
sampler = "random"
trials = {trials}
{coarse}
[stages.space]
x = {{ low = -5.0, high = 5.0 }}

[[stages]]
name = "fine"
sampler = "random"
trials = 2
refine = {{ from = "coarse", params = ["x"], top_k = 2 }}
{fine}
"""


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
            "TUNER_HEARTBEAT_SECONDS": "1", **extra}


def _study_file(folder: Path, trials: int = 4, gate: Path | None = None, coarse: str = "",
                fine: str = "") -> Path:
    """The two-stage toy study; `gate` holds every trial, `coarse` / `fine` are lines added to
    that stage's table."""
    path = folder / "toy.toml"
    path.write_text(STUDY.format(trials=trials, extra=f'hold = "{gate}"' if gate else "",
                                 coarse=coarse, fine=fine))
    return path


def _start(argv: list[str], folder: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tuner", "-q", *argv], cwd=folder,
                            env=_env(**env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def _trials(storage: str, name: str) -> list[FrozenTrial]:
    try:
        # the stage's own trials (a fine stage's warm-start copies were not run)
        return own_trials(optuna.load_study(study_name=name, storage=storage).get_trials())
    except KeyError:
        return []


def _wait_held(storage: str, proc: subprocess.Popen[str], timeout: float = 120,
               stage: str = "toy/coarse") -> FrozenTrial:
    """The trial of `stage` held at the gate (RUNNING, past its first report)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = [t for t in _trials(storage, stage)
                if t.state == State.RUNNING and t.intermediate_values]
        if held:
            return held[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no trial reached the gate")


def _mlflow_state(tracking_uri: str) -> tuple[dict[str, int], list[str]]:
    return _mlflow_state_of(tracking_uri, "toy")


def _mlflow_state_of(tracking_uri: str, study: str) -> tuple[dict[str, int], list[str]]:
    """Stage runs per stage, and the names of runs still RUNNING."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(study)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    stages: dict[str, int] = {}
    for run in runs:
        if run.data.tags.get("tuner.role") == "stage":
            stages[run.data.tags["stage"]] = stages.get(run.data.tags["stage"], 0) + 1
    return stages, [r.info.run_name for r in runs if r.info.status == "RUNNING"]


def _assert_clean(storage: str, tracking_uri: str, coarse: int) -> None:
    """Both stages at their exact count, nothing RUNNING anywhere, one parent run each."""
    for name, target in (("toy/coarse", coarse), ("toy/fine", 2)):
        trials = _trials(storage, name)
        assert sum(t.state == State.COMPLETE for t in trials) == target, name
        assert not [t.number for t in trials if t.state in (State.RUNNING, State.WAITING)]
    stages, running = _mlflow_state(tracking_uri)
    assert stages == {"coarse": 1, "fine": 1}
    assert running == []


def _one_error_line(err: str, start: str) -> None:
    assert "Traceback" not in err and not [line for line in err.splitlines()
                                           if line.startswith(" ")], err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(start), err


def _fill(filler: Path) -> None:
    """Write zeros to `filler` until the disk refuses a single byte; unbuffered, so nothing is
    left in a buffer to fail again when the file is closed."""
    fd = os.open(filler, os.O_WRONLY | os.O_APPEND)
    try:
        for size in (1 << 16, 1 << 12, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
    finally:
        os.close(fd)


def _can_mount() -> bool:
    return os.geteuid() == 0 and subprocess.run(["which", "mount"],
                                                capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_mount(), reason="needs root to mount a small tmpfs")
def test_disk_full_mid_trial_is_one_line_and_the_rerun_leaves_nothing_running(
    tmp_path: Path
) -> None:
    """The storage and MLflow store on a small tmpfs, filled up while a trial is held at its
    gate: one error line (no MLflow traceback); after space is freed the rerun ends every stage
    at its count and closes every run left RUNNING."""
    disk = tmp_path / "disk"
    disk.mkdir()
    for options in ("size=32m,huge=never", "size=32m"):  # huge pages would fill it by files
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(disk)],
                                 capture_output=True, text=True)
        if mounted.returncode == 0:
            break
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        gate = tmp_path / "gate"
        path = _study_file(tmp_path, gate=gate)
        storage = f"sqlite:///{disk / 'tuner.db'}"
        tracking_uri = f"sqlite:///{disk / 'mlflow.db'}"
        argv = ["study", str(path), "--storage", storage, "--tracking-uri", tracking_uri]
        filler = disk / "filler"
        filler.touch()  # made now, so filling needs no new inode later
        proc = _start(argv, tmp_path)
        held = _wait_held(storage, proc)
        _fill(filler)
        gate.touch()
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 1, err
        _one_error_line(err, f"error: The disk of the storage '{storage}' is full")
        assert _trials(storage, "toy/coarse")[held.number].state == State.RUNNING  # not FAIL

        filler.unlink()
        rerun = _start(argv, tmp_path)
        _, err = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, err
        _assert_clean(storage, tracking_uri, coarse=4)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_at_a_trial_leaves_nothing_running(tmp_path: Path, sig: signal.Signals
                                                    ) -> None:
    """Ctrl-C / SIGTERM while a trial is held at its gate: the trial is told FAIL, its MLflow
    run and the stage's parent run are ended (not RUNNING), and the rerun finishes exactly."""
    gate = tmp_path / "gate"
    path = _study_file(tmp_path, gate=gate)
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = ["study", str(path), "--storage", storage, "--tracking-uri", tracking_uri]
    proc = _start(argv, tmp_path)
    held = _wait_held(storage, proc)
    proc.send_signal(sig)
    assert proc.stderr is not None
    seen = ""
    while "stopping at the running trial's next report" not in seen:  # the signal landed
        line = proc.stderr.readline()
        assert line, seen
        seen += line
    gate.touch()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, seen + err
    assert "Traceback" not in err
    trials = _trials(storage, "toy/coarse")
    assert trials[held.number].state == State.FAIL
    assert trials[held.number].user_attrs["reason"] == "interrupted"
    assert not [t for t in trials if t.state == State.RUNNING]
    stages, running = _mlflow_state(tracking_uri)
    assert stages == {"coarse": 1} and running == []
    client = MlflowClient(tracking_uri)
    stage_run = optuna.load_study(study_name="toy/coarse",
                                  storage=storage).user_attrs["mlflow_parent_run_id"]
    assert client.get_run(stage_run).info.status == "KILLED"

    rerun = _start(argv, tmp_path)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    _assert_clean(storage, tracking_uri, coarse=4)
    assert client.get_run(stage_run).info.status == "FINISHED"  # the same run, finished


def test_a_stage_stopped_early_stays_stopped_after_a_kill(tmp_path: Path) -> None:
    """kill -9 while the fine stage's trial is held at its gate, after the coarse stage was
    ended by its patience: the same command reruns the fine stage to its count and leaves the
    coarse stage as it stopped (no trial more, the same stored reason)."""
    gate = tmp_path / "gate"
    path = _study_file(tmp_path, trials=40, coarse="stop = { patience = 3 }",
                       fine=f'set = {{ hold = "{gate}" }}')  # only the fine stage is held
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    argv = ["study", str(path), "--storage", storage, "--no-tracking"]
    proc = _start(argv, tmp_path)
    _wait_held(storage, proc, timeout=180, stage="toy/fine")
    proc.kill()
    proc.communicate()

    def coarse() -> tuple[int, object]:
        study = optuna.load_study(study_name="toy/coarse", storage=storage)
        ran = sum(t.state in (State.COMPLETE, State.PRUNED) for t in study.trials)
        return ran, study.user_attrs["stopped"]

    stopped = coarse()
    assert 3 < stopped[0] < 40 and stopped[1]["reason"].startswith("no improvement")
    gate.touch()
    rerun = _start(argv, tmp_path)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert coarse() == stopped
    fine = _trials(storage, "toy/fine")
    assert sum(t.state == State.COMPLETE for t in fine) == 2
    assert not [t.number for t in fine if t.state in (State.RUNNING, State.WAITING)]


REPETITIONS = 20


@pytest.mark.slow  # 20 whole studies of 3 processes each: minutes, so with the real-data runs
def test_jobs_two_on_fresh_stores_make_one_parent_run_per_stage(tmp_path: Path) -> None:
    """`--jobs 2` on a fresh folder (default tuner.db and mlflow.db), 20 times: both workers
    start each stage together; each stage gets exactly one MLflow parent run, and nothing is
    left RUNNING. (Before: two `coarse` parent runs in 2 of 4 tries, one RUNNING forever.)"""
    for repetition in range(REPETITIONS):
        folder = tmp_path / str(repetition)
        folder.mkdir()
        path = _study_file(folder, trials=2)
        done = subprocess.run([sys.executable, "-m", "tuner", "-q", "study", str(path),
                               "--jobs", "2"], cwd=folder, env=_env(), capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        stages, running = _mlflow_state(f"sqlite:///{folder / 'mlflow.db'}")
        assert stages == {"coarse": 1, "fine": 1}, repetition
        assert running == [], repetition


PG_DIR = Path(os.environ.get("TUNER_PG_DIR", "/tmp/tuner-pg"))
RESUMABLE = """
name = "ckpt"
objective = "softmax"
dataset = "digits"
metric = "val_accuracy"
seed = 0

[fixed]
epochs = 30
batch_size = 1
optimizer = "momentum"

[[stages]]
name = "only"
sampler = "random"
trials = 2
[stages.space]
lr = { choices = [0.005, 0.01, 0.02] }
"""


def _postgres(command: str) -> None:
    """stop_postgres / start_postgres of .ci/postgres.sh, on the server the tests were given
    ($TUNER_PG_DIR, $TUNER_PG_PORT: CI's own server there, a private one by hand)."""
    done = subprocess.run(["bash", "-c", f"source .ci/postgres.sh && {command}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.postgres
@pytest.mark.restarts_postgres  # every other test's connections would be cut: run alone
def test_postgres_down_longer_than_the_retry_window(pg_url: str, tmp_path: Path) -> None:
    """The server stops while a worker is mid-trial (checkpoint saved) and stays down past
    $TUNER_STORAGE_RETRY_SECONDS: the worker stops with one line and does not fail the trial
    or drop its checkpoint; once the server is back the rerun continues that trial from its
    checkpoint and ends at exactly its count, nothing RUNNING in Optuna or MLflow."""
    if not (PG_DIR / "data" / "PG_VERSION").is_file():
        pytest.skip("the test server is not the one .ci/postgres.sh starts")
    (tmp_path / "ckpt.toml").write_text(RESUMABLE)
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {"TUNER_STORAGE": pg_url, "TUNER_STORAGE_RETRY_SECONDS": "3",
           "TUNER_CHECKPOINT_EVERY": "0"}
    argv = ["worker", "ckpt.toml", "--tracking-uri", tracking_uri]
    proc = _start(argv, tmp_path, **env)
    deadline = time.monotonic() + 180
    while True:  # a trial past its second report has a checkpoint
        held = [t for t in _trials(pg_url, "ckpt/only")
                if t.state == State.RUNNING and len(t.intermediate_values) > 2
                and "checkpoint" in t.user_attrs]
        if held:
            break
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    lost = held[0]
    try:
        _postgres("stop_postgres")
        _, err = proc.communicate(timeout=180)
    finally:
        _postgres("start_postgres")
    assert proc.returncode == 1, err
    _one_error_line(err, "error: Lost the storage 'postgresql+psycopg://tuner:***@")
    assert "(after retrying for 3 s, $TUNER_STORAGE_RETRY_SECONDS)" in err
    assert "exceeding max length" not in err
    after = _trials(pg_url, "ckpt/only")[lost.number]
    assert after.state == State.RUNNING  # not failed for the outage: retried by the rerun
    checkpoint = after.user_attrs["checkpoint"]
    assert (tmp_path / "checkpoints" / checkpoint["id"]).is_file()  # kept
    stages, running = _mlflow_state_of(tracking_uri, "ckpt")
    assert running == [] and stages == {"only": 1}

    rerun = _start(argv, tmp_path, **env)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    trials = _trials(pg_url, "ckpt/only")
    assert sum(t.state == State.COMPLETE for t in trials) == 2
    assert not [t for t in trials if t.state in (State.RUNNING, State.WAITING)]
    (resumed,) = [t for t in trials if t.user_attrs.get("resumed_from_trial") == lost.number]
    assert resumed.state == State.COMPLETE and resumed.user_attrs["resumed_at_step"] >= 2
    stages, running = _mlflow_state_of(tracking_uri, "ckpt")
    assert running == [] and stages == {"only": 1}
