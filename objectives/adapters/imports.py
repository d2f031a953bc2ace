"""The user's own code, named "module:attr": imported from a given folder first (the study
file's own, so my_project/model.py beside my_project/study.toml works with no install), then
from the installed packages. A sys.exit() in the user's code (on import, in a loader, in a fit)
is an error like any other, never the end of the tuner."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from objectives.errors import ConfigError, ObjectiveError


class UserExit(ObjectiveError):
    """The user's code called sys.exit() (raised SystemExit)."""


def describe(exc: BaseException) -> str:
    """One line naming an exception from the user's code: 'ValueError: bad value', or
    'it called sys.exit(0)'."""
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def refused_call(fn: Any, count: int) -> str | None:
    """The signature of `fn` when it cannot be called with `count` positional arguments, else
    None (also when Python cannot tell its signature, e.g. some C functions)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(*range(count))
    except TypeError:
        return str(signature)
    return None


@contextmanager
def user_code(name: str) -> Iterator[None]:
    """Calls into the user's code `name`: a SystemExit becomes UserExit, an error like any
    other (a failed trial, a one-line refusal), instead of ending the tuner."""
    try:
        yield
    except SystemExit as exc:
        raise UserExit(f"{name}: {describe(exc)}") from exc


def is_ref(text: str) -> bool:
    """True for "module:attr" (a Windows drive letter or a URL is not one)."""
    module, sep, attr = text.partition(":")
    return bool(sep and module and attr and "/" not in text and "\\" not in text)


def import_attr(ref: str, folder: Path | None = None) -> Any:
    """The object `attr` of `module` for ref "module:attr"; ConfigError (one line) when the
    module cannot be imported or has no such attribute."""
    module_name, _, attr = ref.partition(":")
    if folder is not None:
        root = str(Path(folder).resolve())
        top = module_name.split(".")[0]
        local = Path(root, f"{top}.py").is_file() or Path(root, top, "__init__.py").is_file()
        if local and root not in sys.path:
            sys.path.insert(0, root)
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's module, on import
        raise ConfigError(f"cannot import module '{module_name}' ({describe(exc)})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"module '{module_name}' has no attribute '{attr}'") from None
