"""Every bad input is found before the first trial: one line on stderr, exit code 1, and no trial
row in the storage (a study that fails its checks never writes one)."""

from __future__ import annotations

import gzip
import pickle
import re
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from bad_studies import nothing_written, stored_args, study
from fake_data import make_cifar, make_mnist

import tuner
from tuner.cli import main
from tuner.storage.errors import explain


def mnist_data(tmp_path: Path) -> Path:
    make_mnist(tmp_path / "data" / "mnist")
    return tmp_path / "data"


def truncated_mnist(tmp_path: Path) -> Path:
    root = mnist_data(tmp_path)
    images = root / "mnist" / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(images.read_bytes())
    images.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    return root


def overflowing_mnist(tmp_path: Path) -> Path:
    """An IDX header whose dimensions multiply past int64."""
    root = mnist_data(tmp_path)
    header = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 2**31)
    (root / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + b"\0" * 64))
    return root


def malicious_cifar(tmp_path: Path) -> Path:
    """A CIFAR-10 batch whose pickle would run a command if it were unpickled plainly."""
    folder = make_cifar(tmp_path / "data" / "cifar-10-batches-py")

    class Evil:
        def __reduce__(self) -> tuple[Callable[..., object], tuple[str]]:
            import os
            return os.system, (f"touch {tmp_path / 'pwned'}",)

    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": Evil(), b"labels": [0]}))
    return tmp_path / "data"


# (name, how to build the argv after `study FILE`, the error line it must print)
CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("unknown dataset", lambda t: [study(t), "--dataset", "imagenet"],
     r"error: Unknown dataset 'imagenet'; valid datasets: "),
    ("missing data files", lambda t: [study(t), "--dataset", "mnist", "--data-dir",
                                      str(t / "empty")],
     r"error: Dataset mnist not found: looked for train-images-idx3-ubyte"),
    ("truncated data file", lambda t: [study(t), "--dataset", "mnist", "--data-dir",
                                       str(truncated_mnist(t))],
     r"error: .*train-images-idx3-ubyte\.gz is truncated"),
    ("IDX dims past int64", lambda t: [study(t), "--dataset", "mnist", "--data-dir",
                                       str(overflowing_mnist(t))],
     r"error: .*train-images-idx3-ubyte\.gz is truncated: the header promises "
     r"39614081238685424725209907200 bytes"),
    ("malicious CIFAR pickle", lambda t: [study(t), "--dataset", "cifar10", "--data-dir",
                                          str(malicious_cifar(t))],
     r"error: Refusing to unpickle posix\.system"),
    ("val_size above the data", lambda t: [study(t, top="val_size = 100000")],
     r"error: The 'val_size' must leave at least one sample on each side: digits has 1437 "),
    ("hyperband dividing by zero", lambda t: [study(
        t, pruner='{ type = "hyperband", reduction_factor = 1 }')],
     r"error: .*bad\.toml: stages\.coarse\.pruner\.reduction_factor: must be an int in "
     r"\[2, inf\)\. Got 1 instead\.$"),
    ("sampler option of the wrong type", lambda t: [study(
        t, sampler='{ type = "tpe", n_startup_trials = "5" }')],
     r"error: .*stages\.coarse\.sampler\.n_startup_trials: must be an int in \[0, 100000\]\. "
     r"Got '5' instead\.$"),
    ("final monitor above train+val", lambda t: [study(t, final="[final]\nmonitor = 5000")],
     r"error: .*bad\.toml: final\.monitor: 5000 leaves nothing to train the final on: digits "
     r"has 1437 training and validation samples"),
    ("NaN final monitor", lambda t: [study(t, final="[final]\nmonitor = nan"), "--final"],
     r"error: .*bad\.toml: final\.monitor: must be finite\. Got nan instead\.$"),
    ("negative seed in the file", lambda t: [study(t, top="seed = -1")],
     r"error: .*bad\.toml: seed must be an int in \[0, 4294967295\]\. Got -1 instead\.$"),
    ("seed past 2**32 in the file", lambda t: [study(t, top="seed = 4294967296")],
     r"error: .*bad\.toml: seed must be an int in \[0, 4294967295\]\. Got 4294967296"),
    ("--seed -1", lambda t: [study(t), "--seed", "-1"],
     r"error: --seed must be an int in \[0, 4294967295\]\. Got -1 instead\.$"),
    ("--set epochs=1e400", lambda t: [study(t), "--set", "epochs=1e400"],
     r"error: --set epochs=1e400: The 'epochs' parameter must be of type int\. "
     r"Got '1e400' instead\.$"),
    ("--set lr=inf", lambda t: [study(t), "--set", "lr=inf"],
     r"error: --set lr=inf: The 'lr' parameter must be finite\. Got 'inf' instead\.$"),
    ("infinite timeout", lambda t: [study(t, stage="timeout = inf")],
     r"error: .*bad\.toml: stages\.coarse\.timeout: must be finite\. Got inf instead\.$"),
    ("NaN refine margin", lambda t: [_refine(t, "margin = nan")],
     r"error: .*bad\.toml: stages\.fine\.refine\.margin: must be finite\. Got nan instead\.$"),
    ("infinite pruner threshold", lambda t: [study(
        t, pruner='{ type = "threshold", upper = inf }')],
     r"error: .*bad\.toml: stages\.coarse\.pruner\.upper: must be finite\. Got inf instead\.$"),
    ("int type on a float param", lambda t: [study(t, space='lr = { type = "int", low = 1, '
                                                        'high = 3 }')],
     r"error: .*bad\.toml: stages\.coarse\.space\.lr\.type: a float param cannot be searched "
     r"as int"),
]


def _refine(tmp_path: Path, option: str) -> str:
    text = Path(study(tmp_path)).read_text() + (
        f'\n[[stages]]\nname = "fine"\ntrials = 2\n'
        f'refine = {{ from = "coarse", params = ["x"], {option} }}\n')
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(("argv", "line"), [(c[1], c[2]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_1_and_no_trial(
    argv: Callable[[Path], list[str]], line: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["study", *argv(tmp_path), *stored_args(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.match(line, err.strip()), err
    nothing_written(tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_run_seed_out_of_range_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "softmax", "--dataset", "digits", "--seed", "-1"]) == 1
    assert capsys.readouterr().err == (
        "error: seed must be an int in [0, 4294967295]. Got -1 instead.\n")


def test_report_into_an_unwritable_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'tuner.db'}"
    assert main(["-q", "study", study(tmp_path), "--storage", db, "--no-tracking"]) == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    capsys.readouterr()
    assert main(["report", "bad", "--storage", db, "--out", str(blocker / "report")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: Cannot write the report into {blocker / 'report'}: ")
    assert len(err.splitlines()) == 1


def test_a_read_only_database_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "tuner.db"
    assert main(["-q", "study", study(tmp_path), "--storage", f"sqlite:///{db}",
                 "--no-tracking", "--trials", "1"]) == 0
    read_only = f"sqlite:///file:{db}?mode=ro&uri=true"
    capsys.readouterr()
    assert main(["-q", "study", study(tmp_path), "--storage", read_only, "--no-tracking",
                 "--trials", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: The storage 'sqlite:///file:") and "is read-only" in err
    assert len(err.splitlines()) == 1


def test_storage_failures_are_explained() -> None:
    assert "is read-only" in explain("attempt to write a readonly database", "sqlite:///x.db")
    assert "disk of the storage" in explain("database or disk is full", "sqlite:///x.db")
    assert "is full" in explain("could not extend file: No space left on device",
                                "postgresql://u:pw@h/db")
    lost = explain("connection refused", "postgresql://u:secret@h/db")
    assert lost.startswith("Lost the storage 'postgresql://u:***@h/db'") and "secret" not in lost


def test_resuming_near_the_top_seed_wraps_sampler_seeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'tuner.db'}"
    path = study(tmp_path, top="seed = 4294967295")
    assert main(["-q", "study", path, "--storage", db, "--no-tracking", "--trials", "2"]) == 0
    assert main(["-q", "study", path, "--storage", db, "--no-tracking", "--trials", "3"]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_the_default_final_monitor_scales_with_the_data(tmp_path: Path) -> None:
    result = tuner.run_study(study(tmp_path), storage=f"sqlite:///{tmp_path / 't.db'}",
                             tracking=False, progress=False, final=True)
    assert result.final is not None
    assert result.final.train_size == 1437 - round(0.02 * 1437)  # 29 held out, not 1000
    assert result.final.test_size == 360
