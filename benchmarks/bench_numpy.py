"""Speed of the NumPy models' training epochs, side by side with a plain PyTorch CPU loop of the
same math and with the epoch's two big GEMMs alone (the floor any implementation pays).

    .venv/bin/python benchmarks/bench_numpy.py [--threads N ...] [--repeats R]

Each figure is the best of R epochs, the three runs taking turns (the machine may be shared).
Both sides run with the same thread count, set as objectives/threads.py sets it for training
(NumPy's BLAS and torch at N, SciPy's bundled BLAS at one). By default the table is printed
twice: at the default count a user gets (all cores) and at one thread.
"""

from __future__ import annotations

import argparse
import functools
import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from objectives.base import Split, no_report
from objectives.numpy_nets.loop import train
from objectives.numpy_nets.optimizers import Momentum, Optimizer
from objectives.numpy_nets.softmax import CHUNK_MACS, SoftmaxRegression
from objectives.numpy_nets.two_layer import TwoLayerNet
from objectives.schedules import cyclical
from objectives.threads import auto, limited

LAMBDA = 1e-4
LR = 0.002


def synthetic(n: int, d: int, k: int, seed: int = 0) -> Split:
    """Gaussian features with labels from a random linear teacher (so the loss really moves)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d), dtype=np.float32)
    y = (X[:, :64] @ rng.standard_normal((64, k), dtype=np.float32)).argmax(axis=1)
    return Split(X, y.astype(np.int64))


def best_of_interleaved(repeats: int, *runs: Callable[[], float]) -> list[float]:
    """Best time of each run over `repeats` rounds, the runs taking turns so that a change in
    the machine's load hits all of them alike."""
    best = [float("inf")] * len(runs)
    for _ in range(repeats):
        for i, run in enumerate(runs):
            best[i] = min(best[i], run())
    return best


def numpy_softmax_epoch(data: Split, batch: int) -> float:
    """Seconds of one training epoch through the real training loop (evaluation excluded)."""
    rng = np.random.default_rng(0)
    model = SoftmaxRegression.init(data.X.shape[1], 10, rng, lam=LAMBDA)
    steps = math.ceil(len(data) / batch)
    tiny = Split(data.X[:10], data.y[:10])
    history = train(model, Momentum([model.flat_params], 0.9), data, tiny, no_report, rng=rng,
                    batch_size=batch, total_steps=steps, report_steps=(), lr_at=lambda s: LR)
    return history[-1]["seconds"]


def numpy_two_layer_epoch(data: Split, batch: int) -> float:
    rng = np.random.default_rng(0)
    net = TwoLayerNet.init(data.X.shape[1], 50, 10, rng, lam=0.01)
    steps = math.ceil(len(data) / batch)
    tiny = Split(data.X[:10], data.y[:10])
    lr_at = functools.partial(cyclical, eta_min=1e-5, eta_max=1e-1, n_s=500)
    history = train(net, Optimizer([net.flat_params]), data, tiny, no_report, rng=rng,
                    batch_size=batch, total_steps=steps, report_steps=(), lr_at=lr_at)
    return history[-1]["seconds"]


def torch_epoch(data: Split, batch: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                lr_at: Callable[[int], float] | None = None) -> float:
    """One epoch of the textbook PyTorch loop: shuffle, index, forward, cross_entropy, backward."""
    X, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    order = torch.randperm(len(data), generator=generator)
    for step, first in enumerate(range(0, len(data), batch)):
        idx = order[first:first + batch]
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
        loss = F.cross_entropy(model(X[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def torch_softmax_epoch(data: Split, batch: int) -> float:
    torch.manual_seed(0)
    model = nn.Linear(data.X.shape[1], 10)
    optimizer = torch.optim.SGD([
        {"params": [model.weight], "weight_decay": 2 * LAMBDA},
        {"params": [model.bias], "weight_decay": 0.0},
    ], lr=LR, momentum=0.9)
    return torch_epoch(data, batch, model, optimizer)


def torch_two_layer_epoch(data: Split, batch: int) -> float:
    torch.manual_seed(0)
    first, second = nn.Linear(data.X.shape[1], 50), nn.Linear(50, 10)
    model = nn.Sequential(first, nn.ReLU(), second)
    optimizer = torch.optim.SGD([
        {"params": [first.weight, second.weight], "weight_decay": 2 * 0.01},
        {"params": [first.bias, second.bias], "weight_decay": 0.0},
    ], lr=1e-5)
    lr_at = functools.partial(cyclical, eta_min=1e-5, eta_max=1e-1, n_s=500)
    return torch_epoch(data, batch, model, optimizer, lr_at)


def gemm_floor(data: Split, batch: int, hidden: int = 10) -> float:
    """The epoch's forward X @ W and gradient X^T @ G alone, on contiguous batch slices, in
    whichever orientation (X @ W and X^T @ G, or W^T X^T and G^T X) BLAS runs faster, and in
    whole batches or in the row chunks SoftmaxRegression uses (faster GEMMs, same FLOPs)."""
    W = np.zeros((data.X.shape[1], hidden), np.float32)
    Wt, gW = np.ascontiguousarray(W.T), np.empty_like(W)
    gWt = np.empty_like(Wt)
    chunk = min(batch, max(1, CHUNK_MACS // W.size))
    times = []
    for rows in {batch, chunk}:
        S, St = np.empty((rows, hidden), np.float32), np.empty((hidden, rows), np.float32)
        for transposed in (False, True):
            start = time.perf_counter()
            for first in range(0, len(data) - rows + 1, rows):
                xb = data.X[first:first + rows]
                if transposed:
                    np.matmul(Wt, xb.T, out=St)
                    np.matmul(St, xb, out=gWt)
                else:
                    np.matmul(xb, W, out=S)
                    np.matmul(xb.T, S, out=gW)
            times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, nargs="+", default=[auto(), 1],
                        help="thread counts to run the table at (default: all cores, then 1)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    mnist_like = synthetic(55_000, 784, 10)
    cifar_like = synthetic(45_000, 3072, 10)
    cases: list[tuple[str, Callable[[], float], Callable[[], float], Callable[[], float], str]] = [
        ("softmax 55000x784 batch 100",
         lambda: numpy_softmax_epoch(mnist_like, 100),
         lambda: torch_softmax_epoch(mnist_like, 100),
         lambda: gemm_floor(mnist_like, 100), "<=0.5x torch, <=2x gemms"),
        ("softmax 55000x784 batch 5000",
         lambda: numpy_softmax_epoch(mnist_like, 5000),
         lambda: torch_softmax_epoch(mnist_like, 5000),
         lambda: gemm_floor(mnist_like, 5000), "<=0.5x torch, <=2x gemms"),
        ("two-layer 45000x3072-50-10 b 100",
         lambda: numpy_two_layer_epoch(cifar_like, 100),
         lambda: torch_two_layer_epoch(cifar_like, 100),
         lambda: gemm_floor(cifar_like, 100, hidden=50), "<=0.6x torch"),
    ]
    for count in dict.fromkeys(args.threads):
        with limited(count):
            print(f"threads: NumPy's BLAS {count}, torch {torch.get_num_threads()}, SciPy's "
                  f"BLAS 1; best of {args.repeats} epochs, seconds per epoch")
            print(f"{'case':<34}{'numpy':>8}{'torch':>8}{'gemms':>8}{'np/torch':>10}"
                  f"{'np/gemms':>10}  targets")
            for name, ours, theirs, floor, target in cases:
                t_np, t_torch, t_gemm = best_of_interleaved(args.repeats, ours, theirs, floor)
                print(f"{name:<34}{t_np:8.3f}{t_torch:8.3f}{t_gemm:8.3f}{t_np / t_torch:9.2f}x"
                      f"{t_np / t_gemm:9.2f}x  {target}")


if __name__ == "__main__":
    main()
