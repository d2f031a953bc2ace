"""Two-layer ReLU net with cyclical LR: schedule arithmetic, reporting points, learning on digits,
divergence, determinism, saving; CIFAR-10 accuracy with the DD2424 defaults when data is present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from objectives import data
from objectives.base import METRIC_NAMES, Split, no_report
from objectives.config import resolve_config
from objectives.errors import ConfigError, DivergenceError
from objectives.numpy_nets.batches import BatchSampler
from objectives.numpy_nets.loop import train
from objectives.numpy_nets.optimizers import Optimizer
from objectives.numpy_nets.two_layer import TWO_LAYER, TwoLayerNet, schedule


def config(**overrides: object) -> dict[str, object]:
    return resolve_config("two_layer", TWO_LAYER.params, overrides)


def test_defaults_are_dd2424() -> None:
    assert {k: TWO_LAYER.params[k].default for k in
            ("hidden", "lambda", "eta_min", "eta_max", "n_s", "batch_size", "cycles")} == {
        "hidden": 50, "lambda": 0.01, "eta_min": 1e-5, "eta_max": 1e-1, "n_s": 500,
        "batch_size": 100, "cycles": 1}


def test_training_length_and_reporting_points() -> None:
    n_s, total, points = schedule(config(n_s=500, cycles=3, points_per_cycle=4), 45_000)
    assert (n_s, total) == (500, 3000)
    assert points == list(range(250, 3001, 250))
    n_s, total, points = schedule(config(n_s=0, batch_size=100, cycles=1, points_per_cycle=3),
                                  1_050)
    assert (n_s, total) == (20, 40)
    assert points == [13, 27, 40]


def test_reports_several_times_per_cycle_with_cyclical_lr() -> None:
    ds = data.load("digits", normalize=TWO_LAYER.normalize)
    calls: list[int] = []
    result = TWO_LAYER.fit({"n_s": 40, "cycles": 2, "points_per_cycle": 2}, ds.train, ds.val,
                           lambda s, m: calls.append(s), 0, ds.image_shape)
    assert calls == [1, 2, 3, 4]
    assert set(result.history[0]) == {"epoch", *METRIC_NAMES}
    steps_per_epoch = -(-len(ds.train) // 100)
    assert [h["epoch"] * steps_per_epoch for h in result.history] == pytest.approx(
        [40, 80, 120, 160])
    assert result.history[0]["lr"] == pytest.approx(1e-5 + (0.1 - 1e-5) * 39 / 40)
    assert result.history[1]["lr"] == pytest.approx(1e-5 + (0.1 - 1e-5) * 1 / 40)


def test_defaults_reach_095_on_digits() -> None:
    ds = data.load("digits", normalize=TWO_LAYER.normalize)
    result = TWO_LAYER.fit({}, ds.train, ds.val, no_report, 0, ds.image_shape)
    assert result.val_accuracy >= 0.95


def test_same_seed_same_numbers() -> None:
    ds = data.load("digits", normalize=TWO_LAYER.normalize)

    def numbers(seed: int) -> list[float]:
        history = TWO_LAYER.fit({"n_s": 20}, ds.train, ds.val, no_report, seed,
                                ds.image_shape).history
        return [h["val_loss"] for h in history]
    assert numbers(1) == numbers(1)
    assert numbers(1) != numbers(2)


def test_huge_learning_rate_raises_divergence() -> None:
    ds = data.load("digits", normalize=TWO_LAYER.normalize)
    with pytest.raises(DivergenceError, match="diverged at update"):
        TWO_LAYER.fit({"eta_max": 1e4, "n_s": 200}, ds.train, ds.val, no_report, 0,
                      ds.image_shape)


def test_last_loss_is_the_batch_cross_entropy_before_the_update() -> None:
    """What the divergence checks read: the loss of the forward pass that gave the gradient."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 12)).astype(np.float32)
    y = rng.integers(0, 4, 40)
    net = TwoLayerNet.init(12, 7, 4, rng, lam=0.1)
    before = net.evaluate(X, y)["loss"]
    net.compute_grads(X, y)
    net.flat_params -= 0.5 * net.flat_grads
    assert net.last_loss() == pytest.approx(before, rel=1e-5)
    assert net.evaluate(X, y)["loss"] != pytest.approx(before, rel=1e-3)


def test_fused_sgd_step_matches_gradients_and_an_optimizer_step() -> None:
    """sgd_step (W1's decay kept as a scale) gives the weights of compute_grads + a plain SGD
    step, also across a step whose 2 lr lambda exceeds 1 (the decay folded in at once)."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((30, 9)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    fused, plain = (TwoLayerNet.init(9, 6, 3, np.random.default_rng(1), lam=0.05)
                    for _ in range(2))
    optimizer = Optimizer([plain.flat_params])
    for lr in [0.05, 0.1, 0.2, 0.1, 11.0, 0.05, 0.01, 0.02]:
        fused.sgd_step(X, y, lr)
        plain.compute_grads(X, y)
        optimizer.step([plain.flat_grads], lr)
        assert fused.last_loss() == pytest.approx(plain.last_loss(), rel=1e-4)
    np.testing.assert_allclose(fused.scores(X), plain.scores(X), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fused.flat_params, plain.flat_params, rtol=1e-4, atol=1e-6)


def test_training_with_plain_sgd_takes_the_fused_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop calls sgd_step for a plain Optimizer (any other optimizer type steps through
    compute_grads), and both paths train to the same numbers up to rounding."""
    ds = data.load("digits", normalize=TWO_LAYER.normalize)
    calls: list[float] = []
    fused_step = TwoLayerNet.sgd_step

    def counted(net: TwoLayerNet, X: np.ndarray, y: np.ndarray, lr: float) -> None:
        calls.append(lr)
        fused_step(net, X, y, lr)

    monkeypatch.setattr(TwoLayerNet, "sgd_step", counted)

    class NotPlain(Optimizer):
        pass

    def run(optimizer_type: type[Optimizer]) -> list[dict[str, float]]:
        net = TwoLayerNet.init(ds.train.X.shape[1], 20, 10, np.random.default_rng(0), lam=0.01)
        return train(net, optimizer_type([net.flat_params]), ds.train, ds.val, no_report,
                     rng=np.random.default_rng(0), batch_size=50, total_steps=120,
                     report_steps={60}, lr_at=lambda step: 0.05)

    fused = run(Optimizer)
    assert len(calls) == 120
    plain = run(NotPlain)
    assert len(calls) == 120
    for a, b in zip(fused, plain, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 8)).astype(np.float32)
    split = Split(X, rng.integers(0, 3, 50))
    net = TWO_LAYER.fit({"n_s": 5, "hidden": 6}, split, split, no_report, 0, (1, 1, 8)).model
    again = TwoLayerNet.load(net.save(tmp_path / "net"))
    np.testing.assert_array_equal(again.predict(X), net.predict(X))


def test_each_epoch_visits_every_row_once_in_shuffled_batches_of_ascending_rows() -> None:
    sampler = BatchSampler(Split(np.zeros((23, 2), np.float32), np.arange(23)), 5,
                           np.random.default_rng(0))
    epochs = [[r for r in sampler.epoch() if r is not None] for _ in range(2)]
    for batches in epochs:
        assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
        assert sorted(np.concatenate(batches)) == list(range(23))
        assert all(np.all(np.diff(b) > 0) for b in batches)  # gathered front to back
    assert not all(np.array_equal(a, b) for a, b in zip(*epochs, strict=True))  # reshuffled


def test_flip_mirrors_a_random_half_of_each_batch_with_labels_kept() -> None:
    shape = (2, 3, 4)
    X = np.arange(40 * 24, dtype=np.float32).reshape(40, 24)
    sampler = BatchSampler(Split(X, np.arange(40)), 10, np.random.default_rng(0), flip=shape)
    mirrored = 0
    for rows in sampler.epoch():
        xb, yb = sampler.gather(rows)
        assert sorted(yb) == sorted(rows)  # the same examples, labels still with their rows
        for x, label in zip(xb, yb, strict=True):
            image = X[label].reshape(shape)
            flipped = np.array_equal(x.reshape(shape), image[:, :, ::-1])
            assert flipped or np.array_equal(x, X[label])
            mirrored += flipped
    assert 10 <= mirrored <= 30  # about half of the 40 rows


def test_flip_trains_deterministically_and_needs_image_rows() -> None:
    ds = data.load("digits", normalize=TWO_LAYER.normalize)

    def numbers(flip: bool) -> list[float]:
        history = TWO_LAYER.fit({"n_s": 20, "flip": flip}, ds.train, ds.val, no_report, 1,
                                ds.image_shape).history
        return [h["val_loss"] for h in history]
    assert numbers(True) == numbers(True)
    assert numbers(True) != numbers(False)
    with pytest.raises(ConfigError, match=r"'flip' needs image rows: 64 features are not an "
                       r"image of shape \(3, 32, 32\)"):
        TWO_LAYER.fit({"flip": True}, ds.train, ds.val, no_report, 0, (3, 32, 32))


@pytest.mark.slow
def test_dd2424_defaults_reach_044_on_cifar10(shared_data: Path) -> None:
    ds = data.load("cifar10", data_dir=shared_data, normalize=TWO_LAYER.normalize)
    result = TWO_LAYER.fit({}, ds.train, ds.val, no_report, 0, ds.image_shape)
    assert result.val_accuracy >= 0.44
