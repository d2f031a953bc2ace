"""Shared fixtures: where the real datasets are, and per-test storage and tracking locations."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_db import ADMIN_URL, SKIP_REASON, fresh_database
from tuned_models import digits_final, wine_final  # noqa: F401  (session fixtures)

from objectives.trainers import TRAINERS_ENV

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def shared_data() -> Path:
    """../shared/data (real MNIST and CIFAR-10); the test is skipped when it is absent."""
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def _own_trainers_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Fits register as running trainers (objectives/trainers.py) in a folder of this test
    process's own (and its subprocesses'), so that tests running in parallel do not share the
    machine's registry and change each other's thread counts."""
    os.environ[TRAINERS_ENV] = str(tmp_path_factory.mktemp("trainers"))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database owned by the test role (skipped without
    $TUNER_TEST_POSTGRES_URL)."""
    if not ADMIN_URL:
        pytest.skip(SKIP_REASON)
    with fresh_database() as url:
        yield url


@pytest.fixture
def storage_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tuner.db'}"


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    (tmp_path / "mlruns").mkdir(exist_ok=True)
    return f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the user's tuner.db, mlruns/ and data cache."""
    monkeypatch.setenv("TUNER_CACHE_DIR", str(tmp_path / "cache"))
    for var in ("TUNER_STORAGE", "MLFLOW_TRACKING_URI", "TUNER_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    os.environ.setdefault("MPLBACKEND", "Agg")
