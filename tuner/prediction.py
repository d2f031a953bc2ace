"""`tuner.predict`: a study's tuned model (its latest registered version, or any model URI) on
the user's rows (an array, a DataFrame, a list of rows) or files, as a table, written as a CSV
where asked."""

from __future__ import annotations

import os
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from objectives.threads import limited
from tuner.errors import DataError, tuner_errors
from tuner.inputs import read_rows
from tuner.tracking import resolve_uri
from tuner.tracking.model_load import default_uri, load_model


@dataclass(frozen=True)
class Predictions:
    """What `predict` gave: the table (index, source, class, label, p_<class> ...; value for
    regression), which model made it, how the input was read, and the file written (if any)."""

    table: pd.DataFrame
    model_uri: str
    output: Path | None
    input: str = ""  # how the input was read: "raw.csv (header row: pandas' column numbers)"

    def summary(self) -> str:
        """One line: rows, how the input was read, model, the most frequent classes, the
        output file."""
        named = "label" if "label" in self.table else "class"  # the names it was trained with
        counts = Counter(self.table[named].tolist()) if named in self.table else Counter()
        top = ", ".join(f"{k}: {n}" for k, n in counts.most_common(5))
        where = f" -> {self.output}" if self.output else ""
        of = f" of {self.input}" if self.input else ""
        return (f"predicted {len(self.table)} rows{of} with {self.model_uri}"
                + (f" (most frequent classes {top})" if top else "") + where)


@tuner_errors
def predict(study: str, input: Any, *, output: str | Path | None = None,
            header: bool | None = None, model_uri: str | None = None,
            tracking_uri: str | None = None) -> Predictions:
    """Predict with `study`'s latest registered model (or `model_uri`) on `input`: a NumPy
    array (any real dtype; rows, or images (n, C, H, W) / (n, H, W)), a pandas DataFrame (the
    user's tables: columns by name, in any order), a list of rows, or a path: a .npy, .npz or
    .csv of raw rows or a folder of PNG / JPEG images. `header` (CSV only): True / False say
    whether the first line names the columns; None decides (inputs.csv_header). Writes the
    table to `output` as a CSV unless it is None. One prediction per input row, always."""
    target = Path(output) if output is not None else None
    if target is not None:
        check_output(target)
    uri = model_uri or default_uri(study)
    model = load_model(uri, resolve_uri(tracking_uri))
    rows = read_rows(input, model.shape, header)
    with limited(0):  # a fair share of the cores beside any training on this machine
        table = model.predict(rows.values)
    if len(table) != len(rows.values) or len(rows.sources) != len(rows.values):
        raise DataError(f"{uri} gave {len(table)} predictions for {len(rows.values)} rows; "
                        f"nothing was written.")
    table.insert(0, "source", rows.sources)
    table.index.name = "index"
    if target is not None:
        write_csv(table, target)
    return Predictions(table, uri, target, rows.how)


def check_output(target: Path) -> None:
    """DataError (one line) when `target` cannot be a CSV file: a folder, or below a file."""
    if target.is_dir():
        raise DataError(f"Output {target} is a folder; expected the path of a CSV file to "
                        f"write.")
    blocked = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise DataError(f"Output {target} cannot be written: {blocked} is a file, not a "
                        f"folder; expected the path of a CSV file to write.")


def write_csv(table: pd.DataFrame, target: Path) -> None:
    """The table as a CSV at `target`, whole or not at all (a temporary file renamed into
    place); DataError (one line) when it cannot be written."""
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise DataError(f"Cannot write predictions to {target} ({exc.strerror or exc}); "
                        f"nothing was written.") from None
