"""A torch training run's state after an epoch, for objectives.checkpoint: the network, the
optimizer (momentum buffers, Adam moments, step counts), every random state (torch's CPU and
CUDA generators, which drive dropout, and the seeded generator of data order and augmentation),
the divergence reference and the history. Tensors and plain values only: it loads back with
torch.load(weights_only=True)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from objectives.divergence import DivergenceWatch


def state(network: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator,
          watch: DivergenceWatch, history: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "network": {k: v.detach().cpu() for k, v in network.state_dict().items()},
        "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
        "cpu_rng": torch.get_rng_state(), "watch": watch.reference, "history": history}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda_rng"] = torch.cuda.get_rng_state_all()
    return out


def restore(saved: dict[str, Any], network: nn.Module, optimizer: torch.optim.Optimizer,
            generator: torch.Generator, watch: DivergenceWatch) -> list[dict[str, float]]:
    """Put a state() back; returns the history so far (its length is the epochs done).

    The optimizer keeps the hyperparameters it was built with (weight decay, momentum, betas:
    the config in force) rather than the saved ones, which load_state_dict puts in its param
    groups: a continued fit takes up the new values of its mutable params (base.Objective)."""
    network.load_state_dict(saved["network"])
    built = [{k: v for k, v in group.items() if k != "params"}
             for group in optimizer.param_groups]
    optimizer.load_state_dict(saved["optimizer"])
    for group, values in zip(optimizer.param_groups, built, strict=True):
        group.update(values)
    generator.set_state(saved["generator"])
    torch.set_rng_state(saved["cpu_rng"])
    if "cuda_rng" in saved and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda_rng"])
    watch.reference = float(saved["watch"])
    return list(saved["history"])
