"""Storage URLs: the default, resolution from options and environment, parsing, driver checks,
and masking of passwords in anything that is shown or logged."""

from __future__ import annotations

import os
import re

import sqlalchemy
from sqlalchemy.engine import URL, make_url

from tuner.errors import StorageError

DEFAULT_STORAGE = "sqlite:///tuner.db"
EXAMPLE = "sqlite:///tuner.db or postgresql+psycopg://USER:PASSWORD@HOST:5432/DB"


def resolve_url(url: str | None) -> str:
    """--storage, else $TUNER_STORAGE, else the local SQLite file tuner.db."""
    return url or os.environ.get("TUNER_STORAGE") or DEFAULT_STORAGE


def mask(url: str) -> str:
    """The URL with any password (user:PASSWORD@ or ?password=) replaced by ***, safe to log."""
    masked = re.sub(r"(://[^:/@?#]*):.*@", r"\1:***@", url)  # up to the last @: safest
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", masked)


def scrub(text: str, url: str) -> str:
    """`text` with the URL and its raw password replaced by their masked forms."""
    text = text.replace(url, mask(url))
    try:
        password = make_url(url).password
    except (sqlalchemy.exc.ArgumentError, ValueError):
        password = None
    if password:
        text = text.replace(str(password), "***")
    return text


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL of a storage, or StorageError naming the expected form."""
    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        raise StorageError(
            f"Malformed storage URL '{mask(url)}'; expected e.g. {EXAMPLE}."
        ) from None
    if parsed.get_backend_name() == "sqlite" and not parsed.database:
        raise StorageError(
            f"Storage URL '{mask(url)}' names no SQLite file; expected e.g. sqlite:///tuner.db."
        )
    return parsed


def check_driver(parsed: URL, url: str) -> None:
    """Raise StorageError when the URL's dialect or its DBAPI module cannot be loaded."""
    try:
        dialect = parsed.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:
        raise StorageError(
            f"Unknown database driver '{parsed.drivername}' in storage URL '{mask(url)}'; "
            f"expected e.g. {EXAMPLE}."
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError:
        hint = " (psycopg 3 is installed: use postgresql+psycopg://)" if (
            parsed.get_backend_name() == "postgresql") else ""
        raise StorageError(
            f"The Python driver for '{parsed.drivername}' is not installed{hint}; "
            f"storage URL '{mask(url)}'."
        ) from None


def reason(exc: BaseException, url: str) -> str:
    """The driver's own message (not SQLAlchemy's wrapper) on one line, with secrets masked."""
    orig = getattr(exc, "orig", None) or exc
    lines = [" ".join(line.split()).rstrip(".?") for line in str(orig).splitlines()]
    return scrub("; ".join(line for line in lines if line), url)
