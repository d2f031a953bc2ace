"""Many workers on one study in a real PostgreSQL server (CI: .ci/run starts it and sets
TUNER_TEST_POSTGRES_URL; by hand: `source .ci/postgres.sh && start_postgres`). Each test gets a
fresh database, dropped afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from sqlalchemy.engine import make_url

from tuner.errors import StorageError
from tuner.storage import open_storage

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("TUNER_TEST_POSTGRES_URL")
State = optuna.trial.TrialState


def _admin(sql: str) -> None:
    import psycopg

    assert ADMIN_URL is not None
    url = make_url(ADMIN_URL)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                         dbname=url.database, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh, empty database owned by the test role."""
    if not ADMIN_URL:
        pytest.skip("TUNER_TEST_POSTGRES_URL is not set (source .ci/postgres.sh && start_postgres)")
    name = f"tuner_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_open_storage_creates_the_schema(pg_url: str) -> None:
    rdb = open_storage(pg_url, heartbeat=5)
    assert rdb.get_heartbeat_interval() == 5
    study = optuna.create_study(storage=rdb, study_name="s/coarse")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(optuna.load_study(study_name="s/coarse", storage=pg_url).trials) == 2


def test_wrong_password_is_one_line_without_it(pg_url: str) -> None:
    url = make_url(pg_url).set(password="not-the-password-42")
    with pytest.raises(StorageError, match=r"^Cannot open storage 'postgresql\+psycopg://tuner:"
                       r"\*\*\*@127\.0\.0\.1:\d+/tuner_test_\w+': .*password authentication "
                       r"failed for user \"tuner\"\.$") as info:
        open_storage(url.render_as_string(hide_password=False))
    assert "not-the-password-42" not in str(info.value)
    assert "tuner-secret" not in str(info.value)


def test_missing_database_is_one_line(pg_url: str) -> None:
    url = make_url(pg_url).set(database="no_such_db_here").render_as_string(hide_password=False)
    with pytest.raises(StorageError, match=r"database \"no_such_db_here\" does not exist\.$"):
        open_storage(url)


WORKER = textwrap.dedent(
    """
    import sys, time
    import optuna
    from tuner.storage import open_storage
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="s", storage=open_storage(sys.argv[1], heartbeat=1))
    def objective(trial):
        x = trial.suggest_float("x", -5, 5)
        time.sleep(1.5)
        return x * x
    done = lambda s, t: len(s.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) >= 8 \\
        and s.stop()
    study.optimize(objective, callbacks=[done])
    """
)


def test_killed_worker_trial_fails_and_is_retried_by_optuna_workers(pg_url: str) -> None:
    """Storage level (plain study.optimize): SIGKILL one of three workers mid-trial; its trial
    turns FAIL after the 2 s grace period and a survivor reruns the same params."""
    optuna.create_study(storage=open_storage(pg_url), study_name="s")
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, pg_url], cwd=ROOT) for _ in range(3)]
    study = optuna.load_study(study_name="s", storage=pg_url)
    _kill_when_all_busy(study, procs, busy=3)
    for proc in procs[1:]:
        assert proc.wait(timeout=120) == 0
    trials = study.get_trials(deepcopy=False)
    failed = [t for t in trials if t.state == State.FAIL]
    assert len(failed) == 1
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(retries) == 1
    assert retries[0].state == State.COMPLETE
    assert retries[0].params == failed[0].params
    assert len({t.number for t in trials}) == len(trials)


def _kill_when_all_busy(
    study: optuna.Study,
    procs: list[subprocess.Popen[bytes]],
    busy: int,
    young: float = 1.0,
    timeout: float = 90,
) -> None:
    """SIGKILL procs[0] at a moment when `busy` trials are running (every worker is in a trial)
    and none is about to end (all started under `young` seconds ago, well under a trial's
    length), so the killed worker certainly dies mid-trial."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = study.get_trials(deepcopy=False, states=(State.RUNNING,))
        now = time.time()
        if len(running) == busy and all(
            t.datetime_start is not None and now - t.datetime_start.timestamp() < young
            for t in running
        ):
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait()
            return
        time.sleep(0.05)
    for proc in procs:
        proc.kill()
    pytest.fail(f"never saw {busy} trials running at once")
