"""`tuner predict` and `mlflow models serve` as processes on the tuned model of a real study."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from paths import ROOT
from PIL import Image
from ports import free_port
from sklearn.datasets import load_digits
from tuned_models import own_predictions


def test_registered_version_has_tags_and_description(digits_final: dict[str, Any]) -> None:
    from mlflow import MlflowClient

    final = digits_final["result"].final
    version = MlflowClient(digits_final["tracking"]).get_model_version("lambda_search", "1")
    assert version.run_id == final.mlflow_run_id
    show = subprocess.run([sys.executable, "-m", "tuner", "show", "lambda_search"],
                          cwd=digits_final["folder"], capture_output=True, text=True, timeout=120)
    assert "; model models:/lambda_search/1)" in show.stdout, show.stderr
    tags = version.tags
    assert tags["study"] == "lambda_search" and tags["stage"] == final.stage
    assert tags["trial"] == str(final.trial) and json.loads(tags["config"]) == final.config
    assert float(tags["test_accuracy"]) == pytest.approx(final["test_accuracy"])
    assert f"trial {final.trial} of {final.stage}" in version.description


def test_mlflow_models_serve_answers_invocations(digits_final: dict[str, Any]) -> None:
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": digits_final["tracking"],  # as with the venv
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # active
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen(
        [str(mlflow_cli), "models", "serve", "-m", "models:/lambda_search/1", "--env-manager",
         "local", "-h", "127.0.0.1", "-p", str(port)], cwd=digits_final["folder"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:  # wait until it answers /ping (or dies)
            assert server.poll() is None, server.stderr.read().decode()[-2000:]  # type: ignore
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow models serve did not start in 120 s"
            time.sleep(0.5)
        X = load_digits().data[:40]
        ints = X.astype(int).tolist()  # JSON ints, as most clients send pixel values
        expected = own_predictions(digits_final, X)
        for body in ({"inputs": X.tolist()}, {"inputs": ints},
                     {"dataframe_split": {"columns": list(range(64)), "data": ints}}):
            answer = _post(port, body)
            np.testing.assert_array_equal(answer["predictions"], expected)
        table = _post(port, {"inputs": ints[:3], "params": {"probabilities": True}})
        assert [row["class"] for row in table["predictions"]] == list(expected[:3])
        with pytest.raises(urllib.error.HTTPError) as refused:  # one line, not a class 0
            _post(port, {"inputs": [[None] * 64]})
        assert refused.value.code == 400
        assert "missing, NaN or infinite values (first at row 1, column 1)" in \
            json.loads(refused.value.read())["message"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def _post(port: int, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _cli(*args: str, cwd: Path, tracking: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tuner", *args, "--tracking-uri", tracking],
                          cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_tuner_predict_on_csv_and_png_folder(digits_final: dict[str, Any], tmp_path: Path
                                             ) -> None:
    import pandas as pd

    X = load_digits().data[:30]
    csv_file = tmp_path / "rows.csv"
    pd.DataFrame(X, columns=[f"pixel_{i}" for i in range(64)]).to_csv(csv_file, index=False)
    done = _cli("predict", "lambda_search", "--input", str(csv_file), "--output",
                str(tmp_path / "out.csv"), cwd=tmp_path, tracking=digits_final["tracking"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("predicted 30 rows of rows.csv (header row: names, taken by "
                                  "position) with models:/lambda_search/latest")
    table = pd.read_csv(tmp_path / "out.csv")
    assert list(table.columns[:3]) == ["index", "source", "class"]
    np.testing.assert_array_equal(table["class"], own_predictions(digits_final, X))

    images = tmp_path / "images"
    images.mkdir()
    for i in range(5):  # 8-bit PNGs, twice the size: resized to 8x8 and scaled to 0..16
        pixels = (X[i].reshape(8, 8) * 255 / 16).round().astype(np.uint8)
        Image.fromarray(pixels).resize((16, 16), Image.Resampling.NEAREST).save(
            images / f"digit_{i}.png")
    done = _cli("predict", "lambda_search", "--input", str(images), "--output",
                str(tmp_path / "images.csv"), cwd=tmp_path, tracking=digits_final["tracking"])
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "images.csv")
    assert list(table["source"]) == [f"digit_{i}.png" for i in range(5)]
    expected = own_predictions(digits_final, np.stack([
        np.asarray(Image.open(images / f"digit_{i}.png").resize((8, 8),
                   Image.Resampling.BILINEAR), dtype=np.float64).reshape(-1) * 16 / 255
        for i in range(5)]))
    np.testing.assert_array_equal(table["class"], expected)


@pytest.mark.parametrize("content, message", [
    ("1,2,3\n4,5,6\n", "data row 2: 3 values; the model takes 64 per row."),
    ("," * 63 + "x\n", "data row 2, column 1: '' is not a number."),
])
def test_tuner_predict_bad_csv_is_one_line(digits_final: dict[str, Any], tmp_path: Path,
                                           content: str, message: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(["0," * 63 + "0", content]))
    done = _cli("predict", "lambda_search", "--input", str(bad), cwd=tmp_path,
                tracking=digits_final["tracking"])
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr and not (tmp_path / "predictions.csv").exists()


def test_tuner_predict_unreadable_image_and_missing_model(digits_final: dict[str, Any],
                                                          tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "broken.png").write_bytes(b"not a png")
    done = _cli("predict", "lambda_search", "--input", str(tmp_path / "images"), cwd=tmp_path,
                tracking=digits_final["tracking"])
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "broken.png cannot be read" in done.stderr
    done = _cli("predict", "no_such_study", "--input", str(tmp_path / "images"), cwd=tmp_path,
                tracking=digits_final["tracking"])
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "models:/no_such_study/latest" in done.stderr
