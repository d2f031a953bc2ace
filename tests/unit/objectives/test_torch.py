"""The torch objectives: network shapes, training behaviour, config errors, checkpoints.

Fast tests use small synthetic image sets (class prototypes plus noise); the slow ones train on
real MNIST / CIFAR-10 from ../shared/data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from objectives.base import Metrics, Split, no_report
from objectives.errors import ConfigError, DataError, DivergenceError
from objectives.torch_nets.architectures import CifarCNN, LeNet, MLPNet
from objectives.torch_nets.config import lr_at, make_optimizer
from objectives.torch_nets.loop import augment
from objectives.torch_nets.model import load_state_dict
from objectives.torch_nets.objective import CIFAR_CNN, LENET, MLP

MNIST_SHAPE = (1, 28, 28)
CIFAR_SHAPE = (3, 32, 32)


def synthetic(n: int, shape: tuple[int, int, int], seed: int = 0, noise: float = 1.0) -> Split:
    """n images: one fixed blocky random prototype per class (10 classes) plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    c, h, w = shape
    d = c * h * w
    coarse = np.random.default_rng(123).standard_normal((10, c, h // 4, w // 4))
    prototypes = np.kron(coarse, np.ones((4, 4))).reshape(10, d).astype(np.float32)
    y = rng.integers(0, 10, n).astype(np.int64)
    X = prototypes[y] + noise * rng.standard_normal((n, d)).astype(np.float32)
    return Split(np.ascontiguousarray(X, dtype=np.float32), y)


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """threads=0 follows $OMP_NUM_THREADS: one thread keeps these runs quick on a shared
    2-core machine (two threads ran LeNet 4-5x slower there under load)."""
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def mnist_like() -> tuple[Split, Split]:
    return synthetic(256, MNIST_SHAPE, seed=1), synthetic(64, MNIST_SHAPE, seed=2)


def test_network_output_shapes() -> None:
    assert MLPNet(MNIST_SHAPE, 10, [32, 16, 8])(torch.zeros(5, *MNIST_SHAPE)).shape == (5, 10)
    assert LeNet(MNIST_SHAPE, 10)(torch.zeros(5, *MNIST_SHAPE)).shape == (5, 10)
    assert LeNet(CIFAR_SHAPE, 10)(torch.zeros(5, *CIFAR_SHAPE)).shape == (5, 10)
    cnn = CifarCNN(CIFAR_SHAPE, 10, dropout=0.3)
    assert cnn(torch.zeros(5, *CIFAR_SHAPE)).shape == (5, 10)
    assert cnn.classifier[1].in_features == 1024


def test_mlp_has_four_linear_layers() -> None:
    net = MLPNet(MNIST_SHAPE, 10, [64, 32, 16])
    sizes = [(m.in_features, m.out_features) for m in net.modules()
             if isinstance(m, torch.nn.Linear)]
    assert sizes == [(784, 64), (64, 32), (32, 16), (16, 10)]


@pytest.mark.parametrize(
    ("objective", "shape", "config"),
    [
        (MLP, MNIST_SHAPE, {"widths": [64, 32, 16]}),
        (LENET, MNIST_SHAPE, {}),
        (CIFAR_CNN, CIFAR_SHAPE, {"augment": True, "dropout": 0.1}),
    ],
    ids=["mlp", "lenet", "cifar_cnn"],
)
def test_loss_decreases_on_tiny_subset(objective: Any, shape: tuple[int, int, int],
                                       config: dict[str, Any]) -> None:
    train, val = synthetic(128, shape, seed=1), synthetic(64, shape, seed=2)
    result = objective.fit({"epochs": 6, "batch_size": 16, "lr": 0.05, **config},
                           train, val, no_report, 0, shape)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < 0.5 * losses[0]
    assert result.val_accuracy > 0.5


def test_history_rows_match_reports(mnist_like: tuple[Split, Split]) -> None:
    seen: list[tuple[int, Metrics]] = []
    result = LENET.fit({"epochs": 2}, *mnist_like, lambda s, m: seen.append((s, m)), 0,
                       MNIST_SHAPE)
    assert [s for s, _ in seen] == [1, 2]
    assert [m for _, m in seen] == result.history
    row = result.history[-1]
    assert set(row) == {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                        "lr", "seconds"}
    assert row["epoch"] == 2.0 and row["seconds"] > 0 and row["lr"] == 0.05


def test_same_seed_same_result(mnist_like: tuple[Split, Split]) -> None:
    def run(seed: int) -> tuple[list[dict[str, float]], np.ndarray]:
        result = LENET.fit({"epochs": 2, "batch_size": 32}, *mnist_like, no_report, seed,
                           MNIST_SHAPE)
        rows = [{k: v for k, v in row.items() if k != "seconds"} for row in result.history]
        return rows, result.model.predict(mnist_like[1].X)

    first, again, other = run(3), run(3), run(4)
    assert first[0] == again[0]
    np.testing.assert_array_equal(first[1], again[1])
    assert first[0] != other[0]


def test_cifar_augmented_training_is_deterministic() -> None:
    train, val = synthetic(64, CIFAR_SHAPE, seed=1), synthetic(16, CIFAR_SHAPE, seed=2)
    config = {"epochs": 1, "batch_size": 16, "augment": True}
    a = CIFAR_CNN.fit(config, train, val, no_report, 5, CIFAR_SHAPE).history[0]
    b = CIFAR_CNN.fit(config, train, val, no_report, 5, CIFAR_SHAPE).history[0]
    plain = CIFAR_CNN.fit({**config, "augment": False}, train, val, no_report, 5,
                          CIFAR_SHAPE).history[0]
    assert a["train_loss"] == b["train_loss"] and a["val_loss"] == b["val_loss"]
    assert a["train_loss"] != plain["train_loss"]


def test_schedule_drives_the_optimizer(mnist_like: tuple[Split, Split]) -> None:
    config = {"epochs": 3, "lr": 0.08, "schedule": "exponential", "gamma": 0.5,
              "batch_size": 64}
    result = MLP.fit(config, *mnist_like, no_report, 0, MNIST_SHAPE)
    assert [row["lr"] for row in result.history] == pytest.approx([0.08, 0.04, 0.02])
    warm = MLP.fit({"epochs": 1, "lr": 0.08, "warmup_epochs": 2, "batch_size": 64},
                   *mnist_like, no_report, 0, MNIST_SHAPE)
    assert warm.history[0]["lr"] == pytest.approx(0.08 * 4 / 8)  # step 4 of 8 warm-up steps


def test_make_optimizer_uses_config() -> None:
    net = MLPNet(MNIST_SHAPE, 10, [8, 8, 8])
    base = {k: p.default for k, p in MLP.params.items()}
    sgd = make_optimizer(net, {**base, "nesterov": True, "momentum": 0.8, "weight_decay": 1e-4})
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults["nesterov"] and sgd.defaults["momentum"] == 0.8
    assert sgd.defaults["weight_decay"] == 1e-4
    adam = make_optimizer(net, {**base, "optimizer": "adam", "beta1": 0.8, "beta2": 0.99})
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["betas"] == (0.8, 0.99)
    assert isinstance(make_optimizer(net, {**base, "optimizer": "adagrad"}), torch.optim.Adagrad)


class Pruned(Exception):
    pass


def test_reporter_exception_stops_training_after_that_epoch(
        mnist_like: tuple[Split, Split]) -> None:
    calls: list[int] = []

    def report(step: int, metrics: Metrics) -> None:
        calls.append(step)
        if step == 2:
            raise Pruned

    with pytest.raises(Pruned):
        MLP.fit({"epochs": 5}, *mnist_like, report, 0, MNIST_SHAPE)
    assert calls == [1, 2]


def test_divergence_raises(mnist_like: tuple[Split, Split]) -> None:
    with pytest.raises(DivergenceError, match="diverged at update") as info:
        MLP.fit({"epochs": 3, "lr": 1e4, "momentum": 0.0}, *mnist_like, no_report, 0,
                MNIST_SHAPE)
    assert info.value.step >= 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lr": 0}, r"'lr' parameter must be > 0\. Got 0\.0"),
        ({"lr": "fast"}, r"'lr' parameter must be of type float\. Got 'fast'"),
        ({"epochs": 0}, r"'epochs' parameter must be in \[1, inf\]\. Got 0"),
        ({"batch_size": 2.5}, r"'batch_size' parameter must be of type int"),
        ({"optimizer": "rmsprop"}, r"'optimizer' parameter must be one of: sgd, adagrad, adam"),
        ({"schedule": "cosine"}, r"'schedule' parameter must be one of: constant, step"),
        ({"momentum": 1.0}, r"'momentum' parameter must be in \[0, 1\)\. Got 1\.0"),
        ({"beta2": 1}, r"'beta2' parameter must be in \[0, 1\)"),
        ({"nesterov": True, "optimizer": "adam"}, r"nesterov=true needs optimizer=sgd"),
        ({"nesterov": True, "momentum": 0}, r"nesterov=true needs .*momentum > 0"),
        ({"milestones": [5, 3]}, r"'milestones' parameter must be strictly increasing"),
        ({"gamma": 0}, r"'gamma' parameter must be > 0"),
        ({"schedule": "cyclical", "eta_min": 1.0}, r"eta_min <= lr"),
        ({"widths": [10, 10]}, r"'widths' parameter must list 3 hidden sizes"),
        ({"dropout": 0.5}, r"Unknown parameter 'dropout' for objective 'mlp'"),
        ({"device": "tpu"}, r"'device' parameter must be one of: auto, cpu, cuda"),
    ],
)
def test_bad_config_values(overrides: dict[str, Any], message: str,
                           mnist_like: tuple[Split, Split]) -> None:
    with pytest.raises(ConfigError, match=message):
        MLP.fit({"epochs": 1, **overrides}, *mnist_like, no_report, 0, MNIST_SHAPE)


def test_cifar_dropout_must_be_below_one() -> None:
    split = synthetic(8, CIFAR_SHAPE)
    with pytest.raises(ConfigError, match=r"'dropout' parameter must be in \[0, 1\)"):
        CIFAR_CNN.fit({"dropout": 1.0}, split, split, no_report, 0, CIFAR_SHAPE)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_device_is_a_config_error(mnist_like: tuple[Split, Split]) -> None:
    with pytest.raises(ConfigError, match="no CUDA device is available; use device=auto"):
        MLP.fit({"device": "cuda"}, *mnist_like, no_report, 0, MNIST_SHAPE)


def test_bad_data_is_a_data_error() -> None:
    digits_like = synthetic(16, (1, 8, 8))
    with pytest.raises(DataError, match="lenet needs images of at least 12x12 pixels. Got 8x8"):
        LENET.fit({"epochs": 1}, digits_like, digits_like, no_report, 0, (1, 8, 8))
    with pytest.raises(DataError, match=r"train features must have shape \(n, 784\)"):
        LENET.fit({"epochs": 1}, digits_like, digits_like, no_report, 0, MNIST_SHAPE)
    empty = Split(np.zeros((0, 784), np.float32), np.zeros(0, np.int64))
    with pytest.raises(DataError, match="training split is empty"):
        MLP.fit({}, empty, empty, no_report, 0, MNIST_SHAPE)


def test_lr_schedules() -> None:
    def rates(steps_per_epoch: int = 1, epochs: int = 6, **config: Any) -> list[float]:
        full = {k: p.default for k, p in MLP.params.items()}
        full.update(lr=1.0, **config)
        return [lr_at(full, s, steps_per_epoch) for s in range(epochs * steps_per_epoch)]

    assert rates(schedule="constant") == [1.0] * 6
    assert rates(schedule="step", gamma=0.5, step_size=2) == [1, 1, 0.5, 0.5, 0.25, 0.25]
    assert rates(schedule="multistep", gamma=0.1, milestones=[1, 4]) == pytest.approx(
        [1, 0.1, 0.1, 0.1, 0.01, 0.01])
    assert rates(schedule="exponential", gamma=0.5) == pytest.approx(
        [1, 0.5, 0.25, 0.125, 0.0625, 0.03125])
    assert rates(schedule="cyclical", eta_min=0.2, cycle_epochs=4) == pytest.approx(
        [0.2, 0.6, 1.0, 0.6, 0.2, 0.6])
    assert rates(steps_per_epoch=2, epochs=2, warmup_epochs=1) == [0.5, 1.0, 1.0, 1.0]


def test_augment_matches_per_sample_crop_and_flip() -> None:
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6)
    out = augment(x, torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(0)
    offsets = torch.randint(0, 9, (2, 2), generator=gen)
    flips = torch.rand(2, generator=gen) < 0.5
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for i in range(2):
        r, c = int(offsets[0, i]), int(offsets[1, i])
        expected = padded[i, :, r:r + 6, c:c + 6]
        if flips[i]:
            expected = expected.flip(-1)
        torch.testing.assert_close(out[i], expected)
    assert out.shape == x.shape


def test_checkpoint_round_trip(tmp_path: Path, mnist_like: tuple[Split, Split]) -> None:
    config = {"epochs": 1, "widths": [32, 16, 8]}
    model = MLP.fit(config, *mnist_like, no_report, 0, MNIST_SHAPE).model
    file = model.save(tmp_path / "best")
    assert file == tmp_path / "best.pt" and file.is_file()
    loaded = MLP.load(file, config, MNIST_SHAPE)
    X, y = mnist_like[1].X, mnist_like[1].y
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.evaluate(X, y) == pytest.approx(model.evaluate(X, y))
    assert loaded.predict(X).dtype == np.int64


def test_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_state_dict(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="is not a readable state_dict"):
        load_state_dict(tmp_path / "junk.pt")
    torch.save({"payload": Path("/etc/passwd")}, tmp_path / "unsafe.pt")
    with pytest.raises(DataError, match="is not a readable state_dict"):
        load_state_dict(tmp_path / "unsafe.pt")
    torch.save(MLPNet(MNIST_SHAPE, 10, [8, 8, 8]).state_dict(), tmp_path / "small.pt")
    with pytest.raises(ConfigError, match="does not match the mlp config"):
        MLP.load(tmp_path / "small.pt", {"widths": [16, 8, 8]}, MNIST_SHAPE)


def test_objectives_declare_contract() -> None:
    for objective in (MLP, LENET, CIFAR_CNN):
        assert objective.normalize == "channel"
        for key in ("epochs", "batch_size", "optimizer", "lr", "momentum", "nesterov", "beta1",
                    "beta2", "weight_decay", "schedule", "milestones", "gamma", "step_size",
                    "warmup_epochs", "eta_min", "cycle_epochs", "device", "threads"):
            assert key in objective.params
    assert CIFAR_CNN.params["dropout"].default == 0.3
    assert "augment" in CIFAR_CNN.params and "widths" in MLP.params


# Real data, on the CPU with one thread (see _one_thread).
SLOW = {"device": "cpu"}


def _final_test_accuracy(objective: Any, config: dict[str, Any], shared_data: Path) -> float:
    from objectives import data

    ds = data.load("mnist", data_dir=shared_data, normalize=objective.normalize, seed=0)
    train, monitor, test = ds.final_splits(monitor=1000)
    result = objective.fit({**SLOW, **config}, train, monitor, no_report, 0, ds.image_shape)
    seconds = [round(row["seconds"], 1) for row in result.history]
    accuracy = result.model.evaluate(test.X, test.y)["accuracy"]
    print(f"{objective.name}: test accuracy {accuracy:.4f}, seconds/epoch {seconds}")
    return float(accuracy)


@pytest.mark.slow
def test_mlp_mnist_test_accuracy(shared_data: Path) -> None:
    config = {"epochs": 8, "lr": 0.05, "batch_size": 128, "schedule": "multistep",
              "milestones": [6]}
    assert _final_test_accuracy(MLP, config, shared_data) >= 0.98


@pytest.mark.slow
def test_lenet_mnist_test_accuracy(shared_data: Path) -> None:
    config = {"epochs": 8, "lr": 0.05, "batch_size": 128, "schedule": "multistep",
              "milestones": [6]}
    assert _final_test_accuracy(LENET, config, shared_data) >= 0.99


@pytest.mark.slow
def test_cifar_cnn_one_epoch(shared_data: Path) -> None:
    from objectives import data

    ds = data.load("cifar10", data_dir=shared_data, normalize="channel", seed=0)
    result = CIFAR_CNN.fit({**SLOW, "epochs": 1, "lr": 0.02, "batch_size": 64}, ds.train,
                           ds.val, no_report, 0, ds.image_shape)
    row = result.history[0]
    print(f"cifar_cnn: val accuracy {row['val_accuracy']:.4f}, {row['seconds']:.1f} s/epoch")
    assert row["val_accuracy"] >= 0.40


def test_an_epoch_lets_the_thread_pool_rebalance_every_check(
        mnist_like: tuple[Split, Split], monkeypatch: pytest.MonkeyPatch) -> None:
    """A torch fit looks at the other trainers within an epoch (Pool.tick every CHECK_EVERY
    steps), not only at its reports: a one-epoch run that started alone would otherwise keep
    every core beside a second one (LeNet on MNIST, two at once: 2.3x slower each)."""
    from objectives import threads
    from objectives.divergence import CHECK_EVERY

    ticks = []
    monkeypatch.setattr(threads.Pool, "tick", lambda self: ticks.append(self.count))
    train, val = mnist_like
    MLP.fit({"epochs": 1, "batch_size": 2, "lr": 0.01}, train, val, no_report, 0, MNIST_SHAPE)
    steps = (len(train) + 1) // 2
    assert len(ticks) == (steps + CHECK_EVERY - 1) // CHECK_EVERY > 1
