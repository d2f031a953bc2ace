"""Objectives that continue from a checkpoint end bit for bit as an uninterrupted run, training
only what was left (objectives.checkpoint)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

from objectives import registry
from objectives.base import Split
from objectives.checkpoint import Checkpoint

SHAPE = (1, 8, 8)


class Killed(Exception):
    """Stands for a kill right after a reporting point's checkpoint was written."""


def _splits(seed: int = 0) -> tuple[Split, Split]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = ((X - 8.0) / 8.0).astype(np.float32)
    return Split(X[:1200], y[:1200].astype(np.int64)), Split(X[1200:], y[1200:].astype(np.int64))


CASES: dict[str, Mapping[str, Any]] = {
    "softmax adam, step decay": {"optimizer": "adam", "epochs": 6, "batch_size": 50,
                                 "lr": 0.01, "schedule": "step", "decay_every": 2},
    "softmax momentum": {"optimizer": "momentum", "epochs": 5, "batch_size": 32, "lr": 0.05},
    "two_layer cyclical, flip, mid-epoch reports": {"hidden": 20, "cycles": 2, "n_s": 60,
                                                    "points_per_cycle": 5, "flip": True},
    "lenet sgd+momentum": {"epochs": 4, "batch_size": 64, "lr": 0.05, "optimizer": "sgd",
                           "momentum": 0.9, "milestones": [3]},
    "cifar_cnn dropout + augmentation": {"epochs": 3, "batch_size": 100, "lr": 0.02,
                                          "dropout": 0.3, "augment": True},
}
OBJECTIVES = {"softmax adam, step decay": "softmax", "softmax momentum": "softmax",
              "two_layer cyclical, flip, mid-epoch reports": "two_layer",
              "lenet sgd+momentum": "lenet", "cifar_cnn dropout + augmentation": "cifar_cnn"}


def _weights(model: Any) -> list[np.ndarray]:
    if hasattr(model, "module"):
        return [v.detach().cpu().numpy() for v in model.module.state_dict().values()]
    return [np.array(model.flat_params)]


def _curve(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


@pytest.mark.parametrize("case", list(CASES))
def test_killed_after_report_k_resumes_bit_for_bit(case: str, tmp_path: Path) -> None:
    objective: Any = registry.get(OBJECTIVES[case])
    config = {**CASES[case], "threads": 1}
    train, val = _splits()
    shape = SHAPE
    if OBJECTIVES[case] == "cifar_cnn":  # three identical channels: CIFAR-shaped digits
        shape = (3, 8, 8)
        train, val = (Split(np.ascontiguousarray(np.tile(s.X, 3)), s.y) for s in (train, val))
    if OBJECTIVES[case] == "lenet":  # LeNet needs 12x12 or more: digits at twice the size
        shape = (1, 16, 16)
        train, val = (Split(np.ascontiguousarray(
            s.X.reshape(-1, 8, 8).repeat(2, axis=1).repeat(2, axis=2).reshape(-1, 256)), s.y)
            for s in (train, val))
    full = objective.fit(config, train, val, lambda step, metrics: None, 3, shape)
    total = len(full.history)
    k = total // 2
    assert k >= 1

    def kill_after_k(step: int, metrics: Mapping[str, float]) -> None:
        if step == k + 1:  # the k-th point's checkpoint is on disk: stop here
            raise Killed

    checkpoint = Checkpoint(tmp_path / "ckpt")
    with pytest.raises(Killed):
        objective.fit(config, train, val, kill_after_k, 3, shape, checkpoint=checkpoint)
    assert checkpoint.saves == k
    resumed_steps: list[int] = []
    again = objective.fit(config, train, val, lambda step, metrics: resumed_steps.append(step),
                          3, shape, checkpoint=Checkpoint(tmp_path / "ckpt"))
    assert resumed_steps == list(range(k + 1, total + 1))  # only the rest was trained
    assert _curve(again.history) == _curve(full.history)
    for a, b in zip(_weights(again.model), _weights(full.model), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_kill_while_writing_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path)
    checkpoint.save_arrays({"w": np.arange(3.0)}, {"step": 1})

    def crash(path: Path) -> None:
        path.write_bytes(b"half a file")
        raise Killed

    with pytest.raises(Killed):
        checkpoint._replace("state.npz", crash)
    loaded = Checkpoint(tmp_path).load_arrays()
    assert loaded is not None and loaded[1] == {"step": 1}
    np.testing.assert_array_equal(loaded[0]["w"], np.arange(3.0))


@contextmanager
def _saved_in_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Saved]:
    """moto's in-process S3 with bucket `runs`, a store at s3://runs/team/ckpt, and one
    checkpoint (w = arange(4), one epoch of history) saved there by the study's first trial."""
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    import optuna

    from tuner.engine.checkpoint_store import checkpoint_store
    from tuner.engine.checkpoints import TrialCheckpoint

    for var, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(var, value)
    with moto.mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="runs")
        store = checkpoint_store("s3://runs/team/ckpt")
        study = optuna.create_study()
        first = study.ask()
        saving = TrialCheckpoint(tmp_path / "a", store, first, lambda history: None, "s-0")
        saving.min_interval = 0.0
        saving.save_arrays({"w": np.arange(4.0)}, {"history": [{"epoch": 1.0}], "step": 1})
        yield S3Saved(s3, store, study, first, saving)


class S3Saved(NamedTuple):
    s3: Any
    store: Any
    study: Any
    first: Any
    saving: Any


def test_checkpoints_in_s3_round_trip_under_a_prefix(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """s3://BUCKET/PREFIX through Optuna's Boto3ArtifactStore (moto's in-process S3)."""
    from tuner.engine.checkpoints import ATTR, TrialCheckpoint

    with _saved_in_s3(tmp_path, monkeypatch) as (s3, store, study, first, saving):
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="runs")["Contents"]]
        assert keys == [f"team/ckpt/{first.user_attrs[ATTR]['id']}"]
        study.enqueue_trial({}, user_attrs={ATTR: first.user_attrs[ATTR]})
        restored: list[list[dict[str, float]]] = []
        loading = TrialCheckpoint(tmp_path / "b", store, study.ask(), restored.append, "s-1")
        loaded = loading.load_arrays()
        assert loaded is not None and restored == [[{"epoch": 1.0}]]
        np.testing.assert_array_equal(loaded[0]["w"], np.arange(4.0))
        loading.discard()
        assert "Contents" not in s3.list_objects_v2(Bucket="runs")


@pytest.mark.parametrize("name", ["state.npz", "state.pt"])
def test_an_unreadable_checkpoint_starts_the_fit_from_scratch(
    name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A plain folder has no recorded digest to check; a file in it that cannot be read is
    still not loaded (load_* give None, so the fit starts from scratch) instead of raising."""
    (tmp_path / name).write_bytes(b"PK\x03\x04 half a zip")
    checkpoint = Checkpoint(tmp_path)
    assert (checkpoint.load_arrays() if name.endswith("npz") else checkpoint.load_torch()) is None
    (warned,) = [r.getMessage() for r in caplog.records]
    assert warned.startswith(f"checkpoint in {tmp_path} not loaded: it cannot be read (")
    assert warned.endswith("; training from the start")


def test_each_save_records_the_sha256_of_the_file_it_wrote(tmp_path: Path) -> None:
    import hashlib

    checkpoint = Checkpoint(tmp_path)
    checkpoint.save_arrays({"w": np.arange(3.0)}, {"step": 1})
    assert checkpoint.digest == hashlib.sha256((tmp_path / "state.npz").read_bytes()).hexdigest()


def test_a_changed_checkpoint_in_s3_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """The same SHA-256 rule for s3://BUCKET/PREFIX: an object that is not the bytes saved is
    not loaded, and is deleted."""
    from tuner.engine.checkpoints import ATTR, REFUSED_ATTR, TrialCheckpoint

    with _saved_in_s3(tmp_path, monkeypatch) as (s3, store, study, first, saving):
        assert first.user_attrs[ATTR]["sha256"] == saving.digest
        changed = tmp_path / "changed.npz"
        with changed.open("wb") as handle:  # well-formed, other values
            np.savez(handle, w=np.zeros(4), __meta__=np.array('{"history": [], "step": 1}'))
        key = f"team/ckpt/{first.user_attrs[ATTR]['id']}"
        s3.put_object(Bucket="runs", Key=key, Body=changed.read_bytes())
        study.enqueue_trial({}, user_attrs={ATTR: first.user_attrs[ATTR]})
        restored: list[list[dict[str, float]]] = []
        second = study.ask()
        loading = TrialCheckpoint(tmp_path / "b", store, second, restored.append, "s-1")
        assert loading.load_arrays() is None and restored == []
        (warned,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert warned.startswith(f"trial {second.number}: checkpoint of trial {first.number} "
                                 "not loaded: its SHA-256 ")
        assert "recorded when it was saved" in second.user_attrs[REFUSED_ATTR]
        assert "Contents" not in s3.list_objects_v2(Bucket="runs")  # the refused one is gone
