"""Throwaway PostgreSQL databases for tests, on the server of $TUNER_TEST_POSTGRES_URL (started
by .ci/run: `source .ci/postgres.sh && start_postgres`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("TUNER_TEST_POSTGRES_URL")
SKIP_REASON = "TUNER_TEST_POSTGRES_URL is not set (source .ci/postgres.sh && start_postgres)"


def admin(sql: str) -> None:
    import psycopg

    assert ADMIN_URL is not None
    url = make_url(ADMIN_URL)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                         dbname=url.database, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new, empty database owned by the test role; dropped afterwards."""
    assert ADMIN_URL is not None
    name = f"tuner_test_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
