"""A trial's checkpoint is loaded only when its bytes are the ones saved: the SHA-256 recorded in
the trial's attrs when it was saved (engine/checkpoints.py). A truncated, bit-flipped, altered
(well-formed, other values), unrecorded (an older tuner's) or missing checkpoint, one saved for
other params or a record naming another file, is refused with one WARNING naming the trial and
why; the trial trains all its steps from scratch and ends with
the value of a run that never had a checkpoint. Each case stops a real study at a report in
process (Ctrl-C's path: the trial is queued again with its checkpoint), damages what it left,
then runs the study again."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from damaged_checkpoints import FAULTS
from optuna.trial import FrozenTrial, TrialState
from toy_studies import ONE_TRIAL

from tuner.cli import main
from tuner.engine import trial as trial_module
from tuner.engine.checkpoints import ATTR, REFUSED_ATTR

OBJECTIVES = {  # the NumPy nets (a .npz state) and a torch net (a torch.save state)
    "softmax": ("epochs = 6\nbatch_size = 100\noptimizer = \"momentum\"",
                "lr = { choices = [0.01] }"),
    "two_layer": ("hidden = 20\ncycles = 1\nn_s = 60\nbatch_size = 50\npoints_per_cycle = 6",
                  "lambda = { choices = [0.001] }"),
    "mlp": ("epochs = 5\nbatch_size = 64\nwidths = [32, 16, 16]", "lr = { choices = [0.05] }"),
}
STOP_AT = 3
"""The first run stops at its 3rd report, so the checkpoint it leaves is the 2nd step's."""


RECORDS: dict[str, Callable[[dict[str, Any]], Any]] = {  # the attr as an older tuner, a
    # checkpoint of another configuration or a hand-edited record left it
    "unrecorded (an older tuner's)": lambda r: {k: v for k, v in r.items() if k != "sha256"},
    "for other params": lambda r: {**r, "params": "0" * 16},
    "a record naming another file": lambda r: {**r, "file": "../../tuner.db"},
}
CASES = [(o, f) for o in OBJECTIVES for f in FAULTS
         if o == "softmax" or f in ("truncated", "bit-flipped", "altered", "missing")]


def _study(tmp_path: Path, name: str, objective: str) -> tuple[Path, str]:
    folder = tmp_path / name
    folder.mkdir()
    fixed, space = OBJECTIVES[objective]
    path = folder / "study.toml"
    path.write_text(ONE_TRIAL.format(name="trust", objective=objective, fixed=fixed,
                                    space=space))
    return path, f"sqlite:///{folder / 'tuner.db'}"


def _run(path: Path, storage: str, *extra: str) -> int:
    return main(["-q", "study", str(path), "--storage", storage, "--no-tracking", *extra])


def _trials(storage: str) -> list[FrozenTrial]:
    return optuna.load_study(study_name="trust/only", storage=storage).trials


_REFERENCE: dict[str, FrozenTrial] = {}


def _reference(tmp_path: Path, objective: str) -> FrozenTrial:
    """The trial as a run without any checkpoint ends it (same seed, same params)."""
    if objective not in _REFERENCE:
        path, storage = _study(tmp_path, "plain", objective)
        assert _run(path, storage, "--no-checkpoints") == 0
        (_REFERENCE[objective],) = _trials(storage)
    return _REFERENCE[objective]


def _stopped_with_checkpoint(tmp_path: Path, objective: str,
                             monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, FrozenTrial]:
    """Run the study until its trial's STOP_AT-th report, then stop it there (Ctrl-C): the
    trial is queued again with the checkpoint of the step before."""
    monkeypatch.setenv("TUNER_CHECKPOINT_EVERY", "0")
    path, storage = _study(tmp_path, "stopped", objective)
    reports = 0

    def ctrl_c_at_stop() -> None:
        nonlocal reports
        reports += 1
        if reports == STOP_AT:
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(trial_module, "check_interrupted", ctrl_c_at_stop)
        assert _run(path, storage) == 130
    stopped, queued = _trials(storage)
    assert stopped.state == TrialState.FAIL and queued.state == TrialState.WAITING
    assert queued.user_attrs[ATTR]["sha256"] == stopped.user_attrs[ATTR]["sha256"]
    return path, storage, queued


def _stored_file(path: Path, queued: FrozenTrial) -> Path:
    return path.parent / "checkpoints" / str(queued.user_attrs[ATTR]["id"])


@pytest.mark.parametrize(("objective", "fault"), CASES)
def test_a_bad_checkpoint_is_refused_and_the_trial_trains_from_scratch(
    objective: str, fault: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = _reference(tmp_path, objective)
    path, storage, queued = _stopped_with_checkpoint(tmp_path, objective, monkeypatch)
    damage, why = FAULTS[fault]
    damage(_stored_file(path, queued), queued.user_attrs[ATTR]["file"])
    if fault in RECORDS:
        record = RECORDS[fault](dict(queued.user_attrs[ATTR]))
        optuna.storages.get_storage(storage).set_trial_user_attr(queued._trial_id, ATTR, record)
    caplog.clear()
    assert _run(path, storage) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1, warned  # one line, and the trial did not fail
    assert warned[0].startswith("trial 1: checkpoint of trial 0 not loaded: ")
    assert re.search(why, warned[0]) and warned[0].endswith("; training from the start")
    assert not [r for r in caplog.records if r.exc_info]
    done = _trials(storage)[1]
    assert done.state == TrialState.COMPLETE
    assert done.value == reference.value  # as if no checkpoint had ever been written
    assert done.intermediate_values == reference.intermediate_values
    assert done.user_attrs["steps"] == reference.user_attrs["steps"]
    assert done.user_attrs["epochs"] == reference.user_attrs["epochs"]  # all of them, here
    assert "resumed_from_trial" not in done.user_attrs
    assert re.search(why, done.user_attrs[REFUSED_ATTR])
    caplog.clear()
    capsys.readouterr()
    assert main(["show", "trust", "--storage", storage]) == 0
    assert "its checkpoint refused, trained from scratch" in capsys.readouterr().out
    if fault != "a record naming another file":  # a record that names no file of its own
        assert not [p for p in (path.parent / "checkpoints").rglob("*") if p.is_file()]
    assert (path.parent / "tuner.db").stat().st_size > 0


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_an_intact_checkpoint_is_continued(objective: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """The same stop, nothing damaged: the trial continues from the step it was saved at, and
    ends as the run without a checkpoint (the cases above refuse because of the damage)."""
    reference = _reference(tmp_path, objective)
    path, storage, _ = _stopped_with_checkpoint(tmp_path, objective, monkeypatch)
    caplog.clear()
    assert _run(path, storage) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    done = _trials(storage)[1]
    assert done.state == TrialState.COMPLETE and done.value == reference.value
    assert done.user_attrs["resumed_from_trial"] == 0
    assert done.user_attrs["resumed_at_step"] == STOP_AT - 1
    assert REFUSED_ATTR not in done.user_attrs
