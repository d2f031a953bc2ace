"""The thread rule (objectives/threads.py): NumPy's BLAS and torch get the budget, a SciPy-bundled
BLAS one thread; the budget follows --threads, $TUNER_THREADS, $OMP_NUM_THREADS, then the cores."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pytest
import scipy.linalg.blas  # noqa: F401 - loads SciPy's own BLAS, as objectives.blas does
import torch
from threadpoolctl import threadpool_info

from objectives import registry, threads
from objectives.base import Split
from tuner.cli import main


def _blas_threads() -> dict[str, int]:
    """Thread count of each loaded BLAS: 'scipy' for SciPy's bundled one, 'main' for the rest."""
    out = {}
    for lib in threadpool_info():
        if lib["user_api"] == "blas":
            kind = "scipy" if threads._is_scipy_bundled(lib["filepath"]) else "main"
            out[kind] = lib["num_threads"]
    return out


@pytest.fixture(autouse=True)
def _no_thread_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in (threads.THREADS_ENV, "OMP_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    yield
    threads.set_budget(None)


def test_auto_follows_budget_then_env_then_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    assert threads.auto() == min(threads.cores(), threads.MAX_AUTO)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.auto() == 3
    monkeypatch.setenv(threads.THREADS_ENV, "5")
    assert threads.auto() == 5
    threads.set_budget(2)
    assert threads.auto() == 2
    assert threads.resolve(7) == 7 and threads.resolve(0) == 2
    with pytest.raises(ValueError, match=r"must be an int in \[1, inf\)\. Got 0 instead"):
        threads.set_budget(0)


def test_scipy_bundled_blas_is_told_apart() -> None:
    assert threads._is_scipy_bundled("/venv/site-packages/scipy.libs/libscipy_openblas-x.so")
    assert threads._is_scipy_bundled("/venv/site-packages/scipy/.libs/libopenblas.so")
    assert not threads._is_scipy_bundled("/venv/site-packages/numpy.libs/libscipy_openblas64_.so")
    assert not threads._is_scipy_bundled("/usr/lib/x86_64-linux-gnu/libopenblas.so.0")


@pytest.mark.parametrize("count", [1, 2])
def test_limited_sets_each_library_and_restores_it(count: int) -> None:
    before, torch_before = _blas_threads(), torch.get_num_threads()
    with threads.limited(count) as pool:
        assert pool.count == count
        inside = _blas_threads()
        assert inside["main"] == count
        assert inside.get("scipy", 1) == 1
        assert torch.get_num_threads() == count
    assert _blas_threads() == before
    assert torch.get_num_threads() == torch_before


@pytest.mark.parametrize("objective", ["softmax", "two_layer", "mlp"])
def test_each_objective_trains_under_the_rule(objective: str) -> None:
    """The threads param (and, at 0, the budget) is what a fit runs with."""
    rng = np.random.default_rng(0)
    split = Split(rng.standard_normal((40, 64)).astype(np.float32), rng.integers(0, 10, 40))
    seen: list[tuple[dict[str, int], int]] = []

    def report(step: int, metrics: Mapping[str, float]) -> None:
        seen.append((_blas_threads(), torch.get_num_threads()))

    obj = registry.get(objective)
    short = {"softmax": {"epochs": 1}, "two_layer": {"n_s": 2}, "mlp": {"epochs": 1}}[objective]
    obj.fit({**short, "threads": 1}, split, split, report, 0, (1, 8, 8))
    threads.set_budget(2)
    obj.fit(short, split, split, report, 0, (1, 8, 8))
    first, last = seen[0], seen[-1]
    assert first[0]["main"] == 1 and first[1] == 1
    assert last[0]["main"] == 2 and last[1] == 2
    assert all(blas.get("scipy", 1) == 1 for blas, _ in seen)


def test_threads_flag_sets_the_budget_and_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "softmax", "--dataset", "digits", "--set", "epochs=1", "--threads",
                 "3"]) == 0
    assert threads.auto() == 3
    assert main(["run", "softmax", "--dataset", "digits", "--threads", "0"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "tuner run: error: argument --threads: must be a positive number of threads. "
        "Got 0 instead.")
