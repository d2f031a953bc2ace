"""`tuner run`: one JSON document with --json, a summary otherwise, one-line errors, exit codes."""

from __future__ import annotations

import json

import pytest

from tuner.cli import main

HISTORY_KEYS = {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                "seconds"}


def test_json_output_is_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "softmax", "--dataset", "digits", "--set", "epochs=3",
                 "--set", "lr=0.01", "--seed", "2", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"objective", "dataset", "config", "history", "val_accuracy", "metrics"}
    assert doc["metrics"] == doc["history"][-1]
    assert (doc["objective"], doc["dataset"]) == ("softmax", "digits")
    assert doc["config"]["epochs"] == 3 and doc["config"]["lr"] == 0.01
    assert doc["config"]["optimizer"] == "momentum"
    assert [h["epoch"] for h in doc["history"]] == [1.0, 2.0, 3.0]
    assert all(set(h) == HISTORY_KEYS for h in doc["history"])
    assert doc["val_accuracy"] == doc["history"][-1]["val_accuracy"] > 0.8


def test_two_layer_run_and_summary_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "two_layer", "--dataset", "digits", "--set", "n_s=30",
                 "--set", "hidden=20"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("two_layer on digits: val_accuracy 0.")
    assert captured.out.count("\n") == 1
    assert "val_accuracy" in captured.err  # per-reporting-point lines


@pytest.mark.parametrize("argv, message", [
    (["run", "softmax", "--dataset", "digits", "--set", "epoch=3"],
     "error: Unknown parameter 'epoch' for objective 'softmax'; valid keys: batch_size, "),
    (["run", "softmax", "--dataset", "digits", "--set", "optimizer=rmsprop"],
     "error: The 'optimizer' parameter must be one of: sgd, momentum, nesterov, adam, adagrad. "
     "Got 'rmsprop' instead."),
    (["run", "softmax", "--dataset", "digits", "--set", "lr=fast"],
     "error: The 'lr' parameter must be of type float. Got 'fast' instead."),
    (["run", "two_layer", "--dataset", "digits", "--set", "hidden=0"],
     "error: The 'hidden' parameter must be in [1, inf]. Got 0 instead."),
    (["run", "svm", "--dataset", "digits"],
     "error: Unknown objective 'svm'; valid objectives: softmax, two_layer, mlp, lenet"),
    (["run", "softmax", "--dataset", "imagenet"],
     "error: Unknown dataset 'imagenet'; valid datasets: "),
])
def test_bad_input_is_one_line_and_exit_1(argv: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message)


def test_divergence_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "run", "softmax", "--dataset", "digits", "--set", "optimizer=sgd",
                 "--set", "lr=1e7", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: Training diverged at update ")
    assert captured.err.count("\n") == 1
