"""Which thread counts train the built-in objectives fastest, at the shapes the studies use.

    .venv/bin/python benchmarks/bench_threads.py [--repeats R] [--only NAME ...]

Run it with no thread variables set (what a user gets). Each case is one objective.fit on
synthetic data shaped like its dataset (evaluation included), timed under three settings that
take turns, best of R:
- "1 thread": every library at one thread;
- "all, both BLAS": every library at all cores, SciPy's bundled OpenBLAS included: what the
  libraries do on their own, and what tuner did before objectives/threads.py;
- "rule": objectives/threads.py (NumPy's BLAS and torch at all cores, SciPy's BLAS at one).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from objectives import registry, threads
from objectives.base import Split, no_report

CASES: dict[str, tuple[str, Mapping[str, Any], tuple[int, int, int], int, int]] = {
    # name: (objective, config, image shape, train rows, val rows)
    "softmax MNIST batch 100, 1 epoch": ("softmax", {"epochs": 1, "batch_size": 100},
                                         (1, 28, 28), 55_000, 5_000),
    "softmax MNIST batch 5000, 1 epoch": ("softmax", {"epochs": 1, "batch_size": 5000},
                                          (1, 28, 28), 55_000, 5_000),
    "two-layer CIFAR-10 batch 100, 450 steps": ("two_layer", {"n_s": 225, "cycles": 1},
                                                (3, 32, 32), 45_000, 5_000),
    "mlp MNIST 20k, 1 epoch": ("mlp", {"epochs": 1}, (1, 28, 28), 20_000, 5_000),
    "lenet MNIST 20k, 1 epoch": ("lenet", {"epochs": 1}, (1, 28, 28), 20_000, 5_000),
    "cifar_cnn CIFAR-10 5k, 1 epoch": ("cifar_cnn", {"epochs": 1}, (3, 32, 32), 5_000, 1_000),
}


def synthetic(n: int, shape: tuple[int, int, int], seed: int) -> Split:
    rng = np.random.default_rng(seed)
    d = int(np.prod(shape))
    X = rng.standard_normal((n, d), dtype=np.float32)
    y = (X[:, :64] @ rng.standard_normal((64, 10), dtype=np.float32)).argmax(axis=1)
    return Split(X, y.astype(np.int64))


@contextmanager
def scipy_blas_like_the_rest() -> Iterator[None]:
    """Treat SciPy's bundled BLAS like NumPy's (all cores): the libraries' own default."""
    original = threads._is_scipy_bundled
    threads._is_scipy_bundled = lambda filepath: False  # type: ignore[assignment]
    try:
        yield
    finally:
        threads._is_scipy_bundled = original  # type: ignore[assignment]


def timed(fit: Callable[[int], object], count: int, both: bool) -> float:
    start = time.perf_counter()
    if both:
        with scipy_blas_like_the_rest():
            fit(count)
    else:
        fit(count)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="case names containing these words")
    args = parser.parse_args()
    cores = threads.auto()
    print(f"rule: {cores} threads for NumPy's BLAS and torch, 1 for SciPy's BLAS "
          f"({threads.cores()} usable cores); seconds per fit, best of {args.repeats}")
    print(f"{'case':<42}{'1 thread':>9}{'all, both BLAS':>16}{'rule':>8}"
          f"{'rule vs 1':>11}{'rule vs all':>12}")
    for name, (objective, config, shape, n_train, n_val) in CASES.items():
        if args.only and not any(word in name for word in args.only):
            continue
        obj = registry.get(objective)
        train, val = synthetic(n_train, shape, 0), synthetic(n_val, shape, 1)

        def fit(count: int, obj: Any = obj, config: Mapping[str, Any] = config,
                train: Split = train, val: Split = val, shape: tuple[int, int, int] = shape
                ) -> object:
            return obj.fit({**config, "threads": count}, train, val, no_report, 0, shape)

        best = [float("inf")] * 3
        for _ in range(args.repeats):
            for i, (count, both) in enumerate(((1, False), (cores, True), (cores, False))):
                best[i] = min(best[i], timed(fit, count, both))
        one, naive, rule = best
        print(f"{name:<42}{one:9.2f}{naive:16.2f}{rule:8.2f}{one / rule:10.2f}x"
              f"{naive / rule:11.2f}x")


if __name__ == "__main__":
    main()
