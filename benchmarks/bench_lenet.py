"""Epoch time of the `lenet` objective vs plain PyTorch loops on the same data, side by side.

The reference loops train the same network with the same optimizer: one as in optuna-examples'
pytorch_simple.py (a shuffling DataLoader over the tensors), one a bare permute-and-slice loop.
Variants run interleaved, `--repeats` times each, and the table shows the median epoch time.

    .venv/bin/python benchmarks/bench_lenet.py --data-dir ../shared/data --train-limit 10000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from objectives import data  # noqa: E402
from objectives.base import Split, no_report  # noqa: E402
from objectives.torch_models import LeNet  # noqa: E402
from objectives.torch_train import LENET, set_threads  # noqa: E402

LR, MOMENTUM = 0.05, 0.9


def _tensors(split: Split, shape: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(split.X).view(len(split), *shape), torch.from_numpy(split.y)


def ours(train: Split, val: Split, shape: tuple[int, int, int], batch: int, seed: int) -> float:
    """One epoch of LENET.fit; its reported `seconds` is the training time without eval."""
    config = {"epochs": 1, "batch_size": batch, "lr": LR, "momentum": MOMENTUM, "device": "cpu",
              "threads": torch.get_num_threads()}
    return LENET.fit(config, train, val, no_report, seed, shape).history[0]["seconds"]


def optuna_example(train: Split, val: Split, shape: tuple[int, int, int], batch: int,
                   seed: int) -> float:
    """The optuna-examples pytorch_simple.py training loop, over a shuffling DataLoader."""
    torch.manual_seed(seed)
    X, y = _tensors(train, shape)
    loader = DataLoader(TensorDataset(X, y), batch_size=batch, shuffle=True)
    model = LeNet(shape, 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    start = time.perf_counter()
    model.train()
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def bare_loop(train: Split, val: Split, shape: tuple[int, int, int], batch: int,
              seed: int) -> float:
    """The least a loop can do: permute once, slice batches, step."""
    torch.manual_seed(seed)
    X, y = _tensors(train, shape)
    model = LeNet(shape, 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    start = time.perf_counter()
    model.train()
    order = torch.randperm(len(y))
    for i in range(0, len(y), batch):
        idx = order[i:i + batch]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X[idx]), y[idx])
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


VARIANTS: dict[str, Callable[..., float]] = {
    "tuner lenet objective": ours,
    "optuna-examples loop (DataLoader)": optuna_example,
    "bare tensor loop": bare_loop,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="dataset root (e.g. ../shared/data)")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--train-limit", type=int, default=10000, help="training examples")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="0 = the objective's default")
    args = parser.parse_args()

    ds = data.load(args.dataset, data_dir=args.data_dir, normalize="channel", seed=0,
                   train_limit=args.train_limit, val_size=1000)
    set_threads(args.threads)
    print(f"{args.dataset}: {len(ds.train)} train examples, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads, {args.repeats} interleaved repeats (CPU)")
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for repeat in range(args.repeats):
        for name, run in VARIANTS.items():
            times[name].append(run(ds.train, ds.val, ds.image_shape, args.batch_size, repeat))

    base = statistics.median(times["tuner lenet objective"])
    print(f"{'variant':36} {'median s/epoch':>15} {'min':>8} {'ours / this':>12}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:36} {median:15.3f} {min(values):8.3f} {base / median:12.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
