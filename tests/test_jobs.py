"""`tuner study NAME --jobs N`: what each worker process is given, environments, exit codes,
Ctrl-C forwarding, N processes on the default SQLite storage running the spec the study stored."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import optuna
import pytest

import tuner
from tuner.cli import main
from tuner.engine import jobs
from tuner.errors import SpecError, StorageError
from tuner.options import RunOptions
from tuner.spec import StudySpec

ROOT = Path(__file__).resolve().parents[1]


def _spec(tmp_path: Path, **kwargs: Any) -> StudySpec:
    (tmp_path / "toy.toml").write_text(TOY_STUDY.format(sleep=0.0))
    return tuner.load_study_spec(tmp_path / "toy.toml", **kwargs)


def test_worker_job_is_the_study_name_and_options_as_data_without_urls(tmp_path: Path) -> None:
    options = RunOptions(storage="postgresql://u:pw@h/db", tracking_uri="http://127.0.0.1:5000",
                         tracking=False, data_dir="/data", jobs=2, threads=1)
    job = json.loads(jobs.worker_job("toy", options, shown=True))
    assert job["study"] == "toy"
    assert "pw" not in json.dumps(job) and "5000" not in json.dumps(job)
    again = RunOptions.from_dict(job["options"], storage=options.storage,
                                 tracking_uri=options.tracking_uri)
    assert again == dataclasses.replace(options, jobs=None)


def test_worker_log_level_quiet_unless_shown_debug_when_debugging() -> None:
    options = RunOptions()
    logger = logging.getLogger("tuner")
    before = logger.level

    def level(options: RunOptions, shown: bool) -> str:
        return str(json.loads(jobs.worker_job("toy", options, shown))["log"])

    try:
        logger.setLevel(logging.INFO)
        assert level(options, shown=True) == "INFO"
        assert level(options, shown=False) == "WARNING"
        assert level(RunOptions(progress=False), shown=True) == "WARNING"
        logger.setLevel(logging.DEBUG)
        assert level(options, shown=False) == "DEBUG"
    finally:
        logger.setLevel(before)


def test_worker_env_splits_cores_and_carries_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "cores", lambda: 8)
    options = RunOptions(storage="sqlite:///x.db", tracking_uri="http://127.0.0.1:1", jobs=4)
    env = jobs.worker_env({"PATH": "/bin"}, 2, options, "{}")
    assert all(env[var] == "2" for var in jobs.THREAD_VARS)
    assert env["TUNER_THREADS"] == "2"
    assert env["TUNER_WORKER_INDEX"] == "2"
    assert env["TUNER_STORAGE"] == "sqlite:///x.db"
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:1"
    assert env["TUNER_WORKER"] == "{}"
    many = jobs.worker_env({"OMP_NUM_THREADS": "3"}, 0,
                           RunOptions(storage="sqlite:///x.db", tracking=False, jobs=16), "{}")
    assert many["OMP_NUM_THREADS"] == "3"  # the user's own setting wins
    assert many["MKL_NUM_THREADS"] == "1"
    assert "MLFLOW_TRACKING_URI" not in many
    told = jobs.worker_env({"OMP_NUM_THREADS": "3"}, 0, RunOptions(jobs=2, threads=4), "{}")
    assert told["OMP_NUM_THREADS"] == "4"  # --threads wins over both


@pytest.mark.parametrize(
    ("codes", "expected"), [([0, 0], 0), ([0, 1], 1), ([130, 1, 0], 130), ([0, -9], 137), ([], 0)]
)
def test_worst_exit_code(codes: list[int], expected: int) -> None:
    assert jobs.worst(codes) == expected


def test_jobs_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _spec(tmp_path)
    assert main(["study", str(tmp_path / "toy.toml"), "--jobs", "0"]) == 1
    assert capsys.readouterr().err.endswith(
        "error: argument --jobs: must be a positive number of processes. Got 0 instead.\n")
    with pytest.raises(SpecError, match=r"^jobs must be a positive number of processes\. "
                       r"Got 0 instead\.$"):
        tuner.run_study(tmp_path / "toy.toml", jobs=0)


class _FakePopen:
    """Records each worker launch instead of starting a process."""

    launched: list[_FakePopen] = []

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.job = json.loads(env["TUNER_WORKER"])
        self.tables_ready = (Path("tuner.db").is_file(), Path("mlflow.db").is_file())
        _FakePopen.launched.append(self)

    def wait(self) -> int:
        return 0

    def poll(self) -> int:
        return 0


def test_run_jobs_creates_both_stores_before_starting_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent checks everything, creates the Optuna and MLflow stores and stores the spec
    before any worker starts; worker 1 runs quiet."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(jobs, "spawn", _FakePopen)
    _FakePopen.launched = []
    spec = _spec(tmp_path, overrides={"epochs": 2})
    result = tuner.run_study(spec, jobs=2)
    first, second = _FakePopen.launched
    assert first.tables_ready == second.tables_ready == (True, True)
    assert first.env["TUNER_STORAGE"] == "sqlite:///tuner.db"
    assert [first.env["TUNER_WORKER_INDEX"], second.env["TUNER_WORKER_INDEX"]] == ["0", "1"]
    assert first.job["study"] == second.job["study"] == "toy"
    assert (first.job["log"], second.job["log"]) == ("INFO", "WARNING")
    stored = optuna.load_study(study_name="toy#spec", storage="sqlite:///tuner.db")
    assert stored.user_attrs["spec"]["overrides"] == {"epochs": 2}  # what every worker runs
    assert set(result.stages) == {"coarse", "fine"}  # read back from the storage


def test_a_bad_storage_fails_once_before_any_worker_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_spawn(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a worker was started")

    monkeypatch.setattr(jobs, "spawn", no_spawn)
    with pytest.raises(StorageError, match=r"^Unknown database driver 'postgresql\+nosuchdriver'"):
        tuner.run_study(_spec(tmp_path), jobs=3, storage="postgresql+nosuchdriver://u:pw7@h/db")


CHILD = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGINT, lambda *a: sys.exit(130))\n"
    "print('ready', flush=True)\n"
    "time.sleep(30)\n"
    "sys.exit(0)\n"
)


def test_ctrl_c_is_forwarded_once_to_every_worker() -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, process_group=0)
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
    start = time.monotonic()
    codes = jobs.wait_all(procs)
    assert codes == [130, 130]
    assert time.monotonic() - start < 10
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


TOY_STUDY = """
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


def _tuner(cwd: Path, *argv: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TUNER_HEARTBEAT_SECONDS": "1"}
    return subprocess.Popen([sys.executable, "-m", "tuner", *argv], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def _counts(db: Path, study: str) -> dict[str, int]:
    """Trial counts by state and FAIL reason; a FAIL is surplus (told FAIL before it ran) or
    interrupted (Ctrl-C, wherever it landed after ask())."""
    trials = optuna.load_study(study_name=study, storage=f"sqlite:///{db}").trials
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    reasons = [t.user_attrs.get("reason") for t in trials if t.state.name == "FAIL"]
    assert all(r in ("surplus", "interrupted") for r in reasons), reasons
    counts = {state: sum(t.state.name == state for t in trials) for state in ("COMPLETE", "PRUNED")}
    return {**counts, "interrupted": reasons.count("interrupted")}


def test_two_jobs_on_the_default_sqlite_storage_interrupted_and_resumed(tmp_path: Path) -> None:
    """No --storage: the default SQLite file (tuner.db in the working folder) is shared by two
    worker processes with no lock errors. Ctrl-C mid-stage stops both workers (exit 130, a trial
    that was running is FAIL "interrupted", a resume hint); the same command then ends each stage
    exactly at its target.

    The interrupt is sent at the first COMPLETE trial: the 7 left take 2 workers ~3 s (0.9 s
    each). On failure the message holds the workers' logs and exit codes."""
    (tmp_path / "toy.toml").write_text(TOY_STUDY.format(sleep=0.3))
    argv = ("study", "toy.toml", "--jobs", "2", "--no-tracking")
    proc = _tuner(tmp_path, *argv)
    _wait_for_complete(tmp_path / "tuner.db", "toy/coarse", 1, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert ("interrupted; to resume, run: python -m tuner study toy.toml --jobs 2 "
            "--no-tracking") in out
    trials = optuna.load_study(study_name="toy/coarse", storage="sqlite:///" + str(
        tmp_path / "tuner.db")).trials
    assert not [t for t in trials if t.state.name == "RUNNING"]  # even one just asked for
    assert _counts(tmp_path / "tuner.db", "toy/coarse")["COMPLETE"] < 8, (out, err)

    proc = _tuner(tmp_path, *argv)
    out, err2 = proc.communicate(timeout=240)
    assert proc.returncode == 0, err2
    assert "locked" not in err + err2 + out
    assert "Traceback" not in err + err2
    counts = _counts(tmp_path / "tuner.db", "toy/coarse")
    assert (counts["COMPLETE"], counts["PRUNED"]) == (8, 0)
    assert _counts(tmp_path / "tuner.db", "toy/fine")["COMPLETE"] == 4
    assert out.count("stage coarse: 8 complete") == 1  # one summary, from worker 0


def _wait_for_complete(db: Path, study: str, n: int, proc: subprocess.Popen[str]) -> None:
    """Poll the storage (read-only, so the poll never creates tables) until `n` trials of
    `study` are COMPLETE."""
    query = ("SELECT count(*) FROM trials JOIN studies USING (study_id) "
             "WHERE study_name = ? AND state = 'COMPLETE'")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
                if conn.execute(query, (study,)).fetchone()[0] >= n:
                    return
        except sqlite3.OperationalError:
            pass  # not created yet
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"{study} never reached {n} complete trials")


def test_a_spec_changed_in_python_is_what_every_job_runs(tmp_path: Path) -> None:
    """A StudySpec changed with dataclasses.replace (x narrowed to [3, 4], a fixed param the
    file does not set) runs as changed in both worker processes: they read it from the
    storage, not from the study file."""
    spec = _spec(tmp_path, trials=3)
    narrowed = dataclasses.replace(spec.stages[0].space[0], low=3.0, high=4.0)
    changed = dataclasses.replace(
        spec, stages=(dataclasses.replace(spec.stages[0], space=(narrowed,)), spec.stages[1]),
        fixed={**spec.fixed, "epochs": 2})
    storage = f"sqlite:///{tmp_path / 'jobs.db'}"
    tuner.run_study(changed, storage=storage, tracking=False, progress=False, jobs=2)
    trials = optuna.load_study(study_name="toy/coarse", storage=storage).trials
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 3
    assert all(3.0 <= t.params["x"] <= 4.0 for t in complete)
    assert all(len(t.intermediate_values) == 2 for t in complete)  # epochs = 2, not the file's 3
