"""Kill and interrupt a real `tuner study` process, then rerun it: the stage ends exactly at its
target, trial numbers are unique, a killed trial is failed (heartbeat) and retried."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from tuner.cli import main
from tuner.engine import interrupts, stage
from tuner.engine import trial as trial_module

ROOT = Path(__file__).resolve().parents[1]
TARGET = 4

STUDY = f"""
objective = "tests.toy_objective:TOY"
dataset = "digits"

[fixed]
epochs = 3
sleep = 0.1

[[stages]]
name = "only"
sampler = "random"
trials = {TARGET}
[stages.space]
x = {{ low = -10.0, high = 10.0 }}
"""


def start(tmp_path: Path, storage_url: str, hold: Path | None = None) -> subprocess.Popen[str]:
    """`tuner study` on the toy study; with `hold`, every trial waits after its first report
    until that file exists (so a trial is certainly running when the test acts)."""
    path = tmp_path / "kill.toml"
    path.write_text(STUDY)
    env = {**os.environ, "TUNER_HEARTBEAT_SECONDS": "1"}
    extra = ["--set", f"hold={hold}"] if hold is not None else []
    return subprocess.Popen(
        [sys.executable, "-m", "tuner", "-q", "study", str(path), "--storage", storage_url,
         "--no-tracking", *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def trials(storage_url: str) -> list[FrozenTrial]:
    try:
        return optuna.load_study(study_name="kill/only", storage=storage_url).get_trials()
    except KeyError:
        return []


def wait_for(storage_url: str, proc: subprocess.Popen[str],
             cond: Callable[[list[FrozenTrial]], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond(trials(storage_url)):
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
    ts = trials(storage_url)
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
    (killed,) = [t for t in trials(storage_url) if t.state == TrialState.RUNNING]
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
    before = trials(storage_url)
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
    interrupted = [t for t in trials(storage_url) if t.state == TrialState.FAIL]
    assert len(interrupted) == 1 and interrupted[0].user_attrs["reason"] == "interrupted"
    assert not any(t.state == TrialState.RUNNING for t in trials(storage_url))
    ts = rerun_to_the_end(tmp_path, storage_url)
    assert sum(t.state == TrialState.FAIL for t in ts) == 1


@pytest.mark.parametrize("where", ["inside study.ask()", "before the first heartbeat",
                                   "while suggesting params"])
def test_ctrl_c_right_after_ask_fails_that_trial_at_once(
    where: str, tmp_path: Path, storage_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """A Ctrl-C between ask() and the trial's run leaves no RUNNING trial for the next run to
    wait ~3 grace periods on: that trial is FAIL "interrupted" before the command exits."""

    def ctrl_c(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    if where == "inside study.ask()":
        create = RDBStorage._create_new_trial  # what study.ask() calls through its cache

        def create_then_sigint(self: RDBStorage, *args: Any, **kwargs: Any) -> FrozenTrial:
            trial = create(self, *args, **kwargs)
            os.kill(os.getpid(), signal.SIGINT)  # lands inside ask(), after the trial exists
            return trial

        monkeypatch.setattr(RDBStorage, "_create_new_trial", create_then_sigint)
    else:
        if where == "before the first heartbeat":
            monkeypatch.setattr(stage, "first_beat", ctrl_c)
        else:
            monkeypatch.setattr(trial_module, "suggest", ctrl_c)
    path = tmp_path / "kill.toml"
    path.write_text(STUDY)
    assert main(["-q", "study", str(path), "--storage", storage_url, "--no-tracking"]) == 130
    hint = shlex.join(["python", "-m", "tuner", "-q", "study", str(path), "--storage",
                       storage_url, "--no-tracking"])  # the same command, URLs masked
    assert f"interrupted; to resume, run: {hint}\n" in capsys.readouterr().out
    (trial,) = trials(storage_url)
    assert trial.state == TrialState.FAIL and trial.user_attrs["reason"] == "interrupted"


def test_a_swallowed_ctrl_c_still_stops_the_trial_at_its_next_report(
    tmp_path: Path, storage_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """Python can swallow the KeyboardInterrupt (raised inside a finalizer or a library's
    cleanup); the flag the SIGINT handler sets still stops the trial at its next report()."""
    sleep = time.sleep

    def sigint_swallowed_during_sleep(seconds: float) -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            sleep(seconds)
        except KeyboardInterrupt:
            pass  # what a finalizer does with it

    monkeypatch.setattr(time, "sleep", sigint_swallowed_during_sleep)
    path = tmp_path / "kill.toml"
    path.write_text(STUDY)
    assert main(["-q", "study", str(path), "--storage", storage_url, "--no-tracking"]) == 130
    assert "interrupted; to resume, run:" in capsys.readouterr().out
    (trial,) = trials(storage_url)
    assert trial.state == TrialState.FAIL and trial.user_attrs["reason"] == "interrupted"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_first_ctrl_c_only_marks_the_stop_the_second_raises(capfd: pytest.CaptureFixture[str]
                                                            ) -> None:
    """The first Ctrl-C never raises inside arbitrary code (a finalizer would swallow it with a
    printed traceback); it stops at the next report. A second one stops at once."""
    interrupts.SIGINT_SEEN.clear()
    try:
        interrupts.on_sigint(signal.SIGINT, None)
        assert interrupts.SIGINT_SEEN.is_set()
        assert "Ctrl-C again to stop now" in capfd.readouterr().err
        with pytest.raises(KeyboardInterrupt):
            interrupts.on_sigint(signal.SIGINT, None)
    finally:
        interrupts.SIGINT_SEEN.clear()
