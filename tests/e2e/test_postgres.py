"""Many workers on one study in a real PostgreSQL server (CI: .ci/run starts it and sets
TUNER_TEST_POSTGRES_URL; by hand: `source .ci/postgres.sh && start_postgres`). Each test gets a
fresh database, dropped afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import FrozenTrial
from paths import ROOT
from ports import free_port
from postgres_db import admin
from sqlalchemy.engine import make_url

from tuner.errors import StorageError
from tuner.storage import open_storage

pytestmark = pytest.mark.postgres

State = optuna.trial.TrialState


def test_open_storage_creates_the_schema(pg_url: str) -> None:
    rdb = open_storage(pg_url, heartbeat=5)
    assert rdb.get_heartbeat_interval() == 5
    study = optuna.create_study(storage=rdb, study_name="s/coarse")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(optuna.load_study(study_name="s/coarse", storage=pg_url).trials) == 2


def test_list_and_show_read_postgres(pg_url: str) -> None:
    study = optuna.create_study(storage=open_storage(pg_url), study_name="s/coarse")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    env = {**os.environ, "TUNER_STORAGE": pg_url}
    for argv in (["list"], ["show", "s"]):
        done = subprocess.run([sys.executable, "-m", "tuner", *argv], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "s/coarse" in done.stdout
        assert str(make_url(pg_url).password) not in done.stdout + done.stderr


def test_wrong_password_is_one_line_without_it(pg_url: str) -> None:
    url = make_url(pg_url).set(password="not-the-password-42")
    with pytest.raises(StorageError, match=r"^Cannot open storage 'postgresql\+psycopg://tuner:"
                       r"\*\*\*@127\.0\.0\.1:\d+/tuner_test_\w+': .*password authentication "
                       r"failed for user \"tuner\"\.$") as info:
        open_storage(url.render_as_string(hide_password=False))
    assert "not-the-password-42" not in str(info.value)
    assert str(make_url(pg_url).password) not in str(info.value)


def test_missing_database_is_one_line(pg_url: str) -> None:
    url = make_url(pg_url).set(database="no_such_db_here").render_as_string(hide_password=False)
    with pytest.raises(StorageError, match=r"database \"no_such_db_here\" does not exist\.$"):
        open_storage(url)


OPENER = textwrap.dedent(
    """
    import sys, time
    from tuner.storage import open_storage
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
    open_storage(sys.argv[1])
    """
)


def test_workers_starting_together_on_an_empty_database(pg_url: str) -> None:
    """Four processes creating the schema at the same instant: the losers of the race
    ("already exists") retry instead of failing."""
    start = f"{time.time() + 4:.3f}"
    procs = [subprocess.Popen([sys.executable, "-c", OPENER, pg_url, start], cwd=ROOT,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [proc.communicate(timeout=120)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], errors


WORKER = textwrap.dedent(
    """
    import os, sys, time
    import optuna
    from tuner.storage import open_storage
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="s", storage=open_storage(sys.argv[1], heartbeat=1))
    def objective(trial):
        x = trial.suggest_float("x", -5, 5)
        trial.set_user_attr("pid", os.getpid())
        while not os.path.exists(sys.argv[2]):  # the gate: every trial waits mid-way for it
            time.sleep(0.02)
        time.sleep(0.3)
        return x * x
    def done(s, t):  # 8 complete, and the killed trial failed (stale) and retried
        trials = s.get_trials()
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        failed = {t.number for t in trials if t.state == optuna.trial.TrialState.FAIL}
        retried = {t.system_attrs.get("failed_trial") for t in complete}
        if len(complete) >= 8 and failed and failed <= retried:
            s.stop()
    study.optimize(objective, callbacks=[done])
    """
)


def test_killed_worker_trial_fails_and_is_retried_by_optuna_workers(pg_url: str,
                                                                    tmp_path: Path) -> None:
    """Storage level (plain study.optimize): SIGKILL one of three workers mid-trial; its trial
    turns FAIL after the 2 s grace period and a survivor reruns the same params."""
    optuna.create_study(storage=open_storage(pg_url), study_name="s")
    gate = tmp_path / "gate"
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, pg_url, str(gate)], cwd=ROOT)
             for _ in range(3)]
    study = optuna.load_study(study_name="s", storage=pg_url)
    _kill_mid_trial(procs[0], lambda: _running_trial_of_pid(study, procs[0].pid), gate)
    for proc in procs[1:]:
        assert proc.wait(timeout=120) == 0
    trials = study.get_trials(deepcopy=False)
    failed = [t for t in trials if t.state == State.FAIL]
    assert len(failed) == 1
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(retries) == 1
    assert retries[0].state == State.COMPLETE
    assert retries[0].params == failed[0].params
    assert len({t.number for t in trials}) == len(trials)


def _running_trial_of_pid(study: optuna.Study, pid: int) -> FrozenTrial | None:
    for trial in study.get_trials(deepcopy=False, states=(State.RUNNING,)):
        if trial.user_attrs.get("pid") == pid:
            return trial
    return None


def _kill_mid_trial(
    proc: subprocess.Popen[bytes],
    running_trial: Callable[[], FrozenTrial | None],
    gate: Path,
    timeout: float = 120,
) -> None:
    """SIGKILL `proc` once running_trial() (the trial that process runs) is seen: every trial
    waits mid-way until `gate` exists, so the kill lands mid-trial for certain, whatever the
    load; then open the gate for the other workers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_trial() is not None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            gate.touch()
            return
        assert proc.poll() is None, "the worker to kill exited by itself"
        time.sleep(0.05)
    proc.kill()
    gate.touch()
    pytest.fail("never saw the worker's trial running")


TOY_STUDY = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
metric = "val_accuracy"
direction = "maximize"
seed = 0

[fixed]
epochs = 4
sleep = 0.4

[[stages]]
name = "only"
sampler = "random"
trials = {trials}
[stages.space]
x = {{ low = -5.0, high = 5.0 }}
"""


def _workers(
    n: int, study_file: Path, pg_url: str, tracking_uri: str, tracking: bool = True
) -> list[subprocess.Popen[str]]:
    """n `tuner worker` processes on one study (storage URL in the environment, as --jobs does),
    heartbeat every second, so a dead worker's trial is failed after 2 s."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TUNER_STORAGE": pg_url,
           "TUNER_HEARTBEAT_SECONDS": "1", "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "tuner", "-q", "worker", str(study_file)]
    argv += ["--tracking-uri", tracking_uri] if tracking else ["--no-tracking"]
    return [subprocess.Popen(argv, cwd=study_file.parent, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True) for _ in range(n)]


def test_three_tuner_workers_one_killed_mid_trial(pg_url: str, tmp_path: Path) -> None:
    """Three `tuner worker` processes on one study; one SIGKILLed mid-trial. The stage still ends
    at exactly its target of COMPLETE trials, the killed trial is FAIL and its params were rerun,
    trial numbers are unique, and the killed trial's MLflow run is closed as FAILED."""
    from mlflow import MlflowClient

    study_file = tmp_path / "toy.toml"
    gate = tmp_path / "gate"
    held = TOY_STUDY.format(trials=8).replace("sleep = 0.4\n", f'sleep = 0.4\nhold = "{gate}"\n')
    study_file.write_text(held)  # every trial waits after its first report until the gate opens
    tracking_uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    (tmp_path / "mlruns").mkdir()
    procs = _workers(3, study_file, pg_url, tracking_uri)
    study = _wait_for_study(pg_url, "toy/only")
    _kill_mid_trial(procs[0], lambda: _running_trial_of_worker(study, tracking_uri, procs[0].pid),
                    gate)
    for proc in procs[1:]:
        assert proc.wait(timeout=180) == 0

    trials = study.get_trials(deepcopy=False)
    assert len({t.number for t in trials}) == len(trials)
    assert sum(t.state == State.COMPLETE for t in trials) == 8
    assert not [t for t in trials if t.state in (State.RUNNING, State.WAITING)]
    killed = [t for t in trials
              if t.state == State.FAIL and t.user_attrs.get("reason") != "surplus"]
    assert len(killed) == 1
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed[0].number]
    assert [t.state for t in retries] == [State.COMPLETE]
    assert retries[0].params == killed[0].params
    run = MlflowClient(tracking_uri).get_run(killed[0].user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED"
    assert retries[0].user_attrs["mlflow_run_id"] != killed[0].user_attrs["mlflow_run_id"]
    _assert_no_password(MlflowClient(tracking_uri).search_runs([run.info.experiment_id]), pg_url)


def test_two_tuner_workers_stop_a_stage_together(pg_url: str, tmp_path: Path) -> None:
    """Two `tuner worker` processes on PostgreSQL with a patience rule: whichever finds it met
    stores why, both end the stage and exit 0, no trial is left RUNNING, every finished trial
    counts, and `tuner show` names the reason."""
    from tuner.cli import main
    from tuner.search.trials import own_trials

    study_file = tmp_path / "toy.toml"
    rule = 'trials = 20\nstop = { patience = 3, min_delta = 1.0 }\n'
    study_file.write_text(TOY_STUDY.format(trials=20).replace("trials = 20\n", rule))
    procs = _workers(2, study_file, pg_url, "", tracking=False)
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    study = optuna.load_study(study_name="toy/only", storage=pg_url)
    stopped = study.user_attrs["stopped"]
    assert stopped["reason"].startswith("no improvement of the best by more than 1 in 3 trials")
    trials = own_trials(study.get_trials(deepcopy=False))
    assert not [t for t in trials if t.state == State.RUNNING]
    finished = [t for t in trials if t.state in (State.COMPLETE, State.PRUNED)]
    assert 4 <= len(finished) <= 5  # the first sets the best, 3 more end it; one was running
    assert main(["show", "toy", "--storage", pg_url]) == 0


def _running_trial_of_worker(
    study: optuna.Study, tracking_uri: str, pid: int
) -> FrozenTrial | None:
    """The RUNNING trial of process `pid`, found through its open MLflow run (tag worker =
    host:pid, created after the trial's first heartbeat)."""
    from mlflow_reader import client_if_created

    client = client_if_created(tracking_uri)
    experiment = None if client is None else client.get_experiment_by_name("toy")
    if client is None or experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        f"tags.worker = '{socket.gethostname()}:{pid}' and attributes.status = 'RUNNING'")
    numbers = {int(r.data.tags["trial_number"]) for r in runs if "trial_number" in r.data.tags}
    running = study.get_trials(deepcopy=False, states=(State.RUNNING,))
    return next((t for t in running if t.number in numbers), None)


def _wait_for_study(url: str, name: str, timeout: float = 120) -> optuna.Study:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return optuna.load_study(study_name=name, storage=url)
        except KeyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def mlflow_server(pg_url: str, tmp_path: Path) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1 with its runs in PostgreSQL and artifacts in a folder."""
    admin(f'CREATE DATABASE "{make_url(pg_url).database}_mlflow"')
    backend = make_url(pg_url).set(database=f"{make_url(pg_url).database}_mlflow")
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server",
         "--backend-store-uri", backend.render_as_string(hide_password=False),
         "--artifacts-destination", str(tmp_path / "artifacts"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, process_group=0)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # a throwaway server: no graceful shutdown needed
        server.wait(timeout=30)
        admin(f'DROP DATABASE IF EXISTS "{backend.database}" WITH (FORCE)')


def _wait_healthy(url: str, server: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "mlflow server exited"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail("mlflow server did not become healthy")


@pytest.mark.slow  # starts an MLflow server: a minute or more on a busy 2-core machine
def test_two_workers_log_to_one_mlflow_server(
    pg_url: str, mlflow_server: str, tmp_path: Path
) -> None:
    """Two workers with --tracking-uri http://...: one parent run for the stage, every trial a
    child run under it, runs from both workers overlapping in time, artifacts on the server."""
    from mlflow import MlflowClient

    study_file = tmp_path / "toy.toml"
    study_file.write_text(TOY_STUDY.format(trials=4))
    procs = _workers(2, study_file, pg_url, mlflow_server)
    assert [proc.wait(timeout=180) for proc in procs] == [0, 0]

    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("toy")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("tuner.role") == "stage"]
    children = [r for r in runs if r.data.tags.get("tuner.role") == "trial"]
    assert len(parents) == 1
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    study = optuna.load_study(study_name="toy/only", storage=pg_url)
    ran = [t for t in study.trials if t.user_attrs.get("reason") != "surplus"]
    assert sorted(r.data.tags["trial_number"] for r in children) == sorted(
        str(t.number) for t in ran)
    assert all(r.info.status == "FINISHED" for r in children)
    spans = sorted((r.info.start_time, r.info.end_time) for r in children)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False)), "no overlap"
    assert any((tmp_path / "artifacts").rglob("trials.csv"))
    _assert_no_password(runs, pg_url)


def _assert_no_password(runs: list[Any], url: str) -> None:
    """No MLflow param or tag of any run holds the storage password."""
    password = str(make_url(url).password)
    for run in runs:
        values = [*run.data.params.values(), *run.data.tags.values()]
        assert not [v for v in values if password in v], run.info.run_name


PG_DIR = Path(os.environ.get("TUNER_PG_DIR", "/tmp/tuner-pg"))


@pytest.mark.restarts_postgres  # every other test's connections would be cut: run alone
def test_a_database_restart_pauses_the_workers_instead_of_stopping_them(
    pg_url: str, tmp_path: Path
) -> None:
    """The PostgreSQL server is stopped for a second and started again while two workers run
    trials: they retry the lost connection (TUNER_STORAGE_RETRY_SECONDS) and the stage still ends
    at exactly its target."""
    if not (PG_DIR / "data" / "PG_VERSION").is_file():
        pytest.skip("the test server is not the one .ci/postgres.sh starts")
    study_file = tmp_path / "toy.toml"
    study_file.write_text(TOY_STUDY.format(trials=14))  # ~10 s of trials after the first
    procs = _workers(2, study_file, pg_url, "unused", tracking=False)
    study = _wait_for_study(pg_url, "toy/only")
    deadline = time.monotonic() + 120
    while not study.get_trials(deepcopy=False, states=(State.COMPLETE,)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.2)
    restart = subprocess.run(["bash", "-c", "source .ci/postgres.sh && restart_postgres 1"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert restart.returncode == 0, restart.stderr
    errors = [proc.communicate(timeout=300)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], errors
    assert any("storage connection lost" in e for e in errors), errors  # it was hit, and rode it
    trials = optuna.load_study(study_name="toy/only", storage=pg_url).trials
    assert sum(t.state == State.COMPLETE for t in trials) == 14
    assert not [t for t in trials if t.state in (State.RUNNING, State.WAITING)]


@pytest.mark.slow  # starts an MLflow server
def test_final_registers_its_model_on_a_tracking_server(
    mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The final's model logged through the server (artifacts proxied), registered, loadable."""
    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.datasets import load_digits

    import tuner

    monkeypatch.chdir(tmp_path)
    result = tuner.run_study("lambda_search", dataset="digits", trials=2, final=True,
                             progress=False, storage=f"sqlite:///{tmp_path / 'tuner.db'}",
                             tracking_uri=mlflow_server)
    assert result.final is not None and result.final.model_uri == "models:/lambda_search/1"
    assert result.tracking_warnings == 0
    version = MlflowClient(mlflow_server).get_model_version("lambda_search", "1")
    assert version.tags["study"] == "lambda_search"
    mlflow.set_tracking_uri(mlflow_server)
    try:
        model = mlflow.pyfunc.load_model("models:/lambda_search/latest")
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    X, y = load_digits(return_X_y=True)
    assert np.mean(model.predict(X) == y) > 0.8


RESUMABLE_STUDY = """
name = "ckpt"
objective = "softmax"
dataset = "digits"
metric = "val_accuracy"
seed = 0

[fixed]
epochs = 40
batch_size = 1
optimizer = "momentum"

[[stages]]
name = "only"
sampler = "random"
trials = 4
[stages.space]
lr = { choices = [0.005, 0.01, 0.02] }
"""


def test_a_killed_workers_trial_continues_from_its_checkpoint_on_the_other(
    pg_url: str, tmp_path: Path
) -> None:
    """Two `tuner worker` processes, both frozen mid-trial past their second report (so both
    trials have checkpoints); one is SIGKILLed. The other fails its trial after the heartbeat
    grace period and continues it from its checkpoint; the stage ends at exactly 4."""
    study_file = tmp_path / "ckpt.toml"
    study_file.write_text(RESUMABLE_STUDY)
    os.environ["TUNER_CHECKPOINT_EVERY"] = "0"  # the workers inherit it
    try:
        procs = _workers(2, study_file, pg_url, "", tracking=False)
    finally:
        del os.environ["TUNER_CHECKPOINT_EVERY"]
    study = _wait_for_study(pg_url, "ckpt/only")
    deadline = time.monotonic() + 120
    while True:
        running = [t for t in study.get_trials(states=(State.RUNNING,))
                   if len(t.intermediate_values) > 2]
        if len(running) == 2:
            for proc in procs:
                proc.send_signal(signal.SIGSTOP)
            if len([t for t in study.get_trials(states=(State.RUNNING,))
                    if len(t.intermediate_values) > 2]) == 2:
                break
            for proc in procs:
                proc.send_signal(signal.SIGCONT)
        assert time.monotonic() < deadline, "never saw both workers mid-trial"
        time.sleep(0.02)
    procs[0].kill()
    procs[1].send_signal(signal.SIGCONT)
    assert procs[1].wait(timeout=300) == 0, procs[1].communicate()[1]
    procs[0].wait()
    trials = study.get_trials()
    assert sum(t.state == State.COMPLETE for t in trials) == 4
    assert not [t for t in trials if t.state == State.RUNNING]
    (dead,) = [t for t in trials if t.state == State.FAIL]
    (resumed,) = [t for t in trials if t.user_attrs.get("resumed_from_trial") == dead.number]
    assert resumed.state == State.COMPLETE and resumed.user_attrs["resumed_at_step"] >= 2
    assert resumed.params == dead.params
