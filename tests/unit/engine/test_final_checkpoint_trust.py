"""The final retrain's checkpoint is loaded only when its SHA-256 is the one recorded in the
study when it was saved (engine/final_checkpoint.py); else the final warns and trains from
scratch, ending as a final that never had one."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import optuna
import pytest
from damaged_checkpoints import FAULTS

from objectives import registry
from objectives.base import Split
from objectives.checkpoint import Checkpoint
from tuner.engine.final_checkpoint import final_checkpoint


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
