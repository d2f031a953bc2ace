"""The one line `tuner predict` prints: counts by the class names the model was trained with."""

from __future__ import annotations

import pandas as pd

from tuner.prediction import Predictions


def test_the_summary_counts_classes_by_name() -> None:
    table = pd.DataFrame({"source": ["r0", "r1", "r2"], "class": [2, 0, 2],
                          "label": ["class_2", "class_0", "class_2"]})
    line = Predictions(table, "models:/wine/1", None, "wine.csv").summary()
    assert line == ("predicted 3 rows of wine.csv with models:/wine/1 (most frequent classes "
                    "class_2: 2, class_0: 1)")
    ids = Predictions(table.drop(columns="label"), "models:/wine/1", None).summary()
    assert "(most frequent classes 2: 2, 0: 1)" in ids  # a model without names: the ids
    values = Predictions(pd.DataFrame({"value": [1.5]}), "m", None).summary()
    assert values == "predicted 1 rows with m"
