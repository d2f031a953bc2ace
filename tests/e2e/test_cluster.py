"""`tuner study --cluster`: a real `dask scheduler` and `dask worker` processes on 127.0.0.1 run the
study's trials; a Dask worker killed mid-trial and a lost scheduler end as the docs say."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from mlflow_reader import client_if_created
from optuna.trial import TrialState
from paths import ROOT
from ports import free_port

from tuner.search.trials import own_trials

BIN = Path(sys.executable).parent
STAGES = ("lambda_search/coarse", "lambda_search/fine")
TARGET = 16  # trials per stage in lambda_search
# Bounds on waiting for a state (a trial running, workers connected): generous, because every
# tuner process on a Dask worker imports Optuna, MLflow and the objectives, which takes minutes
# on 2 cores shared with another test process and its workers (CI runs two at once).
WAIT = 600


class DaskCluster:
    """`dask scheduler` and `dask worker --nthreads 1` processes (no nanny: a killed worker
    stays dead), each in its own process group; tests/ importable (the toy objective)."""

    def __init__(self, folder: Path, port: int, workers: int) -> None:
        self.address = f"tcp://127.0.0.1:{port}"
        env = {**os.environ, "TUNER_HEARTBEAT_SECONDS": "1", "PYTHONPATH": str(ROOT)}
        common = {"cwd": folder, "env": env, "stdout": subprocess.DEVNULL,
                  "stderr": subprocess.DEVNULL, "process_group": 0}
        self.scheduler = subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--no-dashboard"], **common)  # type: ignore[call-overload]
        self._wait_listening(port)
        self.workers = [subprocess.Popen(
            [str(BIN / "dask"), "worker", self.address, "--nthreads", "1", "--no-nanny",
             "--no-dashboard", "--host", "127.0.0.1"], **common)  # type: ignore[call-overload]
            for _ in range(workers)]
        self._wait_workers(workers)

    def _wait_listening(self, port: int) -> None:
        deadline = time.monotonic() + WAIT
        while True:
            assert self.scheduler.poll() is None, "dask scheduler exited"
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            assert time.monotonic() < deadline, "dask scheduler did not listen"
            time.sleep(0.2)

    def _wait_workers(self, n: int) -> None:
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(n, timeout=WAIT)

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[list[DaskCluster]]:
    started: list[DaskCluster] = []
    yield started
    for cluster in started:
        cluster.stop()


def _study(folder: Path, address: str, storage: str, tracking: str,
           *extra: str) -> subprocess.Popen[str]:
    """`tuner study lambda_search` on digits through the cluster ($TUNER_CLUSTER = `address`);
    cycles=30 makes each trial long enough (a second or more) to be caught running."""
    return subprocess.Popen(
        [sys.executable, "-m", "tuner", "-q", "study", "lambda_search", "--dataset", "digits",
         "--set", "cycles=30", "--storage", storage, "--tracking-uri", tracking, *extra],
        cwd=folder, env={**os.environ, "TUNER_HEARTBEAT_SECONDS": "1", "TUNER_CLUSTER": address},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _trials(storage: str, name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        # the stage's own trials (a fine stage's warm-start copies were not run)
        return own_trials(optuna.load_study(study_name=name, storage=storage)
                          .get_trials(deepcopy=False))
    except KeyError:
        return []


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


HELD = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
seed = 0

[fixed]
epochs = 3
sleep = 0.2
hold = "{gate}"

[[stages]]
name = "only"
sampler = "random"
trials = 6
[stages.space]
x = {{ low = -5.0, high = 5.0 }}
"""


def _running_in_dask_worker(cluster: DaskCluster, storage: str, tracking: str
                            ) -> tuple[int, int, int] | None:
    """(trial number, pid of its tuner worker process, pid of that process's Dask worker) of a
    RUNNING trial whose MLflow run is open (tag worker = host:pid), or None."""
    pids = {proc.pid for proc in cluster.workers}
    client = client_if_created(tracking)
    if client is None:
        return None
    for trial in _trials(storage, "toy/only"):
        run_id = trial.user_attrs.get("mlflow_run_id")
        if trial.state != TrialState.RUNNING or not run_id:
            continue
        pid = int(client.get_run(run_id).data.tags["worker"].rsplit(":", 1)[1])
        if _parent(pid) in pids:
            return trial.number, pid, _parent(pid)
    return None


@pytest.mark.postgres
def test_a_dask_worker_killed_mid_trial(pg_url: str, tmp_path: Path,
                                        make_cluster: list[DaskCluster]) -> None:
    """Every trial waits after its first report until the gate file exists, so the Dask worker
    is SIGKILLed while its trial runs, whatever the load; then the gate opens. The trial's
    process dies with its Dask worker, the trial is failed by its stale heartbeat and retried,
    and the stage ends at exactly its target on the other worker."""
    cluster = DaskCluster(tmp_path, free_port(), workers=2)
    make_cluster.append(cluster)
    gate = tmp_path / "gate"
    (tmp_path / "toy.toml").write_text(HELD.format(gate=gate))
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    study = subprocess.Popen(
        [sys.executable, "-m", "tuner", "-q", "study", "toy.toml", "--storage", pg_url,
         "--tracking-uri", tracking, "--cluster", cluster.address],
        cwd=tmp_path, env={**os.environ, "TUNER_HEARTBEAT_SECONDS": "1", "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + WAIT
        while (found := _running_in_dask_worker(cluster, pg_url, tracking)) is None:
            assert time.monotonic() < deadline, "no trial was seen running in a Dask worker"
            assert study.poll() is None, study.communicate()[1][-3000:]
            time.sleep(0.1)
        number, trial_pid, dask_worker = found
        os.kill(dask_worker, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{trial_pid}").exists() and "zombie" not in _status(trial_pid):
            assert time.monotonic() < deadline, "the tuner worker outlived its Dask worker"
            time.sleep(0.1)
    finally:
        gate.touch()
    out, err = study.communicate(timeout=600)
    assert study.returncode == 0, err[-3000:]
    assert "run by 2 tuner workers on the Dask cluster" in out and "Traceback" not in err
    trials = _trials(pg_url, "toy/only")
    finished = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(finished) == 6  # exactly the target, the killed trial retried
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    killed = next(t for t in trials if t.number == number)
    assert killed.state == TrialState.FAIL
    client = MlflowClient(tracking)
    assert client.get_run(killed.user_attrs["mlflow_run_id"]).data.tags[
        "failure_reason"] == "worker died (heartbeat stale)"
    experiment = client.get_experiment_by_name("toy")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], "tags.`tuner.role` = 'trial'")
    ended = [r for r in runs if r.data.tags["state"] == "COMPLETE"]
    assert sorted(int(r.data.tags["trial_number"]) for r in ended) == sorted(
        t.number for t in finished)  # one MLflow child run per finished trial


def _status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return ""


def test_a_lost_scheduler_is_one_line_and_the_same_command_resumes(
        tmp_path: Path, make_cluster: list[DaskCluster]) -> None:
    port = free_port()
    cluster = DaskCluster(tmp_path, port, workers=2)
    make_cluster.append(cluster)
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    study = _study(tmp_path, cluster.address, storage, tracking, "--final")
    deadline = time.monotonic() + WAIT
    while not any(t.state.is_finished() for t in _trials(storage, STAGES[0])):
        assert time.monotonic() < deadline and study.poll() is None
        time.sleep(0.2)
    os.killpg(cluster.scheduler.pid, signal.SIGKILL)
    out, err = study.communicate(timeout=300)
    assert study.returncode == 1
    assert err.count("\n") == 1 and err.startswith("error: Lost the Dask scheduler at "), err
    cluster.stop()

    again = DaskCluster(tmp_path, port, workers=2)  # the same address, the same command
    make_cluster.append(again)
    study = _study(tmp_path, again.address, storage, tracking, "--final")
    out, err = study.communicate(timeout=600)
    assert study.returncode == 0, err[-3000:]
    assert "run by 2 tuner workers on the Dask cluster" in out  # then the final, here:
    assert "final lambda_search: test accuracy" in out and "models:/lambda_search/1" in out
    for name in STAGES:
        trials = _trials(storage, name)
        assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == TARGET
        assert not [t for t in trials if t.state == TrialState.RUNNING]


def test_unreachable_scheduler_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tuner", "study", "lambda_search", "--dataset", "digits",
         "--cluster", f"tcp://127.0.0.1:{free_port()}"], cwd=tmp_path, capture_output=True,
        text=True, timeout=WAIT)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "cannot be reached" in done.stderr and "dask scheduler" in done.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_every_worker_on_the_cluster_cleanly(
        tmp_path: Path, make_cluster: list[DaskCluster], signum: int) -> None:
    cluster = DaskCluster(tmp_path, free_port(), workers=2)
    make_cluster.append(cluster)
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    study = _study(tmp_path, cluster.address, storage, f"sqlite:///{tmp_path / 'mlflow.db'}")
    deadline = time.monotonic() + WAIT
    while sum(t.state == TrialState.RUNNING for t in _trials(storage, STAGES[0])) < 2:
        assert time.monotonic() < deadline and study.poll() is None
        time.sleep(0.1)
    study.send_signal(signum)
    out, err = study.communicate(timeout=300)
    assert study.returncode == 130, err[-3000:]
    assert "to resume, run: python -m tuner -q study lambda_search" in out
    assert "Traceback" not in err
    trials = [t for name in STAGES for t in _trials(storage, name)]
    assert not [t for t in trials if t.state == TrialState.RUNNING]  # none left for heartbeats
    assert [t for t in trials if t.user_attrs.get("reason") == "interrupted"]


TOY = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
seed = 0

[fixed]
epochs = 3

[[stages]]
name = "only"
sampler = "random"
trials = 4
[stages.space]
x = { low = -5.0, high = 5.0 }
"""


def test_a_spec_changed_in_python_is_what_every_cluster_worker_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through a LocalCluster of two worker processes: the tasks get the study's name and run
    the spec stored with it (x narrowed to [3, 4], epochs 2), not the study file's."""
    import dataclasses

    from distributed import LocalCluster

    import tuner

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    (tmp_path / "toy.toml").write_text(TOY)
    spec = tuner.load_study_spec(tmp_path / "toy.toml")
    stage = spec.stages[0]
    narrowed = dataclasses.replace(stage.space[0], low=3.0, high=4.0)
    changed = dataclasses.replace(spec, stages=(dataclasses.replace(stage, space=(narrowed,)),),
                                  fixed={**spec.fixed, "epochs": 2})
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster:
        result = tuner.run_study(changed, storage=storage, tracking=False, progress=False,
                                 cluster=cluster.scheduler_address)
    assert result.workers == 2
    trials = optuna.load_study(study_name="toy/only", storage=storage).trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 4
    assert all(3.0 <= t.params["x"] <= 4.0 for t in complete)
    assert all(len(t.intermediate_values) == 2 for t in complete)


def test_a_stopping_rule_ends_the_stage_on_every_cluster_worker(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through a LocalCluster of two worker processes: a patience rule met on one worker ends
    the stage on both; the stored reason is the result's, no trial is left RUNNING, and every
    finished trial counts."""
    from distributed import LocalCluster

    import tuner

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    rule = "trials = 20\nstop = { patience = 3, min_delta = 1.0 }\n"
    (tmp_path / "toy.toml").write_text(TOY.replace("trials = 4\n", rule))
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster:
        result = tuner.run_study(tmp_path / "toy.toml", storage=storage, tracking=False,
                                 progress=False, cluster=cluster.scheduler_address)
    only = result.stages["only"]
    assert only.stopped is not None
    assert only.stopped.startswith("no improvement of the best by more than 1 in 3 trials")
    trials = _trials(storage, "toy/only")
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert only.complete + only.pruned == len(finished)
    assert 4 <= len(finished) <= 5  # the first sets the best, 3 more end it; one was running
