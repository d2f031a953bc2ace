"""`tuner study NAME --jobs N` with real worker processes: Ctrl-C forwarding, N processes on the
default SQLite storage, and the spec the study stored run by every worker."""

from __future__ import annotations

import contextlib
import dataclasses
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
from paths import ROOT
from toy_studies import SLEEPY, sleepy_spec

import tuner
from tuner.engine import jobs
from tuner.search.trials import own_trials

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


def _tuner(cwd: Path, *argv: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TUNER_HEARTBEAT_SECONDS": "1"}
    return subprocess.Popen([sys.executable, "-m", "tuner", *argv], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def _counts(db: Path, study: str) -> dict[str, int]:
    """Trial counts by state and FAIL reason of the trials the stage ran (a fine stage's
    warm-start copies aside); a FAIL is surplus (told FAIL before it ran) or interrupted
    (Ctrl-C, wherever it landed after ask())."""
    trials = own_trials(optuna.load_study(study_name=study, storage=f"sqlite:///{db}").trials)
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
    (tmp_path / "toy.toml").write_text(SLEEPY.format(sleep=0.3))
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
    spec = sleepy_spec(tmp_path, trials=3)
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
