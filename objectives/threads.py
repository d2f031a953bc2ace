"""How many CPU threads training uses, decided in one place and applied with threadpoolctl.

The rule, per library, from benchmarks/bench_threads.py (docs/performance.md has the table):
- NumPy's BLAS and torch get the thread budget: `threads` when a config sets it (> 0), else
  $TUNER_THREADS (`--threads`, or the host's share under `--cluster`), else $OMP_NUM_THREADS,
  else this fit's fair share of the usable cores (cores // the trainers running on this machine,
  objectives.trainers) up to MAX_AUTO, because every shipped objective is fastest with every
  core it does not share; operations too small to gain are left single-threaded by the
  libraries themselves. The fair share is taken again at each report (`Pool.reporting`), so a
  fit that started alone gives threads back when another starts.
- Any *other* BLAS in the process gets one thread. SciPy's wheels bundle their own OpenBLAS,
  which objectives.blas uses for the level-1 updates (axpy). Two OpenBLAS copies both keeping
  worker threads spinning after each call fight over the cores when one training step calls
  both, which slows the two-layer net's steps several-fold. Its axpy is memory-bound, so one
  thread costs it nothing that matters.

`limited(threads)` applies this for the duration of one fit (the tuner's final included),
registered as a running trainer, and restores the previous settings afterwards, so nothing
depends on environment variables being set before the libraries were loaded.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from threadpoolctl import ThreadpoolController

from objectives import trainers
from objectives.base import Reporter

THREADS_ENV = "TUNER_THREADS"
MAX_AUTO = 8
"""The most threads `auto` takes on a big machine (beyond that these small nets stop gaining)."""

THREADS_LIMIT = 1024
"""The most threads a config's `threads` may ask for (--threads is held to 4 per core by the
tuner; a config may be meant for a bigger machine than the one that reads it)."""

THREADS_HELP = ("CPU threads; 0 = auto: --threads, else a fair share of the cores (all, when no "
                "other tuner process or --jobs worker trains on this machine)")

TICK_SECONDS = 0.2
"""How often a running fit looks for other trainers between reports (Pool.tick)."""

_budget: int | None = None


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def set_budget(threads: int | None) -> None:
    """Make `threads` the default for every later fit in this process (None: back to auto)."""
    global _budget
    if threads is not None and threads < 1:
        raise ValueError(f"The thread budget must be an int in [1, inf). Got {threads} instead.")
    _budget = threads


def _env_count(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


def explicit() -> int | None:
    """The budget a user (or --jobs) set for this process: set_budget, $TUNER_THREADS or
    $OMP_NUM_THREADS; None when the tuner chooses."""
    if _budget is not None:
        return _budget
    return _env_count(THREADS_ENV) or _env_count("OMP_NUM_THREADS")


def auto() -> int:
    """The thread budget when a config leaves `threads` at 0 (see the module docstring)."""
    return explicit() or min(trainers.fair_share(cores()), MAX_AUTO)


def resolve(threads: int) -> int:
    """`threads` itself when > 0, else auto()."""
    return threads if threads > 0 else auto()


def _is_scipy_bundled(filepath: str) -> bool:
    """True for the BLAS that SciPy's wheels ship for themselves (scipy.libs/ or scipy/.libs/)."""
    folder = Path(filepath).parent
    return folder.name == "scipy.libs" or (folder.name == ".libs" and folder.parent.name == "scipy")


class Pool:
    """The thread settings of one running fit: `count` threads for NumPy's BLAS, the OpenMP
    runtimes (scikit-learn's HistGradientBoosting, torch's) and torch."""

    def __init__(self, controller: ThreadpoolController, libs: list[str], chosen: bool) -> None:
        self.controller = controller
        self.libs = libs  # the files of NumPy's BLAS and of the OpenMP runtimes
        self.chosen = chosen  # by the tuner (the fair share), not by the user
        self.count = 0
        self.checked = time.monotonic()

    def apply(self, count: int) -> None:
        if count == self.count:
            return
        if self.libs:
            self.controller.select(filepath=self.libs).limit(limits=count)
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(count)
        self.count = count

    def rebalance(self) -> int:
        """Take the fair share again (a fit the tuner chose threads for); the count now."""
        if self.chosen:  # no user budget: the fair share alone decides
            self.apply(min(trainers.fair_share(cores()), MAX_AUTO))
        self.checked = time.monotonic()
        return self.count

    def tick(self) -> None:
        """rebalance() at most every TICK_SECONDS: training loops call it between steps, so a
        fit that started alone gives threads back soon after another starts, not only at its
        next report."""
        if time.monotonic() - self.checked >= TICK_SECONDS:
            self.rebalance()

    def reporting(self, report: Reporter) -> Reporter:
        """`report`, rebalancing the threads first at every report."""
        def rebalanced(step: int, metrics: Mapping[str, float]) -> None:
            self.rebalance()
            report(step, metrics)
        return rebalanced


@contextmanager
def limited(threads: int) -> Iterator[Pool]:
    """Run the block as a registered trainer with resolve(threads) threads for NumPy's BLAS, the
    OpenMP runtimes and torch, and one for any SciPy-bundled BLAS; yields the Pool (its
    `count`, `reporting`). The previous settings are restored afterwards."""
    controller = ThreadpoolController()
    blas = [lib for lib in controller.lib_controllers if lib.user_api == "blas"]
    level1 = [lib.filepath for lib in blas if _is_scipy_bundled(lib.filepath)]
    main = [lib.filepath for lib in blas if not _is_scipy_bundled(lib.filepath)]
    libs = main + [lib.filepath for lib in controller.lib_controllers
                   if lib.user_api == "openmp"]
    torch = sys.modules.get("torch")
    with ExitStack() as stack:
        stack.enter_context(trainers.Entry())
        if libs:
            stack.enter_context(controller.select(filepath=libs).limit(limits=None))
        if level1:
            stack.enter_context(controller.select(filepath=level1).limit(limits=1))
        if torch is not None:
            stack.callback(torch.set_num_threads, torch.get_num_threads())
        pool = Pool(controller, libs, chosen=threads <= 0 and explicit() is None)
        pool.apply(resolve(threads))
        yield pool
