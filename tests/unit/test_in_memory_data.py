"""Data held in a notebook: tuner.train takes (X, y), (X_train, y_train, X_test, y_test), a
mapping and a DataFrame with its target column; bad containers are one TunerError line;
run_study refuses data it could not store with the study, before writing anything."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_wine

import tuner

LOGREG = "sklearn.linear_model:LogisticRegression"


def test_arrays_and_a_mapping_train_like_a_file(tmp_path: Path) -> None:
    X, y = load_wine(return_X_y=True)
    pair = tuner.train(LOGREG, dataset=(X, y), overrides={"max_iter": 2000})
    np.savez(tmp_path / "wine.npz", X=X, y=y)
    file = tuner.train(LOGREG, dataset=str(tmp_path / "wine.npz"),
                       overrides={"max_iter": 2000})
    assert pair.dataset == "the data given"
    assert pair.metrics["val_accuracy"] == file.metrics["val_accuracy"] > 0.85  # same split
    given_test = tuner.train(LOGREG, dataset={"X_train": X[:150], "y_train": y[:150],
                                              "X_test": X[150:], "y_test": y[150:]},
                             overrides={"max_iter": 2000})
    assert given_test.metrics["val_accuracy"] > 0.8


def test_a_dataframe_with_its_target_column() -> None:
    frame = load_diabetes(as_frame=True).frame  # target is the last column
    first = frame[["target", *frame.columns[:-1]]]
    by_name = tuner.train("sklearn.linear_model:Ridge", dataset=first, target="target")
    last = tuner.train("sklearn.linear_model:Ridge", dataset=frame)  # default: the last
    assert by_name.metrics["val_r2"] == pytest.approx(last.metrics["val_r2"])
    assert by_name.metrics["val_r2"] > 0.3  # the target, not a feature, was predicted


@pytest.mark.parametrize(("dataset", "target", "error", "message"), [
    (42, None, tuner.DataError, "The dataset given is of type int; expected a name"),
    ((np.zeros((5, 2)), np.zeros(4)), None, tuner.DataError,
     "The data given: 5 rows of features but 4 targets."),
    ({"X": np.zeros((5, 2))}, None, tuner.DataError, "The dict given holds X; expected X and y"),
    ((np.zeros((5, 2)), np.zeros(5)), "y", tuner.ConfigError,
     "'target' names a column of a CSV file or DataFrame; the data given is a tuple."),
    (load_wine(as_frame=True).frame, "nope", tuner.DataError,
     "The DataFrame given has no column 'nope' (the target); its columns: alcohol,"),
])
def test_bad_containers_are_one_line(dataset: object, target: str | None,
                                     error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        tuner.train("sklearn.linear_model:Ridge", dataset=dataset, target=target)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_run_study_refuses_data_it_cannot_store(tmp_path: Path) -> None:
    X, y = load_wine(return_X_y=True)
    with pytest.raises(tuner.SpecError, match="got a tuple. Write it to a .npz"):
        tuner.run_study("lambda_search", dataset=(X, y),
                        storage=f"sqlite:///{tmp_path / 'tuner.db'}", tracking=False)
    assert not (tmp_path / "tuner.db").exists()
