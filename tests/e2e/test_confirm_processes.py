"""The confirm stage across processes: killed (SIGKILL) mid-repeat, the same command ends it with
exact counts and the same answer as an uninterrupted run; two worker processes share it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState
from paths import ROOT

STUDY = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
seed = 4

[fixed]
epochs = 3
noise = 0.2

[[stages]]
name = "coarse"
sampler = "random"
trials = 8
[stages.space]
x = { low = -5.0, high = 5.0 }

[final]
monitor = 40
confirm = { top_k = 3, repeats = 2 }
"""


def _tuner(folder: Path, *argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TUNER_HEARTBEAT_SECONDS": "1"}
    return subprocess.Popen([sys.executable, "-m", "tuner", "-q", *argv], cwd=folder, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _done(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    return out


def _searched(folder: Path) -> None:
    """The search alone (no confirm stage), run to its end."""
    (folder / "toy.toml").write_text(STUDY)
    _done(_tuner(folder, "study", "toy.toml", "--no-tracking", "--no-confirm"))


def _confirm_trials(folder: Path) -> list[FrozenTrial]:
    try:
        return optuna.load_study(study_name="toy/confirm",
                                 storage=f"sqlite:///{folder / 'tuner.db'}").trials
    except KeyError:
        return []


def _wait_for(folder: Path, proc: subprocess.Popen[str], held: int) -> list[FrozenTrial]:
    """Wait until `held` confirm trials wait at the gate (RUNNING, one step reported)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        running = [t for t in _confirm_trials(folder)
                   if t.state == TrialState.RUNNING and t.intermediate_values]
        if len(running) >= held:
            return running
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"never saw {held} confirm trials held at the gate")


def _answer(out: str) -> str:
    return next(line for line in out.splitlines() if line.strip().startswith("answer:"))


def test_a_confirm_stage_killed_mid_repeat_ends_exactly_with_the_same_answer(
        tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    command = ("study", "toy.toml", "--no-tracking", "--set", f"hold={gate}")
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    for folder in (reference, killed):
        folder.mkdir()
        _searched(folder)

    gate.touch()  # the reference run never waits
    expected = _answer(_done(_tuner(reference, *command)))
    gate.unlink()

    proc = _tuner(killed, *command)
    (held,) = _wait_for(killed, proc, 1)  # its first repeat waits at the gate: kill it there
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    gate.touch()
    assert _answer(_done(_tuner(killed, *command))) == expected

    mine, theirs = _confirm_trials(killed), _confirm_trials(reference)
    assert not [t for t in mine if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    failed = [t for t in mine if t.state == TrialState.FAIL]
    assert [t.number for t in failed] == [held.number]  # the killed one, failed as stale
    retry = next(t for t in mine if t.system_attrs.get("failed_trial") == held.number)
    assert retry.state == TrialState.COMPLETE
    assert (retry.user_attrs["candidate"], retry.user_attrs["repeat"]) == (
        held.user_attrs["candidate"], held.user_attrs["repeat"])

    def evaluations(trials: list[FrozenTrial]) -> list[tuple[str, int, float]]:
        return sorted((t.user_attrs["candidate"], t.user_attrs["repeat"], t.value)
                      for t in trials if t.state == TrialState.COMPLETE)

    assert evaluations(mine) == evaluations(theirs)  # exact counts, the same evaluations


def test_two_workers_share_the_confirm_stage(tmp_path: Path) -> None:
    _searched(tmp_path)
    gate = tmp_path / "gate"
    proc = _tuner(tmp_path, "study", "toy.toml", "--no-tracking", "--jobs", "2", "--set",
                  f"hold={gate}")
    both = _wait_for(tmp_path, proc, 2)  # one repeat held in each worker: both take part
    assert len({t.user_attrs["candidate"] for t in both}) == 2
    gate.touch()
    out = _done(proc)
    assert "answer: coarse:" in out
    trials = _confirm_trials(tmp_path)
    finished = [t for t in trials if t.state == TrialState.COMPLETE]
    pairs = [(t.user_attrs["candidate"], t.user_attrs["repeat"]) for t in finished]
    assert len(pairs) == len(set(pairs)) and 3 <= len(finished) <= 6
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
