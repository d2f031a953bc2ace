"""`python -m tuner <command>`: argument parsing only; each command lives in its own module.

Every expected error (TunerError, ObjectiveError) becomes one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from objectives.errors import ObjectiveError
from objectives.threads import set_budget
from tuner.errors import SpecError, TunerError

log = logging.getLogger("tuner")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 1 like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(1, f"{self.prog}: error: {message}\n")


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key.strip(), value.strip()


def parse_sets(pairs: Sequence[tuple[str, str]] | None) -> dict[str, str]:
    """--set key=value pairs as a dict (later wins)."""
    return dict(pairs or [])


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="dataset root (default: $TUNER_DATA_DIR, then usual places)")
    p.add_argument("--download", action="store_true", help="download missing data via torchvision")
    p.add_argument("--threads", type=int, help="CPU threads per training run (default: all cores, "
                   "or cores / N with --jobs N; a config's own `threads` wins)")


def _study_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="study name (studies/NAME.toml) or a path to a .toml file")
    p.add_argument("--dataset", help="override the study's dataset")
    _data_args(p)
    p.add_argument("--set", dest="sets", action="append", type=_key_value, metavar="KEY=VALUE",
                   help="override a fixed param (repeatable)")
    p.add_argument("--trials", type=int, help="override every stage's trial count")
    p.add_argument("--seed", type=int, help="override the study seed")
    p.add_argument("--storage", help="Optuna storage URL (default: $TUNER_STORAGE or sqlite:///tuner.db)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                   "sqlite:///mlruns/mlflow.db)")
    p.add_argument("--no-tracking", action="store_true", help="do not record in MLflow")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tuner", description=__doc__)
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="train one objective once with a fixed config")
    p.add_argument("objective")
    p.add_argument("--dataset", required=True)
    _data_args(p)
    p.add_argument("--set", dest="sets", action="append", type=_key_value, metavar="KEY=VALUE")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=_run)

    p = sub.add_parser("gradcheck", help="analytic vs numerical gradients of a NumPy objective")
    p.add_argument("objective", help="softmax or two_layer")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_gradcheck)

    p = sub.add_parser("study", help="run (or resume) a study: every stage, then optionally final")
    _study_args(p)
    p.add_argument("--dry-run", action="store_true", help="print the resolved stages and exit")
    p.add_argument("--final", action="store_true", help="retrain the best config and test it")
    p.add_argument("--jobs", type=int, default=1, help="worker processes on this machine")
    p.set_defaults(func=_study)

    p = sub.add_parser("worker", help="join a study as one more worker (same as study, no final)")
    _study_args(p)
    p.set_defaults(func=_worker)

    p = sub.add_parser("list", help="studies in the storage with counts and best values")
    p.add_argument("--storage")
    p.set_defaults(func=_list)

    p = sub.add_parser("show", help="trials table per stage and best params of one study")
    p.add_argument("name")
    p.add_argument("--storage")
    p.set_defaults(func=_show)

    p = sub.add_parser("final", help="retrain the best config on train+val, evaluate on test once")
    _study_args(p)
    p.set_defaults(func=_final)

    p = sub.add_parser("ui", help="start the MLflow UI on the tracking store (127.0.0.1)")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--tracking-uri")
    p.set_defaults(func=_ui)

    p = sub.add_parser("report", help="write a study's plots and summary page to a folder")
    p.add_argument("name")
    p.add_argument("--out", help="output folder (default: reports/NAME)")
    p.add_argument("--storage")
    p.set_defaults(func=_report)
    return parser


def _run(args: argparse.Namespace) -> int:
    from tuner.single import run_command

    return run_command(args)


def _gradcheck(args: argparse.Namespace) -> int:
    from tuner.single import gradcheck_command

    return gradcheck_command(args)


def _study(args: argparse.Namespace) -> int:
    from tuner.runner import study_command

    return study_command(args)


def _worker(args: argparse.Namespace) -> int:
    from tuner.runner import worker_command

    return worker_command(args)


def _list(args: argparse.Namespace) -> int:
    from tuner.inspect import list_command

    return list_command(args)


def _show(args: argparse.Namespace) -> int:
    from tuner.inspect import show_command

    return show_command(args)


def _final(args: argparse.Namespace) -> int:
    from tuner.runner import final_command

    return final_command(args)


def _ui(args: argparse.Namespace) -> int:
    from tuner.tracking import ui_command

    return ui_command(args)


def _report(args: argparse.Namespace) -> int:
    from tuner.report import report_command

    return report_command(args)


def _set_threads(args: argparse.Namespace) -> None:
    threads = getattr(args, "threads", None)
    if threads is None:
        return
    if threads < 1:
        raise SpecError(f"--threads must be a positive number of threads. Got {threads} instead.")
    set_budget(threads)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    for noisy in ("alembic", "mlflow", "urllib3", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        _set_threads(args)
        return func(args)
    except (TunerError, ObjectiveError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout closed early (e.g. `tuner show NAME | head`): not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


__all__ = ["main", "parse_sets", "SpecError"]
