"""Bad arguments a careless user types, command by command: bad URIs and addresses, missing,
unreadable or wrong-kind paths, out-of-range numbers, empty and wrong-type files, unwritable
outputs. Each is one line on stderr and exit code 1, with no trial and no MLflow run written;
`predict` also writes no output file."""

from __future__ import annotations

import re
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bad_studies import nothing_written, stored_args, study
from ports import free_port

from tuner.cli import main


def _file(path: Path, content: bytes | str = "not a folder") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int, height: int) -> bytes:
    """A PNG of a few bytes whose header promises width x height grey pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b""))


def _images(t: Path, name: str, content: bytes) -> str:
    _file(t / "images" / name, content)
    return str(t / "images")


def _npy(t: Path, array: np.ndarray) -> str:
    np.save(t / "rows.npy", array)
    return str(t / "rows.npy")


RESUMABLE = """objective = "softmax"
dataset = "digits"
[fixed]
epochs = 1
[[stages]]
name = "coarse"
sampler = "random"
trials = 2
[stages.space]
lambda = { low = 1e-5, high = 1e-1, log = true }
"""


def resumable(t: Path) -> str:
    """A study of a resumable objective (one that checkpoints its trials)."""
    return str(_file(t / "resumable.toml", RESUMABLE))


def _with(row: int, column: int, value: float) -> np.ndarray:
    rows = np.ones((3, 64))
    rows[row, column] = value
    return rows


# (name, argv builder, the one error line); commands that need no tuned model
COMMAND_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("study --cluster not a url", lambda t: ["study", study(t), "--cluster", "not a url"],
     r"error: --cluster 'not a url' is not a Dask scheduler address; expected "
     r"tcp://HOST:PORT, e.g\. tcp://scheduler:8786\.$"),
    ("study --cluster port past 65535", lambda t: ["study", study(t), "--cluster",
                                                   "tcp://scheduler:99999"],
     r"error: --cluster 'tcp://scheduler:99999' is not a Dask scheduler address"),
    ("study --cluster unknown scheme", lambda t: ["study", study(t), "--cluster",
                                                  "http://scheduler:8786"],
     r"error: --cluster 'http://scheduler:8786' is not a Dask scheduler address"),
    ("study --tracking-uri foo://x", lambda t: ["study", study(t), "--tracking-uri", "foo://x"],
     r"error: --tracking-uri foo://x: MLflow has no tracking store for scheme 'foo'; expected "
     r"sqlite:///PATH, http\(s\)://HOST:PORT, postgresql://\.\.\., or a folder\.$"),
    ("gradcheck --seed -1", lambda t: ["gradcheck", "softmax", "--seed", "-1"],
     r"error: --seed must be an int in \[0, 4294967295\]\. Got -1 instead\.$"),
    ("gradcheck --seed 2**32", lambda t: ["gradcheck", "two_layer", "--seed", "4294967296"],
     r"error: --seed must be an int in \[0, 4294967295\]\. Got 4294967296 instead\.$"),
    ("gradcheck unknown objective", lambda t: ["gradcheck", "lenet"],
     r"error: Unknown objective 'lenet' for gradcheck; valid: softmax, two_layer\.$"),
    ("ui --tracking-uri foo://x", lambda t: ["ui", "--tracking-uri", "foo://x"],
     r"error: --tracking-uri foo://x: MLflow has no tracking store for scheme 'foo'; expected "),
    ("ui --tracking-uri not a database", lambda t: [
        "ui", "--port", str(free_port()), "--tracking-uri",
        f"sqlite:///{_file(t / 'notes.db', 'plain text, not SQLite' * 50)}"],
     r"error: --tracking-uri sqlite:///.*notes\.db cannot be opened \(file is not a "
     r"database\); expected an MLflow SQLite database\.$"),
    ("ui --tracking-uri below a file", lambda t: [
        "ui", "--port", str(free_port()), "--tracking-uri",
        f"sqlite:///{_file(t / 'a-file')}/mlflow.db"],
     r"error: No MLflow store file .*a-file/mlflow\.db \(tracking URI 'sqlite:///.*'\); "
     r"expected an existing store"),
    ("ui --host not an address", lambda t: ["ui", "--host", "999.1.1.1", "--port",
                                            str(free_port())],
     r"error: --host 999\.1\.1\.1 is not a host name or address this machine knows\.$"),
    ("ui --port 0", lambda t: ["ui", "--port", "0"],
     r"error: --port must be in \[1, 65535\]\. Got 0 instead\.$"),
    ("study --checkpoint-dir a file", lambda t: ["study", resumable(t), "--checkpoint-dir",
                                                 str(_file(t / "a-file"))],
     r"error: The checkpoint folder .*a-file \(--checkpoint-dir, \$TUNER_CHECKPOINT_DIR\) is a "
     r"file; expected a folder"),
    ("study --data-dir a file", lambda t: ["study", study(t), "--data-dir",
                                           str(_file(t / "a-file"))],
     r"error: --data-dir .*a-file is a file; expected the folder that holds the datasets\.$"),
    ("run --data-dir a file", lambda t: ["run", "softmax", "--dataset", "digits",
                                         "--data-dir", str(_file(t / "a-file"))],
     r"error: --data-dir .*a-file is a file; expected the folder that holds the datasets\.$"),
    ("final --data-dir a file", lambda t: ["final", study(t), "--data-dir",
                                           str(_file(t / "a-file"))],
     r"error: --data-dir .*a-file is a file"),
    ("run --dataset a missing CSV", lambda t: ["run", "softmax", "--dataset",
                                               str(t / "nowhere.csv")],
     r"error: Dataset file .*nowhere\.csv does not exist"),
    ("show on a missing storage file", lambda t: ["show", "bad", "--storage",
                                                  f"sqlite:///{t / 'typo.db'}"],
     r"error: No storage file .*typo\.db \(storage 'sqlite:///.*typo\.db'\); expected an "
     r"existing study storage"),
    ("report on a folder as storage", lambda t: ["report", "bad", "--storage",
                                                 f"sqlite:///{t}"],
     r"error: No storage file .* \(storage 'sqlite:///.*'\); expected an existing study "
     r"storage"),
    ("show --storage not a url", lambda t: ["show", "bad", "--storage", "not a url"],
     r"error: Malformed storage URL 'not a url'"),
    ("worker on a study never started", lambda t: ["worker", "nobody"],
     r"error: No study 'nobody' in storage "),
]


@pytest.mark.parametrize(("argv", "line"), [(c[1], c[2]) for c in COMMAND_CASES],
                         ids=[c[0] for c in COMMAND_CASES])
def test_bad_argument_is_one_line_exit_1_and_nothing_written(
    argv: Callable[[Path], list[str]], line: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    args = argv(tmp_path)
    stored = stored_args(tmp_path) if args[0] in ("study", "final", "worker") else []
    code = main([*args[:2], *stored, *args[2:]])  # the case's own flags win
    err = capsys.readouterr().err
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.match(line, err.strip()), err
    nothing_written(tmp_path)


def test_list_does_not_create_a_storage(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--storage", f"sqlite:///{tmp_path / 'typo.db'}"]) == 1
    assert capsys.readouterr().err.startswith("error: No storage file ")
    assert not (tmp_path / "typo.db").exists()


Model = dict[str, Any]

# (name, argv builder after `predict lambda_search --tracking-uri T --output OUT`, the line)
PREDICT_CASES: list[tuple[str, Callable[[Path, Model], list[str]], str]] = [
    ("empty .npy", lambda t, m: ["--input", _npy(t, np.zeros((0, 64)))],
     r"error: Input .*rows\.npy holds no rows; the model takes at least one row of 64 "
     r"values\.$"),
    ("NaN cell in a .npy", lambda t, m: ["--input", _npy(t, _with(1, 5, np.nan))],
     r"error: Input .*rows\.npy holds missing, NaN or infinite values \(first at row 2, "
     r"column 6\); the model takes finite numbers\.$"),
    ("inf cell in a .npy", lambda t, m: ["--input", _npy(t, _with(2, 63, -np.inf))],
     r"error: .*infinite values \(first at row 3, column 64\)"),
    ("inf cell in a CSV", lambda t, m: ["--input", str(_file(
        t / "rows.csv", "1," * 63 + "1\n" + "2," * 10 + "inf," + "2," * 52 + "2\n"))],
     r"error: Input .*rows\.csv, data row 2, column 11: 'inf' is not a finite number\.$"),
    ("empty CSV cell", lambda t, m: ["--input", str(_file(
        t / "rows.csv", "1," * 63 + "1\n" + "1," * 5 + "," + "1," * 57 + "1\n"))],
     r"error: Input .*rows\.csv, data row 2, column 6: '' is not a number\.$"),
    ("1e400 in a CSV", lambda t, m: ["--input", str(_file(
        t / "rows.csv", "1e400," + "1," * 62 + "1\n"))],
     r"error: Input .*rows\.csv, data row 1, column 1: '1e400' is not a finite number\.$"),
    ("empty CSV", lambda t, m: ["--input", str(_file(t / "rows.csv", ""))],
     r"error: Input .*rows\.csv holds no rows of numbers\.$"),
    ("latin-1 CSV", lambda t, m: ["--input", str(_file(
        t / "rows.csv", ("caf\xe9," * 63 + "1\n").encode("latin-1")))],
     r"error: Input .*rows\.csv is not UTF-8 text \(byte 0xe9 at offset 3\); expected a CSV "
     r"file saved as UTF-8\.$"),
    ("binary file named .csv", lambda t, m: ["--input", str(_file(
        t / "rows.csv", bytes(range(256)) * 4))],
     r"error: Input .*rows\.csv is not UTF-8 text \(byte 0x80 at offset 128\)"),
    ("text file named .npy", lambda t, m: ["--input", str(_file(t / "rows.npy", "1,2,3\n"))],
     r"error: Input .*rows\.npy is not a NumPy file \(it does not start like one\); expected "
     r"a file written by numpy\.save or numpy\.savez\.$"),
    ("truncated .npz", lambda t, m: ["--input", str(_file(t / "rows.npz", b"PK\x03\x04"))],
     r"error: Input .*rows\.npz is not a readable NumPy file "),
    ("decompression bomb PNG", lambda t, m: ["--input", _images(t, "big.png",
                                                                bomb_png(30000, 30000))],
     r"error: Image .*big\.png is too large to read safely \(Image size \(900000000 pixels\) "
     r"exceeds limit of \d+ pixels\); expected an image of about 8x8 pixels\.$"),
    ("PNG past PIL's warning size", lambda t, m: ["--input", _images(t, "wide.png",
                                                                     bomb_png(12000, 10000))],
     r"error: Image .*wide\.png is too large to read safely \(Image size \(120000000 "),
    ("not an image named .png", lambda t, m: ["--input", _images(t, "a.png", b"GIF89a...")],
     r"error: Image .*a\.png cannot be read \(UnidentifiedImageError: "),
    ("missing input", lambda t, m: ["--input", str(t / "nowhere.csv")],
     r"error: Input .*nowhere\.csv does not exist; expected a \.npy, \.npz or \.csv file or "
     r"a folder of images\.$"),
    ("input of another type", lambda t, m: ["--input", str(_file(t / "rows.json", "[1]"))],
     r"error: Input .*rows\.json has suffix \.json; expected \.npy, \.npz, \.csv or a folder "),
    ("--output a folder", lambda t, m: ["--input", _npy(t, np.ones((2, 64))), "--output",
                                        str(_folder(t / "out"))],
     r"error: Output .*out is a folder; expected the path of a CSV file to write\.$"),
    ("--output below a file", lambda t, m: ["--input", _npy(t, np.ones((2, 64))), "--output",
                                            str(_file(t / "a-file") / "out.csv")],
     r"error: Output .*a-file/out\.csv cannot be written: .*a-file is a file, not a folder"),
    ("--output unwritable", lambda t, m: ["--input", _npy(t, np.ones((2, 64))), "--output",
                                          "/proc/tuner-predictions.csv"],
     r"error: Cannot write predictions to /proc/tuner-predictions\.csv \(.*\); nothing was "
     r"written\.$"),
    ("tracking store missing", lambda t, m: ["--input", _npy(t, np.ones((2, 64))),
                                             "--tracking-uri", f"sqlite:///{t / 'typo.db'}"],
     r"error: No MLflow tracking store at .*typo\.db \(sqlite:///.*\); pass the "
     r"--tracking-uri the study ran with"),
    ("tracking store of another scheme", lambda t, m: ["--input", _npy(t, np.ones((2, 64))),
                                                       "--tracking-uri", "foo://x"],
     r"error: --tracking-uri foo://x: MLflow has no tracking store for scheme 'foo'"),
    ("tracking store not a database", lambda t, m: [
        "--input", _npy(t, np.ones((2, 64))), "--tracking-uri",
        f"sqlite:///{_file(t / 'notes.db', 'plain text, not SQLite' * 50)}"],
     r"error: --tracking-uri sqlite:///.*notes\.db cannot be opened \(file is not a "
     r"database\)"),
    ("--header with a .npy", lambda t, m: ["--input", _npy(t, np.ones((2, 64))), "--header"],
     r"error: A header applies to CSV input only; .*rows\.npy is not a \.csv file\.$"),
]


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize(("argv", "line"), [(c[1], c[2]) for c in PREDICT_CASES],
                         ids=[c[0] for c in PREDICT_CASES])
def test_bad_prediction_input_is_one_line_and_writes_nothing(
    argv: Callable[[Path, Model], list[str]], line: str, tmp_path: Path,
    digits_final: Model, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "predictions.csv"
    args = ["predict", "lambda_search", "--tracking-uri", digits_final["tracking"],
            "--output", str(out), *argv(tmp_path, digits_final)]
    before = sorted(tmp_path.rglob("*"))
    code = main(args)
    err = capsys.readouterr().err
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.match(line, err.strip()), err
    assert sorted(tmp_path.rglob("*")) == before  # no output, no store created, no temp file
    nothing_written(tmp_path)


def test_predict_with_the_tracking_server_down_fails_in_seconds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """MLflow's own retries would wait minutes (7 retries, 120 s timeout) before this line."""
    np.save(tmp_path / "rows.npy", np.ones((2, 64)))
    server = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    code = main(["predict", "lambda_search", "--input", str(tmp_path / "rows.npy"),
                 "--tracking-uri", server, "--output", str(tmp_path / "out.csv")])
    seconds = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 1 and err == (f"error: MLflow tracking store {server} cannot be reached (no "
                                 f"server answered); start it, or pass another "
                                 f"--tracking-uri.\n"), err
    assert seconds < 60, seconds
    assert not (tmp_path / "out.csv").exists()


def test_no_rows_are_refused_by_the_model_and_the_api(digits_final: Model,
                                                      wine_final: Model) -> None:
    """What `mlflow models serve` runs (the pyfunc model, either flavour) refuses no rows in
    one line too, instead of an IndexError from inside the model."""
    from mlflow.exceptions import MlflowException
    from tuned_models import pyfunc, wine_features

    import tuner
    from objectives.errors import DataError as ModelDataError

    model = pyfunc(digits_final["tracking"], "models:/lambda_search/latest")
    with pytest.raises(MlflowException, match=r"^The input holds no rows; the model takes at "
                                              r"least one row of 64 values\.$"):
        model.predict(np.zeros((0, 64)), params={"probabilities": True})
    wine = pyfunc(wine_final["tracking"], "models:/wine_study/latest")
    with pytest.raises(ModelDataError, match=r"holds no rows; the model takes at least one row "
                                             r"of 13 values"):
        wine.predict(wine_features(wine_final).iloc[:0])
    with pytest.raises(tuner.DataError, match=r"^The input holds no rows"):
        tuner.predict("lambda_search", np.empty((0, 8, 8)), tracking_uri=digits_final["tracking"])
