"""Study storage: URLs (urls.py), opening it (open.py), SQLite files shared by processes
(sqlite.py), heartbeats (heartbeat.py), riding out database restarts (retry.py) and one-line
errors (errors.py). Passwords never appear in anything shown."""

from tuner.storage.errors import from_storage, storage_errors
from tuner.storage.heartbeat import beating_by_hand, fail_stale, heartbeat, heartbeat_seconds
from tuner.storage.open import open_existing, open_storage, require_existing
from tuner.storage.retry import RetryingRDBStorage, retry_seconds
from tuner.storage.sqlite import sqlite_file
from tuner.storage.urls import DEFAULT_STORAGE, mask, parse_url, resolve_url, scrub

__all__ = ["DEFAULT_STORAGE", "RetryingRDBStorage", "beating_by_hand", "fail_stale",
           "from_storage", "heartbeat",
           "heartbeat_seconds", "mask", "open_existing", "open_storage", "parse_url", "resolve_url",
           "require_existing", "retry_seconds", "scrub", "sqlite_file", "storage_errors"]
