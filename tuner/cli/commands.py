"""Each command: its arguments -> an API call -> what it prints. Nothing here trains, stores or
tracks by itself."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tuner
from objectives.numpy_nets.gradcheck import TOLERANCE, check
from tuner.engine.checkpoint_store import checkpoint_location, local_folder
from tuner.errors import SpecError
from tuner.options import RunOptions
from tuner.reporting.inspect import checkpoints_line, list_text, show_text
from tuner.reporting.report import default_out, write_report
from tuner.reporting.summary import final_line, study_summary
from tuner.spec import check_seed
from tuner.spec.describe import describe
from tuner.storage import mask, open_existing, resolve_url
from tuner.tracking import serve_ui

INTERRUPTED = 130


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    """--set key=value pairs as a dict (later wins)."""
    return dict(args.overrides or [])


def _spec_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What the study commands' flags change in the study itself (load_study_spec's)."""
    return {"dataset": args.dataset, "overrides": _overrides(args),
            "trials": getattr(args, "trials", None),  # `final` has no --trials
            "budget": getattr(args, "budget", None),
            "seed": args.seed, "confirm": args.confirm}


def _data_dir(args: argparse.Namespace) -> str | None:
    """--data-dir, unless it is a file (a missing folder is the dataset's own "not found")."""
    given = args.data_dir
    if given is not None and Path(given).exists() and not Path(given).is_dir():
        raise SpecError(f"--data-dir {given} is a file; expected the folder that holds the "
                        f"datasets.")
    return given


def _options(args: argparse.Namespace) -> RunOptions:
    """How the study commands' flags run the study: the one options object of the API."""
    return RunOptions(
        storage=args.storage, tracking_uri=args.tracking_uri, tracking=not args.no_tracking,
        data_dir=_data_dir(args), download=args.download, progress=not args.quiet,
        register=not getattr(args, "no_register", False),
        checkpoints=not args.no_checkpoints, checkpoint_dir=args.checkpoint_dir,
        jobs=getattr(args, "jobs", None), cluster=getattr(args, "cluster", None),
        threads=args.threads)


def resume_hint(argv: Sequence[str]) -> str:
    """The command line that continues an interrupted run: the same one (URLs masked)."""
    return shlex.join(["python", "-m", "tuner", *(mask(arg) for arg in argv)])


BUILT_IN_KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                 "seconds")


def metrics_line(step: int, metrics: Mapping[str, float]) -> str:
    """One human-readable line for one reporting point."""
    if not all(key in metrics for key in BUILT_IN_KEYS):  # the user's own objectives
        return f"[{step:3d}] " + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
    return (
        f"[{step:3d}] epoch {metrics['epoch']:6.2f}  train_loss {metrics['train_loss']:.4f}  "
        f"train_accuracy {metrics['train_accuracy']:.4f}  val_loss {metrics['val_loss']:.4f}  "
        f"val_accuracy {metrics['val_accuracy']:.4f}  lr {metrics['lr']:.3g}  "
        f"{metrics['seconds']:.2f}s"
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    quiet = bool(args.quiet)

    def report(step: int, metrics: Mapping[str, float]) -> None:
        if not quiet:
            tqdm.write(metrics_line(step, metrics), file=sys.stderr)

    result = tuner.train(args.objective, dataset=args.dataset, data_dir=_data_dir(args),
                         overrides=_overrides(args), seed=args.seed, target=args.target,
                         task=args.task, report=report,
                         progress=not quiet, download=args.download)
    last = result.metrics
    if args.json:
        document = {"objective": result.objective, "dataset": args.dataset,
                    "config": dict(result.config), "history": result.history, "metrics": last}
        if "val_accuracy" in last:
            document["val_accuracy"] = last["val_accuracy"]
        print(json.dumps(document, default=str))
        return 0
    built_in = all(key in last for key in BUILT_IN_KEYS)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in last.items()
                      if k == "val_accuracy" or not built_in and k.startswith("val_"))
    print(f"{result.objective} on {args.dataset}: {shown} after "
          f"{last.get('epoch', 0.0):.2f} epochs, "
          f"{sum(h.get('seconds', 0.0) for h in result.history):.1f}s training")
    return 0


def gradcheck(args: argparse.Namespace) -> int:
    errors = check(args.objective, seed=check_seed(args.seed, "--seed"))
    print(f"{args.objective}: max relative error, analytic vs centred differences (float64)")
    for name, error in errors.items():
        verdict = "ok" if error <= TOLERANCE else f"FAIL (> {TOLERANCE:g})"
        print(f"  {name:<4} {error:.3e}  {verdict}")
    return 0 if all(error <= TOLERANCE for error in errors.values()) else 1


def study(args: argparse.Namespace) -> int:
    spec = tuner.load_study_spec(args.name, **_spec_settings(args))
    if args.dry_run:
        print(describe(spec))
        return 0
    try:
        result = tuner.run_study(spec, _options(args), final=args.final)
    except KeyboardInterrupt:
        print(f"interrupted; to resume, run: {resume_hint(args.argv)}")
        return INTERRUPTED
    print(study_summary(result))
    if result.final is not None:
        print(final_line(result.name, result.final))
    return 0


def worker(args: argparse.Namespace) -> int:
    try:
        result = tuner.join_study(args.name, _options(args), **_spec_settings(args))
    except KeyboardInterrupt:
        print(f"interrupted; to resume, run: {resume_hint(args.argv)}")
        return INTERRUPTED
    print(study_summary(result))
    return 0


def final(args: argparse.Namespace) -> int:
    spec = tuner.load_study_spec(args.name, **_spec_settings(args))  # checked, and its name
    print(final_line(spec.name, tuner.final(args.name, _options(args), trial=args.trial,
                                            **_spec_settings(args))))
    return 0


def predict(args: argparse.Namespace) -> int:
    result = tuner.predict(args.name, args.input, output=args.output, header=args.header,
                           model_uri=args.model_uri, tracking_uri=args.tracking_uri)
    print(result.summary())
    return 0


def list_studies(args: argparse.Namespace) -> int:
    url = resolve_url(args.storage)
    print(list_text(open_existing(url), url))
    _checkpoints(url)
    return 0


def _checkpoints(url: str) -> None:
    folder = local_folder(checkpoint_location(url, None))
    if folder is not None and folder.is_dir():
        print(checkpoints_line(folder))


def show(args: argparse.Namespace) -> int:
    url = resolve_url(args.storage)
    print(show_text(open_existing(url), url, args.name))
    _checkpoints(url)
    return 0


def ui(args: argparse.Namespace) -> int:
    return serve_ui(args.tracking_uri, host=args.host, port=args.port)


def report(args: argparse.Namespace) -> int:
    url = resolve_url(args.storage)
    page = write_report(open_existing(url), args.name,
                        Path(args.out) if args.out else default_out(args.name))
    print(f"Report written to {page}")
    return 0


COMMANDS = {"run": run, "gradcheck": gradcheck, "study": study, "worker": worker,
            "final": final, "predict": predict, "list": list_studies, "show": show, "ui": ui,
            "report": report}
