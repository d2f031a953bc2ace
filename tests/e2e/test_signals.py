"""A study process killed (SIGKILL) or interrupted (SIGINT, SIGTERM) mid-stage, then run again:
exact counts and a resume hint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from optuna.trial import FrozenTrial, TrialState
from paths import ROOT
from toy_studies import KILL_STUDY, TARGET, kill_trials


def start(tmp_path: Path, storage_url: str, hold: Path | None = None,
          *more: str) -> subprocess.Popen[str]:
    """`tuner study` on the toy study; with `hold`, every trial waits after its first report
    until that file exists (so a trial is certainly running when the test acts); `more`: extra
    arguments."""
    path = tmp_path / "kill.toml"
    path.write_text(KILL_STUDY)
    env = {**os.environ, "TUNER_HEARTBEAT_SECONDS": "1"}
    extra = ["--set", f"hold={hold}"] if hold is not None else []
    return subprocess.Popen(
        [sys.executable, "-m", "tuner", "-q", "study", str(path), "--storage", storage_url,
         "--no-tracking", *extra, *more], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def wait_for(storage_url: str, proc: subprocess.Popen[str],
             cond: Callable[[list[FrozenTrial]], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond(kill_trials(storage_url)):
            return
        if proc.poll() is not None:
            pytest.fail(f"process exited early: {proc.communicate()}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("condition not reached")


def complete(ts: list[FrozenTrial]) -> int:
    return sum(t.state == TrialState.COMPLETE for t in ts)


def held_mid_trial(ts: list[FrozenTrial]) -> bool:
    """A trial is running, held after its first report (see start)."""
    return any(t.state == TrialState.RUNNING and t.intermediate_values for t in ts)


def rerun_to_the_end(tmp_path: Path, storage_url: str) -> list[FrozenTrial]:
    proc = start(tmp_path, storage_url)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    ts = kill_trials(storage_url)
    assert complete(ts) == TARGET
    assert not any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in ts)
    numbers = [t.number for t in ts]
    assert len(numbers) == len(set(numbers)) == numbers[-1] + 1
    return ts


def test_sigkill_mid_trial_then_restart(tmp_path: Path, storage_url: str) -> None:
    """The trial is held after its first report, so the kill lands mid-trial for certain."""
    hold = tmp_path / "go"
    proc = start(tmp_path, storage_url, hold)
    wait_for(storage_url, proc, held_mid_trial)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (killed,) = [t for t in kill_trials(storage_url) if t.state == TrialState.RUNNING]
    hold.touch()
    ts = rerun_to_the_end(tmp_path, storage_url)
    assert ts[killed.number].state == TrialState.FAIL
    retries = [t for t in ts if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == killed.params


def test_sigkill_between_trials_then_restart(tmp_path: Path, storage_url: str) -> None:
    """Killed the moment a trial is told COMPLETE (at most the next one has just started)."""
    proc = start(tmp_path, storage_url)
    wait_for(storage_url, proc, lambda ts: complete(ts) >= 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = kill_trials(storage_url)
    assert complete(before) >= 2
    ts = rerun_to_the_end(tmp_path, storage_url)
    for t in before:
        if t.state == TrialState.COMPLETE:
            assert ts[t.number].state == TrialState.COMPLETE and ts[t.number].value == t.value


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_sigint_or_sigterm_fails_the_running_trial_and_prints_how_to_resume(
    tmp_path: Path, storage_url: str, signum: int
) -> None:
    hold = tmp_path / "go"
    proc = start(tmp_path, storage_url, hold)
    wait_for(storage_url, proc, held_mid_trial)
    proc.send_signal(signum)
    hold.touch()  # the held trial goes on to its next report, where the Ctrl-C stops it
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; to resume, run: python -m tuner -q study" in out
    assert "Traceback" not in err
    interrupted = [t for t in kill_trials(storage_url) if t.state == TrialState.FAIL]
    assert len(interrupted) == 1 and interrupted[0].user_attrs["reason"] == "interrupted"
    assert not any(t.state == TrialState.RUNNING for t in kill_trials(storage_url))
    ts = rerun_to_the_end(tmp_path, storage_url)
    assert sum(t.state == TrialState.FAIL for t in ts) == 1


def test_a_second_ctrl_c_while_exiting_stops_at_once_without_a_traceback(
    tmp_path: Path, storage_url: str
) -> None:
    """The first Ctrl-C stops the held trial; the process then waits in its exit (a thread
    joined, as MLflow's writer is) at a gate, where the second Ctrl-C lands for certain."""
    hold, exit_gate = tmp_path / "go", tmp_path / "exit"
    exiting = tmp_path / "exit.exiting"
    proc = start(tmp_path, storage_url, hold, "--set", f"hold_exit={exit_gate}")
    wait_for(storage_url, proc, held_mid_trial)
    proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None
    while "Ctrl-C again to stop now" not in (line := proc.stderr.readline()):
        assert line, "the first Ctrl-C was not acknowledged"
    hold.touch()
    deadline = time.monotonic() + 60
    while not exiting.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "never reached its exit"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        exit_gate.touch()  # a process that ignored the second Ctrl-C ends too
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert err.strip().splitlines() == ["interrupted: stopped now"], err
    assert "interrupted; to resume, run: python -m tuner -q study" in out
    ts = kill_trials(storage_url)
    interrupted = [t for t in ts if t.state == TrialState.FAIL]
    assert len(interrupted) == 1 and interrupted[0].user_attrs["reason"] == "interrupted"
    assert not any(t.state == TrialState.RUNNING for t in ts)
