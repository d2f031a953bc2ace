"""The tuner's error family. The API raises these (never SystemExit); the CLI turns each into one
line on stderr and exit code 1.

Errors raised by the training code (objectives.errors) reach API callers as the matching class
here, which subclasses both, so `except tuner.DataError` and `except objectives.errors.DataError`
both catch a missing dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import wraps
from typing import ParamSpec, TypeVar

from objectives import errors as objective_errors


def chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then each exception it was raised from (its __cause__, else __context__), each
    once: the last is the innermost (e.g. sqlite3's "database or disk is full" under MLflow's
    "raised as a result of Query-invoked autoflush")."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


class TunerError(Exception):
    """Base class of every error the tuner raises on purpose."""


class SpecError(TunerError):
    """A study file, an API argument or a command-line option is invalid."""


class StorageError(TunerError):
    """The study storage cannot be reached or used."""


class TrackingError(TunerError):
    """The MLflow tracking store cannot be reached at study start."""


class DataError(TunerError, objective_errors.DataError):
    """A dataset is missing, malformed or unknown."""


class ConfigError(SpecError, objective_errors.ConfigError):
    """A training parameter is unknown or has a bad value."""


class DivergenceError(TunerError, objective_errors.DivergenceError):
    """A single training run (`tuner.train`, the final) diverged."""


def translated(exc: objective_errors.ObjectiveError) -> TunerError:
    """The tuner error for an error of the training code, with the same message."""
    if isinstance(exc, objective_errors.DataError):
        return DataError(str(exc))
    if isinstance(exc, objective_errors.DivergenceError):
        return DivergenceError(str(exc), step=exc.step)
    return ConfigError(str(exc))


P = ParamSpec("P")
R = TypeVar("R")


def tuner_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Let `func` raise only tuner errors: an objectives error becomes its tuner twin."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except objective_errors.ObjectiveError as exc:
            if isinstance(exc, TunerError):
                raise
            raise translated(exc) from None

    return wrapper
