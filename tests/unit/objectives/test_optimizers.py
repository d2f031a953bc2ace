"""NumPy optimizers: same trajectories as torch.optim, in-place updates, tracked update size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from objectives.numpy_nets.blas import axpy
from objectives.numpy_nets.optimizers import OPTIMIZERS, make_optimizer


def _torch_optimizer(name: str, params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=0.8, nesterov=name == "nesterov")
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.99), eps=1e-8)
    return torch.optim.Adagrad(params, lr=lr, eps=1e-10)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_matches_torch_on_a_quadratic(name: str) -> None:
    rng = np.random.default_rng(0)
    target = rng.standard_normal((4, 3))
    p = rng.standard_normal((4, 3))
    tp = torch.tensor(p.copy(), requires_grad=True)
    ours = make_optimizer(name, [p], momentum=0.8, beta1=0.9, beta2=0.99)
    theirs = _torch_optimizer(name, [tp], lr=0.05)
    before, start_distance = p, np.abs(p - target).sum()
    for step in range(20):
        lr = 0.05 if step < 10 else 0.02
        ours.step([2 * (p - target)], lr)
        theirs.param_groups[0]["lr"] = lr
        theirs.zero_grad()
        ((tp - torch.tensor(target)) ** 2).sum().backward()
        theirs.step()
    assert p is before
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert np.abs(p - target).sum() < start_distance


def test_sgd_updates_float32_in_place_and_tracks_max_update() -> None:
    p = np.ones(5, np.float32)
    opt = make_optimizer("sgd", [p], track_updates=True)
    grad = np.array([1, -4, 2, 0, 0.5], np.float32)
    opt.step([grad], 0.1)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p, [0.9, 1.4, 0.8, 1.0, 0.95], rtol=1e-6)
    assert opt.max_update == pytest.approx(0.4)


def test_unknown_optimizer_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="optimizer must be one of sgd, momentum, nesterov"):
        make_optimizer("rmsprop", [np.zeros(2)])


def test_axpy_updates_in_place_and_refuses_arrays_it_would_copy() -> None:
    y, x = np.ones((2, 3), np.float32), np.arange(6, dtype=np.float32).reshape(2, 3)
    axpy(x, y, -0.5)
    np.testing.assert_allclose(y, 1 - 0.5 * x)
    for bad_y in (np.ones((3, 2), np.float32).T, np.ones((2, 3), np.float64)):
        with pytest.raises(ValueError, match="C-contiguous float32 or float64 arrays"):
            axpy(x, bad_y, 1.0)
