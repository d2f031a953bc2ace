"""Epoch time of the `lenet` objective vs plain PyTorch loops on the same data, side by side.

The reference loops train the same network with the same optimizer: one as in optuna-examples'
pytorch_simple.py (a shuffling DataLoader over the tensors), one a bare permute-and-slice loop.
Variants run interleaved, `--repeats` times each; the table shows median wall and CPU seconds
per epoch and our time divided by each variant's (CPU time is steadier on a shared machine).

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
from objectives.threads import limited, set_budget  # noqa: E402
from objectives.torch_nets.architectures import LeNet  # noqa: E402
from objectives.torch_nets.objective import LENET  # noqa: E402

LR, MOMENTUM = 0.05, 0.9


def _tensors(split: Split, shape: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(split.X).view(len(split), *shape), torch.from_numpy(split.y)


Timing = tuple[float, float]
"""(wall seconds, CPU seconds of this process) for one training epoch."""


def ours(train: Split, shape: tuple[int, int, int], batch: int, seed: int) -> Timing:
    """One epoch of LENET.fit: wall is its reported `seconds` (training only); CPU time covers
    the whole call, with an empty val split so no evaluation is counted."""
    config = {"epochs": 1, "batch_size": batch, "lr": LR, "momentum": MOMENTUM, "device": "cpu",
              "threads": torch.get_num_threads()}
    empty = Split(train.X[:0], train.y[:0])
    cpu = time.process_time()
    result = LENET.fit(config, train, empty, no_report, seed, shape)
    return result.history[0]["seconds"], time.process_time() - cpu


def optuna_example(train: Split, shape: tuple[int, int, int], batch: int, seed: int) -> Timing:
    """The optuna-examples pytorch_simple.py training loop, over a shuffling DataLoader."""
    torch.manual_seed(seed)
    X, y = _tensors(train, shape)
    loader = DataLoader(TensorDataset(X, y), batch_size=batch, shuffle=True)
    model = LeNet(shape, 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    start, cpu = time.perf_counter(), time.process_time()
    model.train()
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start, time.process_time() - cpu


def bare_loop(train: Split, shape: tuple[int, int, int], batch: int, seed: int) -> Timing:
    """The least a loop can do: permute once, slice batches, step."""
    torch.manual_seed(seed)
    X, y = _tensors(train, shape)
    model = LeNet(shape, 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    start, cpu = time.perf_counter(), time.process_time()
    model.train()
    order = torch.randperm(len(y))
    for i in range(0, len(y), batch):
        idx = order[i:i + batch]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X[idx]), y[idx])
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start, time.process_time() - cpu


VARIANTS: dict[str, Callable[..., Timing]] = {
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
    parser.add_argument("--threads", type=int, default=0,
                        help="0 = the default rule (objectives/threads.py)")
    args = parser.parse_args()

    ds = data.load(args.dataset, data_dir=args.data_dir, normalize="channel", seed=0,
                   train_limit=args.train_limit, val_size=1000)
    set_budget(args.threads or None)
    walls: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpus: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with limited(0) as pool:
        print(f"{args.dataset}: {len(ds.train)} train examples, batch {args.batch_size}, "
              f"{pool.count} threads, {args.repeats} interleaved repeats (CPU)")
        for repeat in range(args.repeats):
            for name, run in VARIANTS.items():
                wall, cpu = run(ds.train, ds.image_shape, args.batch_size, repeat)
                walls[name].append(wall)
                cpus[name].append(cpu)

    ours_wall = statistics.median(walls["tuner lenet objective"])
    ours_cpu = statistics.median(cpus["tuner lenet objective"])
    print(f"{'variant':34} {'wall s/epoch':>12} {'(min)':>7} {'CPU s/epoch':>11} "
          f"{'ours/this wall':>14} {'ours/this CPU':>13}")
    for name in VARIANTS:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"{name:34} {wall:12.2f} {min(walls[name]):7.2f} {cpu:11.2f} "
              f"{ours_wall / wall:14.3f} {ours_cpu / cpu:13.3f}")
    print("medians over repeats; CPU time is the steadier number on a loaded machine")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
