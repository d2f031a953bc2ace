"""Bad inputs that would leave state half-written: a command that only reads a study given a
storage (or MLflow store) path that does not exist (it would create the folder and an empty
database), and names the tuner reserves for its own record studies. One line on stderr, exit
code 1, nothing written, nothing created."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from bad_studies import nothing_written, stored_args, study
from ports import free_port

from tuner.cli import main


def missing(t: Path, *parts: str) -> str:
    return f"sqlite:///{t.joinpath('nowhere', *parts)}"


def stage_named(t: Path, name: str) -> str:
    path = Path(study(t))
    path.write_text(path.read_text().replace('name = "coarse"', f'name = "{name}"'))
    return str(path)


NO_FILE = r"error: No storage file .*nowhere/.*\.db \(storage 'sqlite:///.*'\); expected an " \
          r"existing study storage: the --storage \(or \$TUNER_STORAGE\) the study ran with\.$"

# (name, the whole argv, the error line it must print)
CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("list, mistyped storage", lambda t: ["list", "--storage", missing(t, "tuner.db")], NO_FILE),
    ("show, mistyped storage", lambda t: ["show", "toy", "--storage", missing(t, "tuner.db")],
     NO_FILE),
    ("report, mistyped storage",
     lambda t: ["report", "toy", "--storage", missing(t, "tuner.db"), "--out",
                str(t / "report")], NO_FILE),
    ("list, storage in a missing folder",
     lambda t: ["list", "--storage", missing(t, "deeper", "tuner.db")], NO_FILE),
    ("final, mistyped storage",
     lambda t: ["final", study(t), "--storage", missing(t, "tuner.db"), "--tracking-uri",
                f"sqlite:///{t / 'mlflow.db'}"], NO_FILE),
    ("ui, mistyped tracking store",
     lambda t: ["ui", "--tracking-uri", missing(t, "mlflow.db"), "--port", str(free_port())],
     r"error: No MLflow store file .*nowhere/mlflow\.db \(tracking URI 'sqlite:///.*'\); "
     r"expected an existing store: the --tracking-uri \(or \$MLFLOW_TRACKING_URI\) a study "
     r"ran with\.$"),
    ("stage named like a pruning companion",
     lambda t: ["study", stage_named(t, "s#pruning"), *stored_args(t)],
     r"error: .*stages\[0\]\.name.* without '/' or '#'"),
    ("study named like a run record",
     lambda t: ["study", study(t, top='name = "toy#run"'), *stored_args(t)],
     r"error: .*name.* without '/' or '#'"),
]


@pytest.mark.parametrize(("argv", "line"), [(c[1], c[2]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_1_nothing_written_or_created(
    argv: Callable[[Path], list[str]], line: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(argv(tmp_path))
    err = capsys.readouterr().err
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.match(line, err.strip()), err
    nothing_written(tmp_path)
    assert not (tmp_path / "nowhere").exists()  # no folder, no empty database
    assert not (tmp_path / "report").exists()


def test_list_with_a_mistyped_storage_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TUNER_STORAGE", missing(tmp_path, "tuner.db"))
    assert main(["list"]) == 1
    assert re.match(NO_FILE, capsys.readouterr().err.strip())
    assert not (tmp_path / "nowhere").exists()


def test_list_in_a_folder_without_tuner_db_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default storage (tuner.db in the current folder) is not made up by `list`."""
    monkeypatch.chdir(tmp_path)
    assert main(["list"]) == 1
    assert "No storage file tuner.db" in capsys.readouterr().err
    assert [p for p in os.listdir(tmp_path) if p != "cache"] == []
