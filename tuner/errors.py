"""The tuner's error family; the CLI turns each into one line on stderr and exit code 1."""

from __future__ import annotations


class TunerError(Exception):
    """Base class of every error the tuner raises on purpose."""


class SpecError(TunerError):
    """A study file or a command-line override is invalid."""


class StorageError(TunerError):
    """The study storage cannot be reached or used."""


class TrackingError(TunerError):
    """The MLflow tracking store cannot be reached at study start."""
