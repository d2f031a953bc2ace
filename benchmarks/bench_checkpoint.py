"""What trial checkpoints cost: each objective fitted with a checkpoint saved at every reporting
point (TUNER_CHECKPOINT_EVERY=0, the most it can cost) against the same fit without, on
synthetic data shaped like the studies' (lambda_search's two-layer net on CIFAR-10,
lenet_optimizers' LeNet on MNIST, cifar_cnn_lr's CNN), best of R each.

    .venv/bin/python benchmarks/bench_checkpoint.py [--repeats R]

A save is the state file written aside and renamed, then copied into the trial's Optuna
FileSystemArtifactStore with its id stored on the trial (engine/checkpoints.py); "s/save" is the
time inside those steps (best of R), "every point" that time for all of a fit's saves over the
fit's time without checkpoints, "every 30 s" one save per default interval (30 s of training).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from objectives import registry
from objectives.base import Split, no_report
from tuner.engine.checkpoint_store import DEFAULT_EVERY, checkpoint_store
from tuner.engine.checkpoints import TrialCheckpoint

CASES: dict[str, tuple[str, Mapping[str, Any], tuple[int, int, int], int]] = {
    # name: (objective, config, image shape, train rows)
    "two_layer CIFAR-10, 2 cycles of 900 steps": (
        "two_layer", {"n_s": 450, "cycles": 2, "points_per_cycle": 4}, (3, 32, 32), 45_000),
    "lenet MNIST 20k, 3 epochs": ("lenet", {"epochs": 3}, (1, 28, 28), 20_000),
    "cifar_cnn CIFAR-10 5k, 3 epochs": ("cifar_cnn", {"epochs": 3}, (3, 32, 32), 5_000),
}


def _split(shape: tuple[int, int, int], n: int, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, int(np.prod(shape))), dtype=np.float32)
    return Split(X, rng.integers(0, 10, n).astype(np.int64))


def _fit(objective: Any, config: Mapping[str, Any], train: Split, val: Split,
         shape: tuple[int, int, int], checkpoint: TrialCheckpoint | None) -> float:
    start = time.perf_counter()
    extra = {"checkpoint": checkpoint} if checkpoint is not None else {}
    objective.fit(dict(config), train, val, no_report, 0, shape, **extra)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"{'case':<44} {'fit s':>6} {'saves':>5} {'s/save':>7} {'MB':>5} "
          f"{'every point':>11} {f'every {DEFAULT_EVERY:.0f} s':>10}")
    for name, (objective_name, config, shape, n) in CASES.items():
        objective = registry.get(objective_name)
        train, val = _split(shape, n, 0), _split(shape, 1000, 1)
        plain, costs, saves, size = [], [], 0, 0
        for _ in range(args.repeats):
            plain.append(_fit(objective, config, train, val, shape, None))
            with tempfile.TemporaryDirectory(prefix="tuner-bench-") as tmp:
                study = optuna.create_study()
                trial = study.ask()
                store = checkpoint_store(Path(tmp) / "store")
                checkpoint = TrialCheckpoint(Path(tmp) / "local", store, trial, lambda h: None,
                                             "bench-0")
                checkpoint.min_interval = 0.0
                _fit(objective, config, train, val, shape, checkpoint)
                saves = checkpoint.saves
                costs.append(checkpoint.seconds / max(saves, 1))
                size = sum(p.stat().st_size for p in checkpoint.files())
        base, per_save = min(plain), min(costs)
        every = 100 * per_save * saves / base
        capped = 100 * per_save / DEFAULT_EVERY
        print(f"{name:<44} {base:>6.2f} {saves:>5} {per_save:>7.4f} {size / 1e6:>5.1f} "
              f"{every:>10.2f}% {capped:>9.3f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
