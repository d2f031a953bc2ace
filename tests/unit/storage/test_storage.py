"""Storage URLs, masking, one-line errors, heartbeats and SQLite shared by several processes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy

from tuner import storage
from tuner.errors import StorageError
from tuner.storage import (
    fail_stale,
    heartbeat,
    mask,
    open_storage,
    resolve_url,
    scrub,
    storage_errors,
)


def test_resolve_url_prefers_flag_then_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_url(None) == "sqlite:///tuner.db"
    monkeypatch.setenv("TUNER_STORAGE", "sqlite:///env.db")
    assert resolve_url(None) == "sqlite:///env.db"
    assert resolve_url("sqlite:///flag.db") == "sqlite:///flag.db"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://tuner:s3cret@db:5432/x", "postgresql+psycopg://tuner:***@db:5432/x"),
        ("postgresql://u:p@ss:w0rd@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:pa/ss?#@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("http://u:tok@mlflow:5000", "http://u:***@mlflow:5000"),
        ("postgresql://h/db?user=u&password=s3cret&x=1", "postgresql://h/db?user=u&password=***&x=1"),
        ("sqlite:///tuner.db", "sqlite:///tuner.db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_mask_hides_passwords(url: str, expected: str) -> None:
    assert mask(url) == expected


def test_scrub_removes_raw_password_from_any_text() -> None:
    url = "postgresql+psycopg://tuner:hunter2@db/x"
    text = scrub(f"failed for {url}: password hunter2 rejected", url)
    assert "hunter2" not in text
    assert "tuner:***@db/x" in text


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("notaurl", r"^Malformed storage URL 'notaurl'; expected e\.g\. sqlite:///tuner\.db"),
        ("postgresql://u:pw9@h:port/db", r"^Malformed storage URL 'postgresql://u:\*\*\*@h:port/db'"),
        ("sqlite://", r"names no SQLite file; expected e\.g\. sqlite:///tuner\.db\.$"),
        ("postgresql+nosuchdriver://u:pw9@127.0.0.1/db",
         r"^Unknown database driver 'postgresql\+nosuchdriver' in storage URL "
         r"'postgresql\+nosuchdriver://u:\*\*\*@127\.0\.0\.1/db'"),
        ("mysql+mysqldb://u:pw9@127.0.0.1/db",
         r"^The Python driver for 'mysql\+mysqldb' is not installed"),
    ],
)
def test_bad_urls_are_one_line_without_password(url: str, match: str) -> None:
    with pytest.raises(StorageError, match=match) as info:
        open_storage(url)
    assert "\n" not in str(info.value)
    assert "pw9" not in str(info.value)


def test_closed_port_is_one_line_without_password() -> None:
    url = "postgresql+psycopg://tuner:pw9@127.0.0.1:1/tuner"
    with pytest.raises(StorageError, match=r"^Cannot open storage 'postgresql\+psycopg://tuner:"
                       r"\*\*\*@127\.0\.0\.1:1/tuner': .*Connection refused") as info:
        open_storage(url)
    assert "\n" not in str(info.value)
    assert "pw9" not in str(info.value)


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match=r"^Cannot open storage 'sqlite:///.*junk\.db': "
                       r"file is not a database\.$"):
        open_storage(f"sqlite:///{junk}")


@pytest.mark.parametrize("raw", ["0", "-3", "soon"])
def test_bad_heartbeat_env_is_rejected(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNER_HEARTBEAT_SECONDS", raw)
    with pytest.raises(StorageError, match=r"TUNER_HEARTBEAT_SECONDS must be a positive integer"):
        storage.heartbeat_seconds()


def test_sqlite_storage_has_heartbeats_and_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNER_HEARTBEAT_SECONDS", "7")
    path = tmp_path / "sub" / "tuner.db"
    rdb = open_storage(f"sqlite:///{path}")
    assert rdb.get_heartbeat_interval() == 7
    assert open_storage(f"sqlite:///{path}", heartbeat=2).get_heartbeat_interval() == 2
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_dead_workers_trial_is_failed_and_requeued(storage_url: str) -> None:
    """A trial whose heartbeat stopped becomes FAIL after the grace period (2 x interval); its
    params come back as a WAITING trial, and the on_stale hook sees it (to close its MLflow run)."""
    seen: list[int] = []
    rdb = open_storage(storage_url, heartbeat=1, on_stale=lambda t: seen.append(t.number))
    study = optuna.create_study(storage=rdb, study_name="s")
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.set_user_attr("mlflow_run_id", "abc")
    with heartbeat(study, trial):
        time.sleep(0.2)
    fail_stale(study)
    assert study.trials[0].state == optuna.trial.TrialState.RUNNING  # still within grace
    time.sleep(3.2)
    fail_stale(study)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.WAITING]
    retry = study.trials[1]
    assert retry.params == study.trials[0].params
    assert retry.system_attrs["failed_trial"] == 0
    assert seen == [0]
    again = study.ask()
    assert again.number == 1 and again.params == study.trials[0].params


def test_losing_the_database_mid_run_is_one_line_without_password(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TUNER_STORAGE_RETRY_SECONDS", raising=False)
    url = "postgresql+psycopg://tuner:pw9@db:5432/tuner"
    lost = sqlalchemy.exc.OperationalError(
        "SELECT 1", {}, Exception("server closed the connection unexpectedly\n\tpw9 gone"))
    with pytest.raises(StorageError, match=r"^Lost the storage 'postgresql\+psycopg://tuner:\*\*\*"
                       r"@db:5432/tuner' \(after retrying for 60 s, "
                       r"\$TUNER_STORAGE_RETRY_SECONDS\): server closed the connection "
                       r"unexpectedly; \*\*\* gone\. Finished trials "
                       r"are saved and a running trial is retried \(from its checkpoint, if it has "
                       r"one\); run the same command again") as info:
        with storage_errors(url):
            raise optuna.exceptions.StorageInternalError("commit failed") from lost
    assert "\n" not in str(info.value)


def test_a_failing_heartbeat_is_a_warning_not_a_crash(
    storage_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    rdb = open_storage(storage_url, heartbeat=1)
    study = optuna.create_study(storage=rdb, study_name="s")
    trial = study.ask()

    def down(trial_id: int) -> None:
        raise sqlalchemy.exc.OperationalError("UPDATE", {}, Exception("connection refused"))

    monkeypatch.setattr(rdb, "record_heartbeat", down)
    with caplog.at_level("WARNING", logger="tuner"), heartbeat(study, trial):
        time.sleep(0.1)
    assert "heartbeat of trial 0 failed" in caplog.text
    assert "connection refused" in caplog.text


def test_a_failing_heartbeats_message_masks_the_password(
    storage_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver message that quotes the storage URL (as connection errors may) is logged with
    the password masked."""
    rdb = open_storage(storage_url, heartbeat=1)
    study = optuna.create_study(storage=rdb, study_name="s")
    trial = study.ask()
    url = "postgresql://tuner:s3cret@127.0.0.1:1/db"
    monkeypatch.setattr(rdb, "url", url)  # as if opened with it

    def down(trial_id: int) -> None:
        raise sqlalchemy.exc.OperationalError("UPDATE", {}, Exception(f"lost {url}"))

    monkeypatch.setattr(rdb, "record_heartbeat", down)
    with caplog.at_level("WARNING", logger="tuner"), heartbeat(study, trial):
        pass
    assert "heartbeat of trial 0 failed: lost postgresql://tuner:***@127.0.0.1:1/db" in \
        caplog.text
    assert "s3cret" not in caplog.text


def test_sqlite_commits_do_not_wait_for_fsync(storage_url: str) -> None:
    """WAL + synchronous=NORMAL on every pooled connection: per-epoch writes stay cheap."""
    store = storage.open_storage(storage_url)
    with store.engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sqlalchemy.text("PRAGMA synchronous")).scalar() == 1  # NORMAL


def test_chain_prefers_the_cause_and_ends_at_a_cycle() -> None:
    from tuner.errors import chain

    inner = sqlite3.OperationalError("database or disk is full")
    context = ValueError("context")
    try:
        try:
            raise context
        except ValueError:
            raise RuntimeError("autoflush") from inner
    except RuntimeError as exc:
        outer = exc
    assert list(chain(outer)) == [outer, inner]  # __cause__ over __context__
    inner.__context__ = outer  # a cycle
    assert list(chain(outer)) == [outer, inner]
    assert list(chain(context)) == [context]
