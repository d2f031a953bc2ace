"""`python -m tuner <command>` / `tuner <command>`: arguments -> the Python API -> printed results.

Every expected error (TunerError, ObjectiveError) becomes one line on stderr and exit code 1.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from contextlib import suppress

from objectives.errors import ObjectiveError
from objectives.threads import set_budget
from tuner.cli.commands import COMMANDS
from tuner.cli.parser import build_parser
from tuner.engine.interrupts import stop_now_from_here
from tuner.engine.worker_protocol import configure_logging
from tuner.errors import TunerError
from tuner.options import check_limit


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (a usage error: one line on stderr, code 1).
    Without `argv` (the process's own command line: `tuner`, `python -m tuner`), a Ctrl-C
    after the command, while the process exits, ends it at once with one line (stop_now)."""
    try:
        return _main(argv)
    finally:
        if argv is None:
            with suppress(OSError, ValueError):  # what was printed is out before a stop_now
                sys.stdout.flush()
            stop_now_from_here()


def _main(argv: Sequence[str] | None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(raw)
    except SystemExit as exc:  # --help, --version (0) or a usage error, already printed
        return exc.code if isinstance(exc.code, int) else 1
    if args.command is None:  # a bare `tuner` (or only -q / -v): what there is to do
        parser.print_help()
        return 0
    args.argv = raw
    configure_logging(logging.WARNING if args.quiet else
                      logging.DEBUG if args.verbose else logging.INFO)
    try:
        if getattr(args, "threads", None) is not None:
            check_limit("threads", args.threads, getattr(args, "cluster", None))
            set_budget(args.threads)
        return COMMANDS[args.command](args)
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


__all__ = ["main"]
