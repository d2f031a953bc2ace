"""`tuner.predict`: a study's tuned model (its latest registered version, or any model URI) on
the user's rows, images or files, written as a CSV table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tuner.errors import tuner_errors
from tuner.inputs import read_rows
from tuner.tracking import resolve_uri
from tuner.tracking.model_load import default_uri, load_model


@dataclass(frozen=True)
class Predictions:
    """What `predict` wrote: the table (index, source, class, p_<class> ...), where, and which
    model made it."""

    table: pd.DataFrame
    model_uri: str
    output: Path | None

    def summary(self) -> str:
        """One line: rows, model, the most frequent classes, the output file."""
        counts = Counter(self.table["class"].tolist()) if "class" in self.table else Counter()
        top = ", ".join(f"{k}: {n}" for k, n in counts.most_common(5))
        where = f" -> {self.output}" if self.output else ""
        return (f"predicted {len(self.table)} rows with {self.model_uri}"
                + (f" (most frequent classes {top})" if top else "") + where)


@tuner_errors
def predict(study: str, input: str | Path, *, output: str | Path | None = None,
            model_uri: str | None = None, tracking_uri: str | None = None) -> Predictions:
    """Predict with `study`'s latest registered model (or `model_uri`) on `input`: a .npy,
    .npz or .csv of raw rows, or a folder of PNG / JPEG images; write a CSV to `output`."""
    uri = model_uri or default_uri(study)
    model = load_model(uri, resolve_uri(tracking_uri))
    rows, sources = read_rows(Path(input), model.shape)
    table = model.predict(rows)
    table.insert(0, "source", sources)
    table.index.name = "index"
    target = Path(output) if output is not None else None
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(target)
    return Predictions(table, uri, target)
