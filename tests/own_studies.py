"""Shared by the tests of the user's own objectives and data (tests/unit/cli/
test_bad_inputs_objectives.py, tests/unit/objectives/test_user_code.py): a study of a wine CSV
with one part made bad, user modules written beside it, and bad data files."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.datasets import load_wine

HEAD = 'objective = "{objective}"\ndataset = "{dataset}"\nmetric = "{metric}"\n{extra}\n'
STAGE = '[[stages]]\nname = "only"\nsampler = "random"\ntrials = 3\n[stages.space]\n{space}\n'
C_SPACE = "C = { low = 0.01, high = 1.0, log = true }"
LOGREG = "sklearn.linear_model:LogisticRegression"


def study(t: Path, *, objective: str = LOGREG, dataset: str = "wine.csv", extra: str = "",
          space: str = C_SPACE, metric: str = "val_accuracy") -> str:
    """A study of the user's wine data in `t`, with one part made bad."""
    if not (t / "wine.csv").exists():
        wine_csv(t / "wine.csv")
    path = t / "bad.toml"
    path.write_text(HEAD.format(objective=objective, dataset=dataset, metric=metric, extra=extra)
                    + STAGE.format(space=space))
    return str(path)


def wine_csv(path: Path, sep: str = ",", blank_row: int | None = None, target: str = "y",
             edit: Callable[[list[str]], list[str]] = lambda lines: lines) -> Path:
    data = load_wine()
    head = [n.replace("/", "_") for n in data.feature_names] + [target]
    lines = [sep.join(head)]
    for i, (x, y) in enumerate(zip(data.data, data.target, strict=True)):
        lines.append(sep.join([*map(str, x), "" if i == blank_row else str(y)]))
    path.write_text("\n".join(edit(lines)) + "\n")
    return path


def module(t: Path, name: str, text: str) -> None:
    """A user module `name`.py beside the study (each case its own name: modules are cached)."""
    (t / f"{name}.py").write_text(text)


def with_module(name: str, text: str, **kw: str) -> Callable[[Path], str]:
    def build(t: Path) -> str:
        module(t, name, text)
        return study(t, **kw)
    return build


def with_file(name: str, write: Callable[[Path], object], **kw: str) -> Callable[[Path], str]:
    def build(t: Path) -> str:
        write(t / name)
        return study(t, dataset=name, **kw)
    return build


def npz(**arrays: np.ndarray) -> Callable[[Path], object]:
    return lambda p: np.savez(p, **arrays)


def truncated_npz(path: Path) -> None:
    np.savez(path, X=np.ones((50, 2)), y=np.arange(50) % 2)
    path.write_bytes(path.read_bytes()[:300])


def corrupt_npz(path: Path) -> None:
    """A zip whose member's bytes were changed after writing (a bad CRC)."""
    np.savez(path, X=np.ones((50, 2)), y=np.arange(50) % 2)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("X.npy")
    at = info.header_offset + 30 + len(info.filename) + 200
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))


def single_class(path: Path) -> None:
    path.write_text("a,b,y\n" + "".join(f"{i},{i % 7},1\n" for i in range(40)))


def set_cell(number: int, column: int, value: str) -> Callable[[list[str]], list[str]]:
    """An edit of the CSV's lines: the cell at line `number`, `column` becomes `value`."""
    def edit(lines: list[str]) -> list[str]:
        cells = lines[number - 1].split(",")
        cells[column] = value
        lines[number - 1] = ",".join(cells)
        return lines
    return edit


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
