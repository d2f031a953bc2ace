"""What the tuned model and `tuner.predict` take: arrays of any real dtype, DataFrames (columns by
name), lists and files; CSV headers as pandas writes them, the model's own columns in any order,
its target dropped; one prediction per row; NaN, text and other columns refused in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from tuned_models import own_predictions, pyfunc, wine_features

import tuner
from objectives.errors import DataError as ModelDataError
from objectives.rows import InputShape
from tuner.cli import main
from tuner.inputs import read_rows

DIGITS = InputShape(64, (1, 8, 8), 16.0)
TABLE = InputShape(3, None, None, ("alcohol", "ash", "hue"), "cultivar")
DTYPES = ["uint8", "int8", "int16", "int32", "int64", "uint64", "float16", "float32", "float64",
          "bool"]
NUMBERS = ",".join(str(i) for i in range(64))


def _file(folder: Path, text: str, name: str = "rows.csv") -> Path:
    (folder / name).write_text(text)
    return folder / name


def _data(rows: int = 2, start: int = 1) -> str:
    return "".join(",".join([str(start + r)] * 64) + "\n" for r in range(rows))


@pytest.mark.parametrize("first, header, rows, how", [
    (NUMBERS, None, 2, "header row: pandas' column numbers"),  # pd.DataFrame(X).to_csv
    ("," + NUMBERS, None, 2, "header row: pandas' column numbers; dropped pandas' index "
                             "column"),  # to_csv with its index
    (",".join(f"pixel_{i}" for i in range(64)), None, 2, "header row: names, taken by position"),
    (",".join(["5"] * 64), None, 3, "no header row"),
    (NUMBERS, False, 3, "no header row"),
    (",".join(["5"] * 64), True, 2, "header row: names, taken by position"),
])
def test_csv_header_rules(tmp_path: Path, first: str, header: bool | None, rows: int,
                          how: str) -> None:
    index = first.startswith(",")
    body = "".join(f"{r}," * index + ",".join([str(r + 1)] * 64) + "\n" for r in range(2))
    read = read_rows(_file(tmp_path, first + "\n" + body), DIGITS, header)
    assert read.values.shape == (rows, 64) and read.how == f"rows.csv ({how})"
    assert read.values[-1, 0] == 2 and read.values[-1, -1] == 2  # never shifted by a column
    if rows == 3:
        assert read.values[0].tolist() == [float(c) for c in first.split(",")]


def test_named_csv_columns_are_reordered_and_the_target_dropped(tmp_path: Path) -> None:
    read = read_rows(_file(tmp_path, "cultivar,hue,alcohol,ash\n2,0.5,13,2.4\n"), TABLE)
    assert read.values.tolist() == [[13.0, 2.4, 0.5]]
    assert read.how == ("rows.csv (header row: the model's columns, reordered; dropped the "
                        "target column 'cultivar')")
    assert read_rows(_file(tmp_path, "alcohol,ash,hue\n13,2.4,0.5\n"), TABLE).values.tolist() \
        == [[13.0, 2.4, 0.5]]


@pytest.mark.parametrize("text, header, message", [
    ("alcohol,ash,proline\n1,2,3\n", None,
     r"names columns other than the model's \(missing 'hue'; unexpected 'proline'\); the "
     r"model takes alcohol, ash, hue\."),
    ("1,2,3,4\n", None, r"data row 1: 4 values; the model takes 3 per row \(without its target "
                        r"'cultivar'"),
    ("alcohol,ash,hue\n1,nan,3\n", None, r"data row 1, column 2: 'nan' is not a finite number"),
    ("alcohol,ash,hue\n1,2,3\n", False, r"data row 1, column 1: 'alcohol' is not a number"),
    ("alcohol,ash,hue\n", None, r"holds a header row and no rows of numbers"),
])
def test_bad_csv_is_one_error(tmp_path: Path, text: str, header: bool | None,
                              message: str) -> None:
    with pytest.raises(ModelDataError, match=message):  # tuner.predict: as tuner.DataError
        read_rows(_file(tmp_path, text), TABLE, header)


def test_a_header_flag_is_for_csv_only(tmp_path: Path) -> None:
    np.save(tmp_path / "rows.npy", np.ones((2, 3)))
    with pytest.raises(ModelDataError, match=r"A header applies to CSV input only"):
        read_rows(tmp_path / "rows.npy", TABLE, header=True)


@pytest.mark.parametrize("index", [False, True])
def test_a_csv_pandas_wrote_gives_one_prediction_per_row(digits_final: dict[str, Any],
                                                          tmp_path: Path, index: bool) -> None:
    X = load_digits().data
    pd.DataFrame(X).to_csv(tmp_path / "raw.csv", index=index)  # header 0..63 ("", 0..63)
    out = tuner.predict("lambda_search", tmp_path / "raw.csv",
                        tracking_uri=digits_final["tracking"])
    assert len(out.table) == 1797 and out.output is None
    np.testing.assert_array_equal(out.table["class"], own_predictions(digits_final, X))
    assert out.summary().startswith(
        "predicted 1797 rows of raw.csv (header row: pandas' column numbers"
        + ("; dropped pandas' index column)" if index else ")"))
    assert not (tmp_path / "predictions.csv").exists()


def test_header_flags_on_the_command_line(digits_final: dict[str, Any], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    X = load_digits().data[:20]
    pd.DataFrame(X).to_csv(tmp_path / "raw.csv", index=False)
    common = ["--tracking-uri", digits_final["tracking"], "--output", str(tmp_path / "o.csv")]
    assert main(["predict", "lambda_search", "--input", str(tmp_path / "raw.csv"),
                 "--no-header", *common]) == 0
    assert "predicted 21 rows of raw.csv (no header row)" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "o.csv")
    np.testing.assert_array_equal(table["class"][1:], own_predictions(digits_final, X))
    np.savetxt(tmp_path / "bare.csv", X, delimiter=",")
    assert main(["predict", "lambda_search", "--input", str(tmp_path / "bare.csv"),
                 "--header", *common]) == 0
    assert "predicted 19 rows of bare.csv (header row: names" in capsys.readouterr().out
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "o.csv")["class"],
                                  own_predictions(digits_final, X[1:]))


def _as(X: np.ndarray, dtype: str) -> np.ndarray:
    return X > 8 if dtype == "bool" else X.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_real_dtype_through_pyfunc_and_tuner_predict(digits_final: dict[str, Any],
                                                           tmp_path: Path, dtype: str) -> None:
    X = load_digits().data[:200]  # integers 0..16: the same values in every dtype
    expected = own_predictions(digits_final, _as(X, dtype).astype(np.float64))
    model = pyfunc(digits_final["tracking"], "models:/lambda_search/latest")
    np.testing.assert_array_equal(model.predict(_as(X, dtype)), expected)
    np.testing.assert_array_equal(model.predict(pd.DataFrame(_as(X, dtype))), expected)
    np.save(tmp_path / "rows.npy", _as(X, dtype))
    np.savez(tmp_path / "rows.npz", X=_as(X, dtype))
    for given in (_as(X, dtype), tmp_path / "rows.npy", tmp_path / "rows.npz"):
        out = tuner.predict("lambda_search", given, tracking_uri=digits_final["tracking"])
        np.testing.assert_array_equal(out.table["class"], expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_real_dtype_through_the_sklearn_flavour(wine_final: dict[str, Any],
                                                      dtype: str) -> None:
    X = _as(wine_features(wine_final).to_numpy(), dtype)
    model = pyfunc(wine_final["tracking"], "models:/wine_study/latest")
    assert "sklearn" in model.metadata.flavors and model.metadata.get_input_schema() is None
    expected = model.predict(X.astype(np.float64))
    np.testing.assert_array_equal(model.predict(X), expected)
    out = tuner.predict("wine_study", X, tracking_uri=wine_final["tracking"])
    np.testing.assert_array_equal(out.table["class"], expected)


def test_tuner_predict_takes_arrays_frames_lists_images_and_paths(
        digits_final: dict[str, Any], tmp_path: Path) -> None:
    X = load_digits().data[:50]
    expected = own_predictions(digits_final, X)
    np.save(tmp_path / "rows.npy", X)
    for given, how in [(X, "a float64 array"), (pd.DataFrame(X), "a DataFrame (pandas' "
                       "column numbers)"), (X.tolist(), "a list of rows"),
                       (X.reshape(50, 8, 8).astype(np.uint8), "a uint8 array"),
                       (str(tmp_path / "rows.npy"), "rows.npy (float64 array)")]:
        out = tuner.predict("lambda_search", given, tracking_uri=digits_final["tracking"])
        np.testing.assert_array_equal(out.table["class"], expected)
        assert out.summary().startswith(f"predicted 50 rows of {how} with ")
        assert out.table["source"].tolist() == [str(i) for i in range(50)]
    model = pyfunc(digits_final["tracking"], "models:/lambda_search/latest")
    np.testing.assert_array_equal(model.predict(load_digits().images[:50]), expected)
    np.testing.assert_array_equal(model.predict(X.tolist()), expected)
    written = tuner.predict("lambda_search", X, output=tmp_path / "out.csv",
                            tracking_uri=digits_final["tracking"])
    assert written.output == tmp_path / "out.csv" and len(pd.read_csv(written.output)) == 50


def test_named_columns_in_any_order_and_the_target_column(wine_final: dict[str, Any],
                                                          tmp_path: Path) -> None:
    table = wine_final["table"]
    model = pyfunc(wine_final["tracking"], "models:/wine_study/latest")
    expected = model.predict(wine_features(wine_final).to_numpy())
    shuffled = table[table.columns[::-1]]  # cultivar first, then the features reversed
    np.testing.assert_array_equal(model.predict(shuffled), expected)
    table.iloc[:, ::-1].to_csv(tmp_path / "wine_again.csv", index=False)
    for given in (shuffled, tmp_path / "wine_again.csv"):
        out = tuner.predict("wine_study", given, tracking_uri=wine_final["tracking"])
        assert len(out.table) == 178
        np.testing.assert_array_equal(out.table["class"], expected)
        assert "the model's columns, reordered; dropped the target column 'cultivar'" \
            in out.summary()
    renamed = wine_features(wine_final).rename(columns={"proline": "prolin"})
    with pytest.raises(tuner.DataError, match=r"missing 'proline'; unexpected 'prolin'"):
        tuner.predict("wine_study", renamed, tracking_uri=wine_final["tracking"])


def test_nan_text_and_wrong_shapes_are_refused(digits_final: dict[str, Any],
                                               wine_final: dict[str, Any]) -> None:
    from mlflow.exceptions import MlflowException

    X = load_digits().data[:3].copy()
    X[1, 5] = np.nan
    model = pyfunc(digits_final["tracking"], "models:/lambda_search/latest")
    with pytest.raises(MlflowException, match=r"NaN or infinite values \(first at row 2, "
                                              r"column 6\)"):
        model.predict(X)  # not a silent class 0
    with pytest.raises(MlflowException, match=r"holds text values; the model takes numbers"):
        model.predict(np.full((2, 64), "1"))
    with pytest.raises(MlflowException, match=r"shape \(2, 8, 8, 1\); .* or images of shape "
                                              r"\(n, 1, 8, 8\) or \(n, 8, 8\)"):
        model.predict(np.zeros((2, 8, 8, 1)))
    with pytest.raises(tuner.DataError, match=r"NaN or infinite values"):
        tuner.predict("lambda_search", np.where(np.isnan(X), np.inf, X),
                      tracking_uri=digits_final["tracking"])
    wine = pyfunc(wine_final["tracking"], "models:/wine_study/latest")
    features = wine_features(wine_final)
    holed = features.copy()
    holed.iloc[3, 2] = np.nan
    with pytest.raises(ModelDataError, match=r"NaN or infinite values \(first at row 4, "):
        wine.predict(holed)  # the sklearn flavour: the Pipeline's first step checks
    with pytest.raises(tuner.DataError, match=r"column 'hue' holds \w+ values; the model "
                                              r"takes numbers"):
        tuner.predict("wine_study", features.astype({"hue": str}),
                      tracking_uri=wine_final["tracking"])
