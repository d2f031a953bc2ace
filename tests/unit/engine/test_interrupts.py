"""Kill and interrupt a real `tuner study` process, then rerun it: the stage ends exactly at its
target, trial numbers are unique, a killed trial is failed (heartbeat) and retried."""

from __future__ import annotations

import os
import shlex
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState
from toy_studies import KILL_STUDY, kill_trials

from tuner.cli import main
from tuner.engine import interrupts, stage
from tuner.engine import trial as trial_module


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
    path.write_text(KILL_STUDY)
    assert main(["-q", "study", str(path), "--storage", storage_url, "--no-tracking"]) == 130
    hint = shlex.join(["python", "-m", "tuner", "-q", "study", str(path), "--storage",
                       storage_url, "--no-tracking"])  # the same command, URLs masked
    assert f"interrupted; to resume, run: {hint}\n" in capsys.readouterr().out
    (trial,) = kill_trials(storage_url)
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
    path.write_text(KILL_STUDY)
    assert main(["-q", "study", str(path), "--storage", storage_url, "--no-tracking"]) == 130
    assert "interrupted; to resume, run:" in capsys.readouterr().out
    (trial,) = kill_trials(storage_url)
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
