"""`tuner study NAME --jobs N`: what each worker process is given, environments, exit codes,
Ctrl-C forwarding, N processes on the default SQLite storage running the spec the study stored."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import optuna
import pytest
from toy_studies import sleepy_spec

import tuner
from tuner import options as run_options
from tuner.cli import main
from tuner.engine import jobs
from tuner.errors import SpecError, StorageError
from tuner.options import RunOptions


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


def test_worker_env_carries_urls_and_leaves_threads_to_the_fair_share(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_options, "cores", lambda: 8)  # --jobs 16 is within 4 per core
    options = RunOptions(storage="sqlite:///x.db", tracking_uri="http://127.0.0.1:1", jobs=4)
    env = jobs.worker_env({"PATH": "/bin"}, 2, options, "{}")
    assert not [var for var in (*jobs.THREAD_VARS, "TUNER_THREADS") if var in env]
    assert env["TUNER_WORKER_INDEX"] == "2"
    assert env["TUNER_STORAGE"] == "sqlite:///x.db"
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:1"
    assert env["TUNER_WORKER"] == "{}"
    many = jobs.worker_env({"OMP_NUM_THREADS": "3"}, 0,
                           RunOptions(storage="sqlite:///x.db", tracking=False, jobs=16), "{}")
    assert many["OMP_NUM_THREADS"] == "3"  # the user's own setting is kept
    assert "MKL_NUM_THREADS" not in many and "TUNER_THREADS" not in many
    assert "MLFLOW_TRACKING_URI" not in many
    told = jobs.worker_env({"OMP_NUM_THREADS": "3"}, 0, RunOptions(jobs=2, threads=4), "{}")
    assert told["OMP_NUM_THREADS"] == "4" and told["TUNER_THREADS"] == "4"  # --threads wins


@pytest.mark.parametrize(
    ("codes", "expected"), [([0, 0], 0), ([0, 1], 1), ([130, 1, 0], 130), ([0, -9], 137), ([], 0)]
)
def test_worst_exit_code(codes: list[int], expected: int) -> None:
    assert jobs.worst(codes) == expected


def test_jobs_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sleepy_spec(tmp_path)
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
    spec = sleepy_spec(tmp_path, overrides={"epochs": 2})
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
        tuner.run_study(sleepy_spec(tmp_path), jobs=3, storage="postgresql+nosuchdriver://u:pw7@h/db")


