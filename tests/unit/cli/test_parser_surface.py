"""What the command line offers a newcomer: help text on every argument, `--version`, the help
for a bare `tuner`, and only the flags a command uses."""

from __future__ import annotations

import argparse

import pytest

from tuner.cli import main
from tuner.cli.parser import build_parser


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_argument_of_every_command_has_help() -> None:
    missing = [f"{name} {action.dest}" for name, command in _commands().items()
               for action in command._actions
               if not isinstance(action, argparse._HelpAction) and not action.help]
    assert missing == []
    assert len(_commands()) >= 10  # the walk sees the commands


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"tuner {version('tuner')}\n"


def test_a_bare_tuner_prints_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: tuner") and "retrain the best config" in out
    assert main(["-q"]) == 0 and capsys.readouterr().out.startswith("usage: tuner")


def test_final_runs_no_stage_so_takes_no_trials(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["final", "lambda_search", "--trials", "3"]) == 1
    assert "unrecognized arguments: --trials 3" in capsys.readouterr().err
    assert "--trials" in _commands()["study"].format_help()
