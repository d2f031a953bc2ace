"""Bad checkpoint settings are found before the first trial: one line on stderr, exit code 1,
no trial row and no MLflow run (engine/checkpoints.check_checkpoints, run by the preflight)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from bad_studies import nothing_written, stored_args, study

from tuner.cli import main


def a_file(tmp_path: Path) -> str:
    path = tmp_path / "not-a-folder"
    path.write_text("x")
    return str(path)


# (name, argv after `study FILE`, the environment it runs with, the error line it must print)
CASES: list[tuple[str, Callable[[Path], list[str]], Callable[[Path], dict[str, str]], str]] = [
    ("--checkpoint-dir is a file", lambda t: ["--checkpoint-dir", a_file(t)], lambda t: {},
     r"error: The checkpoint folder .*not-a-folder \(--checkpoint-dir, \$TUNER_CHECKPOINT_DIR\) "
     r"is a file; expected a folder, or s3://BUCKET\[/PREFIX\]\.$"),
    ("--checkpoint-dir inside a file", lambda t: ["--checkpoint-dir", a_file(t) + "/sub"],
     lambda t: {}, r"error: The checkpoint folder .*not-a-folder/sub \(--checkpoint-dir, "
     r"\$TUNER_CHECKPOINT_DIR\) is in a file \(.*not-a-folder\); expected a folder"),
    ("$TUNER_CHECKPOINT_DIR is a file", lambda t: [],
     lambda t: {"TUNER_CHECKPOINT_DIR": a_file(t)},
     r"error: The checkpoint folder .*not-a-folder \(--checkpoint-dir, \$TUNER_CHECKPOINT_DIR\) "
     r"is a file;"),
    ("s3 URL without a bucket", lambda t: ["--checkpoint-dir", "s3://"], lambda t: {},
     r"error: The checkpoint location 's3://' names no bucket; expected s3://BUCKET\[/PREFIX\]"),
    ("$TUNER_CHECKPOINT_EVERY not a number", lambda t: [],
     lambda t: {"TUNER_CHECKPOINT_EVERY": "30s"},
     r"error: \$TUNER_CHECKPOINT_EVERY='30s' is not a number of seconds; expected a number >= 0 "
     r"\(0 saves at every report, inf never\)\.$"),
    ("$TUNER_CHECKPOINT_EVERY negative", lambda t: [],
     lambda t: {"TUNER_CHECKPOINT_EVERY": "-5"},
     r"error: \$TUNER_CHECKPOINT_EVERY='-5' is not a number of seconds; expected a number >= 0"),
    ("$TUNER_CHECKPOINT_EVERY nan", lambda t: [], lambda t: {"TUNER_CHECKPOINT_EVERY": "nan"},
     r"error: \$TUNER_CHECKPOINT_EVERY='nan' is not a number of seconds;"),
]


@pytest.mark.parametrize(("argv", "env", "line"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_checkpoint_setting_is_one_line_exit_1_and_no_trial(
    argv: Callable[[Path], list[str]], env: Callable[[Path], dict[str, str]], line: str,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in env(tmp_path).items():
        monkeypatch.setenv(name, value)
    code = main(["study", study(tmp_path), *argv(tmp_path), *stored_args(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.match(line, err.strip()), err
    nothing_written(tmp_path)


def test_checkpoint_settings_are_not_checked_when_checkpoints_are_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNER_CHECKPOINT_EVERY", "30s")
    assert main(["-q", "study", study(tmp_path), "--no-checkpoints", "--checkpoint-dir",
                 a_file(tmp_path), *stored_args(tmp_path)]) == 0
