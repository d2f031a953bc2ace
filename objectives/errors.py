"""Errors raised by training code; the CLI turns each into one line on stderr and exit code 1."""

from __future__ import annotations


class ObjectiveError(Exception):
    """Base class of every error an objective or the data layer raises on purpose."""


class DataError(ObjectiveError):
    """A dataset is missing, malformed or unknown."""


class ConfigError(ObjectiveError):
    """A training parameter is unknown or has a bad value."""


class DivergenceError(ObjectiveError):
    """Training produced NaN/inf or an exploding loss at reporting point `step`."""

    def __init__(self, message: str, step: int = 0) -> None:
        super().__init__(message)
        self.step = step
