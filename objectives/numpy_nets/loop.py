"""The NumPy models' training loop: batches, the optimizer or fused step, divergence checks and
the reporter, read top to bottom.

Hot-loop rules: float32 contiguous arrays, mini-batches gathered into preallocated buffers, every
update in place; the loop body does a fixed handful of NumPy calls per step and no per-sample work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

import numpy as np

from objectives.base import Reporter, Split
from objectives.checkpoint import Checkpoint
from objectives.divergence import CHECK_EVERY, DivergenceWatch
from objectives.numpy_nets.batches import BatchSampler
from objectives.numpy_nets.common import GathersRows, Net, StepsSGD, evaluate
from objectives.numpy_nets.optimizers import Optimizer


def _stepper(net: Net, optimizer: Optimizer, sampler: BatchSampler, fused: bool
             ) -> Callable[[np.ndarray | None, float], None]:
    """One update on a batch of rows: the net's fused SGD step when allowed, else its gradient
    (gathered chunk by chunk when it can) and an optimizer step."""
    flat_grads = [net.flat_grads]
    if fused and isinstance(net, StepsSGD):
        sgd_net = net
        return lambda rows, lr: sgd_net.sgd_step(*sampler.gather(rows), lr)
    if isinstance(net, GathersRows) and sampler.plain:
        rows_net = net

        def by_rows(rows: np.ndarray | None, lr: float) -> None:
            rows_net.compute_grads_rows(sampler.X, sampler.y, rows)
            optimizer.step(flat_grads, lr)

        return by_rows

    def gathered(rows: np.ndarray | None, lr: float) -> None:
        net.compute_grads(*sampler.gather(rows))
        optimizer.step(flat_grads, lr)

    return gathered


def _metrics(net: Net, train: Split, val: Split, watch: DivergenceWatch, step: int,
             per_epoch: int, point: int) -> dict[str, float]:
    """Loss and accuracy on both splits at one reporting point (training loss checked)."""
    tr = evaluate(net, train.X, train.y)
    watch.check(tr["loss"], step, step / per_epoch, point)
    va = evaluate(net, val.X, val.y)
    return {"epoch": step / per_epoch, "train_loss": tr["loss"], "train_accuracy": tr["accuracy"],
            "val_loss": va["loss"], "val_accuracy": va["accuracy"]}


@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def train(
    net: Net,
    optimizer: Optimizer,
    train_split: Split,
    val_split: Split,
    report: Reporter,
    *,
    rng: np.random.Generator,
    batch_size: int,
    total_steps: int,
    report_steps: Collection[int],
    lr_at: Callable[[int], float],
    stop_threshold: float = 0.0,
    stop_patience: int = 0,
    flip: tuple[int, int, int] | None = None,
    checkpoint: Checkpoint | None = None,
    tick: Callable[[], object] | None = None,
) -> list[dict[str, float]]:
    """Run `total_steps` updates; evaluate and call `report` after each step in `report_steps`,
    at the last step, and when the stop rule fires. Returns the history of reported metrics.
    `flip`: the image shape (C, H, W) of the rows, to mirror a random half of every mini-batch.
    Plain SGD (the base Optimizer) without the stop rule takes the net's fused step if it has one.
    `checkpoint`: continue from its state if it has one, and save one after every reporting point
    but the last; the run then ends bit for bit as it would have without the stop. With its
    `stop_after` set, save after that reporting point (even the last) and return there.
    `tick`: called every CHECK_EVERY steps (objectives.threads.Pool.tick rebalances the threads).

    Overflow warnings are silenced: divergence is detected and raised as DivergenceError."""
    if len(optimizer.params) != 1 or optimizer.params[0] is not net.flat_params:
        raise ValueError("the optimizer must be built over [net.flat_params]")
    sampler = BatchSampler(train_split, batch_size, rng, flip)
    per_epoch = sampler.steps_per_epoch
    use_stop_rule = stop_threshold > 0 and stop_patience > 0
    optimizer.track_updates = use_stop_rule
    update = _stepper(net, optimizer, sampler,
                      fused=type(optimizer) is Optimizer and not use_stop_rule)
    watch = DivergenceWatch()
    history: list[dict[str, float]] = []
    step, below, lr = 0, 0, lr_at(0)
    order, start = None, 0
    saved = checkpoint.load_arrays() if checkpoint is not None else None
    if saved is not None:
        step, below, history, order, start = _restore(saved, net, optimizer, rng, watch)
    done = total_steps <= 0 or step >= total_steps
    if saved is not None and checkpoint is not None and checkpoint.ends_at(len(history)):
        done = True  # its stop was reached before it was saved
    started = time.perf_counter()
    while not done:
        for rows in sampler.epoch(order, start):
            lr = lr_at(step)
            update(rows, lr)
            if step == 0:
                watch.start(net.last_loss())
            step += 1
            if step % CHECK_EVERY == 0:
                watch.check(net.last_loss(), step, step / per_epoch, len(history) + 1)
                if tick is not None:
                    tick()
            if use_stop_rule:
                below = below + 1 if optimizer.max_update < stop_threshold else 0
            done = step >= total_steps or below >= stop_patience > 0
            if step in report_steps or done:
                seconds = time.perf_counter() - started
                metrics = _metrics(net, train_split, val_split, watch, step, per_epoch,
                                   len(history) + 1)
                history.append({**metrics, "lr": lr, "seconds": seconds})
                report(len(history), history[-1])
                if checkpoint is not None:
                    ends = checkpoint.ends_at(len(history))
                    if ends or (not done and checkpoint.due()):
                        _save(checkpoint, net, optimizer, sampler, rng, watch, history, step,
                              below)
                    if ends:
                        return history
                started = time.perf_counter()
            if done:
                break
        order, start = None, 0
    return history


def _save(checkpoint: Checkpoint, net: Net, optimizer: Optimizer, sampler: BatchSampler,
          rng: np.random.Generator, watch: DivergenceWatch, history: list[dict[str, float]],
          step: int, below: int) -> None:
    """Everything the loop needs to go on from here (weights as they are after a reporting
    point: a two-layer net's W1 scale is folded in by its evaluation)."""
    arrays, scalars = optimizer.state()
    arrays = {**arrays, "params": net.flat_params}
    if sampler.order is not None:
        arrays["order"] = sampler.order
    checkpoint.save_arrays(arrays, {
        "step": step, "below": below, "history": history, "next_start": sampler.next_start,
        "rng": rng.bit_generator.state, "watch": watch.reference, "optimizer": scalars})


def _restore(saved: tuple[dict[str, np.ndarray], dict[str, Any]], net: Net,
             optimizer: Optimizer, rng: np.random.Generator, watch: DivergenceWatch
             ) -> tuple[int, int, list[dict[str, float]], np.ndarray | None, int]:
    arrays, meta = saved
    net.flat_params[...] = arrays["params"]
    optimizer.load_state(arrays, meta["optimizer"])
    rng.bit_generator.state = meta["rng"]
    watch.reference = meta["watch"]
    return (meta["step"], meta["below"], meta["history"], arrays.get("order"),
            meta["next_start"])
