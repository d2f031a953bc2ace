"""Softmax regression: the contract (params, reporter, history), every optimizer and schedule,
batch sizes, the stop rule, divergence, determinism, saving; real-data accuracy when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from objectives.base import METRIC_NAMES, Split, no_report
from objectives.errors import ConfigError, DivergenceError
from objectives.numpy_nets.loop import train as train_loop
from objectives.numpy_nets.optimizers import OPTIMIZERS, make_optimizer
from objectives.numpy_nets.softmax import CHUNK_MACS, SOFTMAX, SoftmaxRegression
from objectives.numpy_nets.xent import EXP_SAFE, CrossEntropyGrad, cross_entropy_from_scores
from objectives.schedules import SCHEDULES

FASHION = Path("/usr/share/datasets/fashion-mnist")


def blobs(n: int = 600, d: int = 20, k: int = 4, seed: int = 0) -> tuple[Split, Split]:
    """Gaussian clusters, one per class: linearly separable enough for ~100 % accuracy."""
    rng = np.random.default_rng(seed)
    centres = 3.0 * rng.standard_normal((k, d))
    y = rng.integers(0, k, n)
    X = (centres[y] + rng.standard_normal((n, d))).astype(np.float32)
    cut = n * 4 // 5
    return Split(X[:cut], y[:cut]), Split(X[cut:], y[cut:])


def fit(config: dict[str, object], seed: int = 0, **kw: object) -> list[dict[str, float]]:
    train, val = blobs(**kw)  # type: ignore[arg-type]
    return SOFTMAX.fit(config, train, val, no_report, seed, (1, 1, 20)).history


def test_params_cover_the_issue_keys_with_defaults() -> None:
    for key in ("epochs", "batch_size", "lr", "momentum", "optimizer", "schedule", "lambda",
                "beta1", "beta2", "decay_rate", "decay_every", "exp_k", "eta_min", "eta_max",
                "n_s", "warmup_epochs", "stop_threshold", "stop_patience"):
        assert key in SOFTMAX.params
    assert SOFTMAX.params["epochs"].default <= 20


def test_reports_every_epoch_and_learns() -> None:
    calls: list[tuple[int, dict[str, float]]] = []
    train, val = blobs()
    result = SOFTMAX.fit({"epochs": 4}, train, val, lambda s, m: calls.append((s, dict(m))), 0,
                         (1, 1, 20))
    assert [s for s, _ in calls] == [1, 2, 3, 4]
    assert [m for _, m in calls] == result.history
    assert set(result.history[0]) == {"epoch", *METRIC_NAMES}
    assert [h["epoch"] for h in result.history] == [1.0, 2.0, 3.0, 4.0]
    assert all(h["seconds"] > 0 for h in result.history)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.val_accuracy > 0.95


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_learns(optimizer: str) -> None:
    lr = {"sgd": 0.05, "adagrad": 0.05, "adam": 0.01}.get(optimizer, 0.01)
    history = fit({"optimizer": optimizer, "lr": lr, "epochs": 3})
    assert history[-1]["val_accuracy"] > 0.9


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_schedule_learns_and_reports_its_lr(schedule: str) -> None:
    history = fit({"schedule": schedule, "epochs": 6, "lr": 0.01, "decay_every": 2,
                   "decay_rate": 0.5, "exp_k": 0.5, "eta_max": 0.01, "warmup_epochs": 1})
    assert history[-1]["val_accuracy"] > 0.9
    expected = {"constant": 0.01, "step": 0.01 * 0.5**2, "exponential": 0.01 * np.exp(-2.5),
                "cyclical": 1e-5 + (0.01 - 1e-5) * 0.9}[schedule]  # update 29 of n_s=10
    assert history[-1]["lr"] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("batch_size", [1, 7, 0, 10_000])
def test_any_batch_size_from_one_to_full(batch_size: int) -> None:
    lr = 0.001 if batch_size == 1 else 0.05
    history = fit({"batch_size": batch_size, "epochs": 3, "lr": lr}, n=200)
    assert history[-1]["val_accuracy"] > 0.9


def test_same_seed_same_numbers_other_seed_differs() -> None:
    def numbers(seed: int) -> list[list[float]]:
        return [[h[k] for k in h if k != "seconds"] for h in fit({"epochs": 2}, seed=seed)]
    assert numbers(3) == numbers(3)
    assert numbers(3) != numbers(4)


def test_stop_rule_ends_training_after_n_small_updates() -> None:
    history = fit({"epochs": 5, "batch_size": 10, "stop_threshold": 1.0, "stop_patience": 3})
    assert len(history) == 1
    assert history[0]["epoch"] == pytest.approx(3 / 48)


def test_exploding_loss_raises_divergence_promptly() -> None:
    with pytest.raises(DivergenceError, match=r"diverged at update \d+ .*smaller learning rate"):
        fit({"optimizer": "sgd", "lr": 1e6, "epochs": 50})


def test_nan_input_raises_divergence_at_first_reporting_point() -> None:
    train, val = blobs()
    X = train.X.copy()
    X[5, 3] = np.nan
    with pytest.raises(DivergenceError, match="loss nan") as info:
        SOFTMAX.fit({"epochs": 5}, Split(X, train.y), val, no_report, 0, (1, 1, 20))
    assert info.value.step == 1


def test_exception_from_reporter_propagates() -> None:
    class Pruned(Exception):
        pass

    def report(step: int, metrics: object) -> None:
        if step == 2:
            raise Pruned
    train, val = blobs()
    with pytest.raises(Pruned):
        SOFTMAX.fit({"epochs": 5}, train, val, report, 0, (1, 1, 20))


def test_bad_config_value_is_one_clear_error() -> None:
    train, val = blobs()
    with pytest.raises(ConfigError, match=r"'batch_size' parameter must be in \[0, inf\]"):
        SOFTMAX.fit({"batch_size": -1}, train, val, no_report, 0, (1, 1, 20))


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    train, val = blobs()
    model = SOFTMAX.fit({"epochs": 1}, train, val, no_report, 0, (1, 1, 20)).model
    path = model.save(tmp_path / "weights")
    assert path.suffix == ".npz"
    again = SoftmaxRegression.load(path)
    np.testing.assert_array_equal(again.predict(val.X), model.predict(val.X))
    assert again.evaluate(val.X, val.y) == model.evaluate(val.X, val.y)


@pytest.mark.slow
def test_defaults_reach_084_on_fashion_mnist() -> None:
    from objectives import data
    if not FASHION.is_dir():
        pytest.skip("Debian dataset-fashion-mnist is not installed")
    ds = data.load("fashion-mnist", data_dir=FASHION.parent, normalize=SOFTMAX.normalize)
    result = SOFTMAX.fit({}, ds.train, ds.val, no_report, 0, ds.image_shape)
    assert len(result.history) <= 20
    assert result.val_accuracy >= 0.84


@pytest.mark.slow
def test_defaults_reach_092_on_mnist(shared_data: Path) -> None:
    from objectives import data
    ds = data.load("mnist", data_dir=shared_data, normalize=SOFTMAX.normalize)
    result = SOFTMAX.fit({}, ds.train, ds.val, no_report, 0, ds.image_shape)
    assert result.val_accuracy >= 0.92


def test_chunked_gradient_on_gathered_rows_matches_one_shot_float64() -> None:
    """A batch spanning several cache-blocking chunks gives the textbook gradient of X[rows]."""
    rng = np.random.default_rng(3)
    n, d, k, m = 5000, 784, 10, 1500
    X, y = rng.standard_normal((n, d)), rng.integers(0, k, n)
    rows = rng.permutation(n)[:m]
    net = SoftmaxRegression.init(d, k, rng, lam=0.01, dtype=np.float64)
    assert m > CHUNK_MACS // net.W.size  # really chunked
    net.compute_grads_rows(X, y, rows)
    S = X[rows] @ net.W + net.b
    P = np.exp(S - S.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    P[np.arange(m), y[rows]] -= 1.0
    np.testing.assert_allclose(net.grads[0], X[rows].T @ P / m + 0.02 * net.W, rtol=1e-10,
                               atol=1e-13)
    np.testing.assert_allclose(net.grads[1], P.sum(axis=0) / m, rtol=1e-10, atol=1e-13)


def test_params_and_grads_are_views_of_the_flat_buffers_the_optimizer_steps() -> None:
    net = SoftmaxRegression.init(5, 3, np.random.default_rng(0))
    net.flat_params[:] = 1.0
    assert net.W.sum() == 15 and net.b.sum() == 3
    train, val = blobs()
    with pytest.raises(ValueError, match=r"optimizer must be built over \[net.flat_params\]"):
        train_loop(net, make_optimizer("sgd", net.params), train, val, no_report,
                   rng=np.random.default_rng(0), batch_size=10, total_steps=1, report_steps=(),
                   lr_at=lambda step: 0.1)


@pytest.mark.parametrize("spread", [5.0, 300.0])
def test_cross_entropy_gradient_with_small_and_huge_scores(spread: float) -> None:
    """Scores within +-EXP_SAFE skip the max shift, larger ones take it: both give
    (softmax - onehot) * scale like float64 with the shift, and the mean cross-entropy of the
    float64 log-sum-exp, and nothing overflows."""
    rng = np.random.default_rng(4)
    S = (spread * rng.standard_normal((37, 10))).astype(np.float32)
    S[0] = -spread  # a row far below the others: underflows without a shift
    y = rng.integers(0, 10, 37)
    expected = np.exp(S - S.max(axis=1, keepdims=True), dtype=np.float64)
    expected /= expected.sum(axis=1, keepdims=True)
    expected[np.arange(37), y] -= 1.0
    assert (np.abs(S).max() < EXP_SAFE) == (spread < EXP_SAFE / 4)
    loss_sum, _ = cross_entropy_from_scores(S, y)
    grad = CrossEntropyGrad()
    grad(S, y, 0.5)
    np.testing.assert_allclose(S, 0.5 * expected, atol=1e-6)
    assert grad.loss() == pytest.approx(loss_sum / 37, rel=1e-5)
    column = np.empty(10, np.float32)
    grad.column_sums(S, out=column)
    np.testing.assert_allclose(column, S.sum(axis=0), atol=1e-6)


def test_cross_entropy_gradient_refuses_a_strided_score_matrix() -> None:
    S = np.zeros((4, 6), np.float32)[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        CrossEntropyGrad()(S, np.zeros(4, np.int64), 1.0)


def test_cross_entropy_gradient_keeps_nan() -> None:
    S = np.ones((4, 3), np.float32)
    S[2, 1] = np.nan
    with np.errstate(invalid="ignore"):
        grad = CrossEntropyGrad()
        grad(S, np.zeros(4, np.int64), 1.0)
        assert np.isnan(grad.loss())
    assert np.isnan(S[2]).all() and np.isfinite(S[[0, 1, 3]]).all()
