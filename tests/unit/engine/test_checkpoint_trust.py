"""A trial's checkpoint is loaded only when its bytes are the ones saved: the SHA-256 recorded in
the trial's attrs when it was saved (engine/checkpoints.py). A truncated, bit-flipped, altered
(well-formed, other values), unrecorded (an older tuner's) or missing checkpoint is refused with
one WARNING naming the trial and why; the trial trains all its steps from scratch and ends with
the value of a run that never had a checkpoint. Each case stops a real study at a report in
process (Ctrl-C's path: the trial is queued again with its checkpoint), damages what it left,
then runs the study again."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from objectives import registry
from objectives.base import Split
from objectives.checkpoint import Checkpoint
from tuner.cli import main
from tuner.engine import trial as trial_module
from tuner.engine.checkpoints import ATTR, REFUSED_ATTR
from tuner.engine.final_checkpoint import final_checkpoint

STUDY = """
name = "trust"
objective = "{objective}"
dataset = "digits"
metric = "val_accuracy"
seed = 0

[fixed]
{fixed}

[[stages]]
name = "only"
sampler = "random"
trials = 1
[stages.space]
{space}
"""

OBJECTIVES = {  # the NumPy nets (a .npz state) and a torch net (a torch.save state)
    "softmax": ("epochs = 6\nbatch_size = 100\noptimizer = \"momentum\"",
                "lr = { choices = [0.01] }"),
    "two_layer": ("hidden = 20\ncycles = 1\nn_s = 60\nbatch_size = 50\npoints_per_cycle = 6",
                  "lambda = { choices = [0.001] }"),
    "mlp": ("epochs = 5\nbatch_size = 64\nwidths = [32, 16, 16]", "lr = { choices = [0.05] }"),
}
STOP_AT = 3
"""The first run stops at its 3rd report, so the checkpoint it leaves is the 2nd step's."""


def _truncated(path: Path, kind: str) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _bit_flipped(path: Path, kind: str) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _altered(path: Path, kind: str) -> None:
    """Well-formed (it loads without complaint), but its weights are not the saved ones."""
    if kind == "state.npz":
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["params"] = arrays["params"] * 0.5
        with path.open("wb") as handle:
            np.savez(handle, allow_pickle=False, **arrays)
        return
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    state["network"] = {k: v * 0.5 for k, v in state["network"].items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path.write_bytes(buffer.getvalue())


def _missing(path: Path, kind: str) -> None:
    path.unlink()


def _unrecorded(path: Path, kind: str) -> None:
    """The file as it was; the attr loses its digest below (what an older tuner stored)."""


FAULTS: dict[str, tuple[Callable[[Path, str], None], str]] = {
    "truncated": (_truncated, r"its SHA-256 \w+\.\.\. is not the \w+\.\.\. recorded when it was "
                              r"saved \(the file was damaged or changed\)"),
    "bit-flipped": (_bit_flipped, r"its SHA-256 \w+\.\.\. is not the \w+\.\.\. recorded"),
    "altered": (_altered, r"its SHA-256 \w+\.\.\. is not the \w+\.\.\. recorded"),
    "missing": (_missing, r"its file cannot be read \("),
    "unrecorded (an older tuner's)": (
        _unrecorded, r"it has no recorded SHA-256 \(saved by an older tuner\)"),
    "for other params": (_unrecorded, r"it was saved for other params than this trial's"),
    "a record naming another file": (_unrecorded, r"its record is not one this tuner writes"),
}
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
    path.write_text(STUDY.format(objective=objective, fixed=fixed, space=space))
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


class Killed(Exception):
    """Stands for a kill of the final right after a reporting point's checkpoint was saved."""


def _digits() -> tuple[Split, Split]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = ((X - 8.0) / 8.0).astype(np.float32)
    return Split(X[:1200], y[:1200].astype(np.int64)), Split(X[1200:], y[1200:].astype(np.int64))


FINAL_CONFIGS = {"softmax": {"epochs": 5, "batch_size": 100, "lr": 0.01, "threads": 1},
                 "mlp": {"epochs": 4, "batch_size": 64, "lr": 0.05, "widths": [32, 16, 16],
                         "threads": 1}}


@pytest.mark.parametrize("fault", ["intact", "truncated", "bit-flipped", "altered",
                                   "unrecorded (an older tuner's)"])
@pytest.mark.parametrize("objective", list(FINAL_CONFIGS))
def test_the_finals_checkpoint_is_verified_too(objective: str, fault: str, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """A killed final run again continues only from a checkpoint whose SHA-256 is the one the
    study recorded when it was saved; else it warns and trains from scratch, ending as a
    final that never had one."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'tuner.db'}")
    optuna.create_study(storage=storage, study_name="trust/only")
    ctx = SimpleNamespace(checkpoints=object(), storage=storage, spec=SimpleNamespace(
        name="trust"), options=SimpleNamespace(storage_url=f"sqlite:///{tmp_path / 'tuner.db'}",
                                               checkpoint_dir=str(tmp_path / "ckpt")))
    fit: Any = registry.get(objective).fit
    config = FINAL_CONFIGS[objective]
    train, val = _digits()
    plain = fit(config, train, val, lambda step, metrics: None, 0, (1, 8, 8))

    def kill_at_3(step: int, metrics: Mapping[str, float]) -> None:
        if step == 3:
            raise Killed

    first = final_checkpoint(ctx, "trust/only", 0, config)
    assert first is not None
    first.min_interval = 0.0
    with pytest.raises(Killed):
        fit(config, train, val, kill_at_3, 0, (1, 8, 8), checkpoint=first)
    (saved,) = first.files()
    study_id = storage.get_study_id_from_name("trust/only")
    if fault == "unrecorded (an older tuner's)":
        storage.set_study_system_attr(study_id, first.attr, None)
    elif fault != "intact":
        FAULTS[fault][0](saved, saved.name)
    caplog.clear()
    steps: list[int] = []
    again = fit(config, train, val, lambda step, metrics: steps.append(step), 0, (1, 8, 8),
                checkpoint=final_checkpoint(ctx, "trust/only", 0, config))
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    if fault == "intact":
        assert steps[0] == 3 and not warned  # continued after step 2
    else:
        assert steps[0] == 1 and len(warned) == 1, warned  # from scratch, said once
        assert warned[0].startswith(f"final: its checkpoint in {saved.parent.parent} not "
                                    "loaded: ")
        assert re.search(FAULTS[fault][1], warned[0])
    assert [r["val_loss"] for r in again.history] == [r["val_loss"] for r in plain.history]


def test_an_older_tuners_final_checkpoint_is_refused(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Older tuners kept the final's state in its folder itself, with no digest anywhere."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'tuner.db'}")
    optuna.create_study(storage=storage, study_name="trust/only")
    ctx = SimpleNamespace(checkpoints=object(), storage=storage, spec=SimpleNamespace(
        name="trust"), options=SimpleNamespace(storage_url=f"sqlite:///{tmp_path / 'tuner.db'}",
                                               checkpoint_dir=str(tmp_path / "ckpt")))
    config = FINAL_CONFIGS["softmax"]
    probe = final_checkpoint(ctx, "trust/only", 0, config)
    assert probe is not None
    Checkpoint(probe.root).save_arrays({"params": np.zeros(3)}, {"step": 1})  # the old layout
    caplog.clear()
    checkpoint = final_checkpoint(ctx, "trust/only", 0, config)
    assert checkpoint is not None and checkpoint.load_arrays() is None
    (warned,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "not loaded: it has no recorded SHA-256 (saved by an older tuner)" in warned
    assert not (probe.root / "state.npz").exists()
