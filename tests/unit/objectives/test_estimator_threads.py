"""scikit-learn estimator fits under the tuner's thread budget: OpenMP (HistGradientBoosting's
threads) limited like BLAS, one thread for a small table, and n_jobs never above the budget."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info

from objectives import threads, trainers
from objectives.adapters import estimator as adapter
from objectives.adapters.estimator import EstimatorObjective, within_budget
from objectives.base import Split, no_report

assert HistGradientBoostingClassifier  # its import loads scikit-learn's OpenMP runtime


def _openmp_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"]


class Recorder(ClassifierMixin, BaseEstimator):
    """Records, at fit time, its n_jobs and the OpenMP runtimes' thread counts."""

    seen: list[tuple[Any, list[int]]] = []

    def __init__(self, n_jobs: int | None = None) -> None:
        self.n_jobs = n_jobs

    def fit(self, X: np.ndarray, y: np.ndarray) -> Recorder:
        Recorder.seen.append((self.n_jobs, _openmp_threads()))
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.zeros(len(X), dtype=np.int64)


@pytest.fixture
def four_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(trainers.TRAINERS_ENV, str(tmp_path / "trainers"))
    for var in (threads.THREADS_ENV, "OMP_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(threads, "cores", lambda: 4)
    monkeypatch.setattr(adapter, "cores", lambda: 4)
    Recorder.seen = []
    yield
    threads.set_budget(None)


def _split(rows: int, features: int) -> Split:
    rng = np.random.default_rng(0)
    return Split(rng.normal(size=(rows, features)).astype(np.float32),
                 (np.arange(rows) % 2).astype(np.int64))


def _fit(n_jobs: int | None, rows: int, features: int = 10) -> tuple[Any, list[int]]:
    objective = EstimatorObjective(Recorder(n_jobs=n_jobs), "tests:Recorder")
    split = _split(rows, features)
    objective.fit({}, split, split, no_report, 0, (1, 1, features))
    return Recorder.seen[-1]


def test_n_jobs_above_the_budget_is_lowered_to_it(four_cores: None) -> None:
    assert within_budget({"n_jobs": -1}, 2) == {"n_jobs": 2}
    assert within_budget({"n_jobs": 8, "max_depth": 8}, 2) == {"n_jobs": 2}
    assert within_budget({"n_jobs": 2}, 2) == {}
    assert within_budget({"n_jobs": None}, 1) == {}  # scikit-learn's one job stays
    assert within_budget({"forest__n_jobs": -1, "scale__copy": True}, 1) == {"forest__n_jobs": 1}


def test_a_large_table_fits_with_the_fair_share_and_n_jobs_within_it(four_cores: None) -> None:
    n_jobs, openmp = _fit(n_jobs=-1, rows=20_000)  # 200,000 cells: above SMALL_TABLE
    assert n_jobs == -1  # -1 is 4 on 4 cores: within the budget of 4 alone
    assert openmp and set(openmp) == {4}
    threads.set_budget(2)  # --threads 2
    n_jobs, openmp = _fit(n_jobs=-1, rows=20_000)
    assert n_jobs == 2 and set(openmp) == {2}


def test_a_small_table_fits_with_one_thread_unless_the_user_set_threads(
        four_cores: None) -> None:
    n_jobs, openmp = _fit(n_jobs=8, rows=100)
    assert set(openmp) == {1}
    assert n_jobs == 4  # n_jobs follows the budget, not the one-thread rule
    threads.set_budget(3)
    n_jobs, openmp = _fit(n_jobs=8, rows=100)
    assert set(openmp) == {3} and n_jobs == 3


def test_settings_are_restored_after_the_fit(four_cores: None) -> None:
    before = _openmp_threads()
    _fit(n_jobs=None, rows=100)
    assert _openmp_threads() == before


def test_a_pipeline_step_n_jobs_is_lowered(four_cores: None) -> None:
    threads.set_budget(1)
    objective = EstimatorObjective(make_pipeline(StandardScaler(), Recorder(n_jobs=-1)),
                                   "tests:pipeline")
    split = _split(100, 4)
    objective.fit({}, split, split, no_report, 0, (1, 1, 4))
    assert Recorder.seen[-1][0] == 1
