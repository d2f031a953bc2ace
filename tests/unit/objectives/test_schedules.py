"""Learning-rate schedules: known values at the boundaries that define each schedule."""

from __future__ import annotations

import math

import pytest

from objectives.schedules import cyclical, exponential, learning_rate, step_decay, warmup


def test_step_decay_drops_every_k_epochs() -> None:
    assert [step_decay(e, 0.1, 0.5, 2) for e in range(5)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.025])


def test_exponential_is_lr_times_exp_minus_k_epoch() -> None:
    assert exponential(3, 0.2, 0.1) == pytest.approx(0.2 * math.exp(-0.3))


def test_cyclical_is_triangular_with_half_cycle_n_s() -> None:
    values = [cyclical(t, 1e-5, 1e-1, 500) for t in (0, 250, 500, 750, 1000, 1500)]
    assert values == pytest.approx([1e-5, 0.050005, 1e-1, 0.050005, 1e-5, 1e-1])


def test_warmup_ramps_linearly_then_stays_at_one() -> None:
    assert [warmup(t, 4) for t in range(6)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    assert warmup(0, 0) == 1.0


def test_learning_rate_combines_schedule_and_warmup() -> None:
    kwargs = dict(steps_per_epoch=10, lr=0.1, decay_rate=0.1, decay_every=1, warmup_epochs=0.5)
    assert learning_rate(0, schedule="step", **kwargs) == pytest.approx(0.1 / 5)
    assert learning_rate(9, schedule="step", **kwargs) == pytest.approx(0.1)
    assert learning_rate(10, schedule="step", **kwargs) == pytest.approx(0.01)
    assert learning_rate(25, schedule="constant", **kwargs) == pytest.approx(0.1)
    assert learning_rate(20, schedule="exponential", exp_k=0.5, steps_per_epoch=10,
                         lr=0.1) == pytest.approx(0.1 * math.exp(-1.0))
    assert learning_rate(7, schedule="cyclical", steps_per_epoch=10, lr=0.0, eta_min=0.0,
                         eta_max=1.0, n_s=7) == pytest.approx(1.0)


def test_unknown_schedule_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="schedule must be one of constant, step, exponential"):
        learning_rate(0, schedule="cosine", steps_per_epoch=1, lr=0.1)
