"""One training epoch of a torch network, read top to bottom: a seeded permutation sliced into
batches, optional augmentation, forward, cross-entropy, backward, step; divergence checked."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from objectives.divergence import CHECK_EVERY, DivergenceWatch
from objectives.torch_nets.config import lr_at


def augment(x: Tensor, generator: torch.Generator) -> Tensor:
    """Random crop with 4-pixel zero padding plus random horizontal flip, for a whole batch.

    One gather on the padded batch: each sample's row/column indices are its crop offset plus
    0..H-1 (columns reversed for flipped samples). Zero is the mean after normalisation.
    """
    n, c, h, w = x.shape
    pad = 4
    padded = F.pad(x, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator).to(x.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)
    cols_fwd = torch.arange(w, device=x.device)
    cols = offsets[1, :, None] + torch.where(flip[:, None], cols_fwd.flip(0), cols_fwd)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]


def train_epoch(network: nn.Module, optimizer: torch.optim.Optimizer, X: Tensor, y: Tensor,
                config: Mapping[str, Any], epoch: int, generator: torch.Generator,
                watch: DivergenceWatch, tick: Callable[[], object] | None = None
                ) -> tuple[float, float, float]:
    """One pass over (X, y) in seeded random batches; returns (mean loss, accuracy, last lr).
    `tick`: called every CHECK_EVERY steps (objectives.threads.Pool.tick rebalances the
    threads, so a fit that started alone gives threads back within the epoch)."""
    network.train()
    n, batch = X.shape[0], config["batch_size"]
    steps = math.ceil(n / batch)
    order = torch.randperm(n, generator=generator).to(X.device)
    loss_sum = torch.zeros((), device=X.device)
    correct = torch.zeros((), dtype=torch.int64, device=X.device)
    lr = 0.0
    for i in range(steps):
        step = (epoch - 1) * steps + i
        lr = lr_at(config, step, steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        idx = order[i * batch:(i + 1) * batch]
        xb, yb = X[idx], y[idx]
        if config.get("augment"):
            xb = augment(xb, generator)
        logits = network(xb)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * yb.shape[0]
        correct += (logits.detach().argmax(1) == yb).sum()
        if step % CHECK_EVERY == 0:
            watch.check(loss.item(), step + 1, step / steps, epoch)
            if tick is not None:
                tick()
    mean_loss = loss_sum.item() / n
    watch.check(mean_loss, epoch * steps, float(epoch), epoch)
    return mean_loss, correct.item() / n, lr
