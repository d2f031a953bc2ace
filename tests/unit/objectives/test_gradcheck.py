"""Gradient check: analytic gradients agree with finite differences and with torch autograd;
a wrong gradient is caught; `tuner gradcheck` prints the errors and sets the exit code."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from objectives.errors import ConfigError
from objectives.numpy_nets.gradcheck import LAMBDA, TOLERANCE, check, problem
from objectives.numpy_nets.softmax import SoftmaxRegression
from tuner.cli import main


@pytest.mark.parametrize("name", ["softmax", "two_layer"])
def test_analytic_matches_finite_differences(name: str) -> None:
    errors = check(name)
    assert set(errors) == ({"W", "b"} if name == "softmax" else {"W1", "b1", "W2", "b2"})
    assert max(errors.values()) < TOLERANCE


def _torch_cost(name: str, params: list[torch.Tensor], X: torch.Tensor, y: torch.Tensor
                ) -> torch.Tensor:
    if name == "softmax":
        W, b = params
        return torch.nn.functional.cross_entropy(X @ W + b, y) + LAMBDA * (W**2).sum()
    W1, b1, W2, b2 = params
    scores = torch.relu(X @ W1 + b1) @ W2.T + b2
    return torch.nn.functional.cross_entropy(scores, y) + LAMBDA * ((W1**2).sum() + (W2**2).sum())


@pytest.mark.parametrize("name", ["softmax", "two_layer"])
def test_analytic_matches_torch_autograd(name: str) -> None:
    net, _, X, y = problem(name, seed=1)
    tensors = [torch.tensor(p.copy(), requires_grad=True) for p in net.params]
    _torch_cost(name, tensors, torch.tensor(X), torch.tensor(y)).backward()
    net.compute_grads(X, y)
    for ours, theirs in zip(net.grads, tensors, strict=True):
        assert theirs.grad is not None
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert net.cost(X, y) == pytest.approx(
        _torch_cost(name, tensors, torch.tensor(X), torch.tensor(y)).detach().item(), rel=1e-12)


def test_a_wrong_gradient_is_caught_and_exits_1(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    original = SoftmaxRegression.compute_grads

    def off_by_a_little(self: SoftmaxRegression, X: np.ndarray, y: np.ndarray) -> None:
        original(self, X, y)
        self.grads[1] *= 1.0001
    monkeypatch.setattr(SoftmaxRegression, "compute_grads", off_by_a_little)
    errors = check("softmax")
    assert errors["b"] > TOLERANCE and errors["W"] < TOLERANCE
    assert main(["gradcheck", "softmax"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_cli_prints_every_parameter_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gradcheck", "two_layer"]) == 0
    out = capsys.readouterr().out
    for name in ("W1", "b1", "W2", "b2"):
        assert f"  {name} " in out
    assert "FAIL" not in out


def test_unknown_objective_names_the_checkable_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="valid: softmax, two_layer"):
        check("lenet")
    assert main(["gradcheck", "lenet"]) == 1
    err = capsys.readouterr().err
    assert err == "error: Unknown objective 'lenet' for gradcheck; valid: softmax, two_layer.\n"
