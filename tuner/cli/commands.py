"""Each command: its arguments -> an API call -> what it prints. Nothing here trains, stores or
tracks by itself."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tuner
from objectives.numpy_nets.gradcheck import TOLERANCE, check
from tuner.engine.checkpoints import checkpoint_location, local_folder
from tuner.engine.cluster_task import bind_to_parent
from tuner.reporting.inspect import checkpoints_line, list_text, show_text
from tuner.reporting.report import default_out, write_report
from tuner.reporting.summary import final_line, study_summary
from tuner.spec.describe import describe
from tuner.storage import mask, open_storage, resolve_url
from tuner.tracking import serve_ui

INTERRUPTED = 130


def _sets(args: argparse.Namespace) -> dict[str, str]:
    """--set key=value pairs as a dict (later wins)."""
    return dict(args.sets or [])


def _study_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The study arguments every study command passes to the API."""
    return {"dataset": args.dataset, "data_dir": args.data_dir, "storage": args.storage,
            "tracking_uri": args.tracking_uri, "tracking": not args.no_tracking,
            "seed": args.seed, "overrides": _sets(args), "threads": args.threads,
            "download": args.download}


def _checkpoint_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"checkpoints": not args.no_checkpoints, "checkpoint_dir": args.checkpoint_dir}


def resume_hint(args: argparse.Namespace) -> str:
    """The command line (URLs masked) that continues this run."""
    argv = ["python", "-m", "tuner", args.command, args.name]
    for flag, value in (("--dataset", args.dataset), ("--data-dir", args.data_dir),
                        ("--trials", args.trials), ("--seed", args.seed),
                        ("--threads", args.threads)):
        if value is not None:
            argv += [flag, str(value)]
    for key, value in args.sets or []:
        argv += ["--set", f"{key}={value}"]
    argv += ["--download"] if args.download else []
    argv += ["--no-tracking"] if args.no_tracking else []
    argv += ["--no-checkpoints"] if getattr(args, "no_checkpoints", False) else []
    if getattr(args, "checkpoint_dir", None):
        argv += ["--checkpoint-dir", args.checkpoint_dir]
    if getattr(args, "jobs", None) is not None:
        argv += ["--jobs", str(args.jobs)]
    if getattr(args, "cluster", None):
        argv += ["--cluster", args.cluster]
    if args.storage:
        argv += ["--storage", mask(args.storage)]
    if args.tracking_uri:
        argv += ["--tracking-uri", mask(args.tracking_uri)]
    if getattr(args, "final", False):
        argv.append("--final")
    return shlex.join(argv)


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

    result = tuner.train(args.objective, dataset=args.dataset, data_dir=args.data_dir,
                         config=_sets(args), seed=args.seed, report=report, progress=not quiet,
                         download=args.download)
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
    errors = check(args.objective, seed=args.seed)
    print(f"{args.objective}: max relative error, analytic vs centred differences (float64)")
    for name, error in errors.items():
        verdict = "ok" if error <= TOLERANCE else f"FAIL (> {TOLERANCE:g})"
        print(f"  {name:<4} {error:.3e}  {verdict}")
    return 0 if all(error <= TOLERANCE for error in errors.values()) else 1


def study(args: argparse.Namespace) -> int:
    spec = tuner.load_study_spec(args.name, dataset=args.dataset, overrides=_sets(args),
                                 trials=args.trials, seed=args.seed)
    if args.dry_run:
        print(describe(spec))
        return 0
    kwargs = {**_study_kwargs(args), "dataset": None, "seed": None, "overrides": None}
    try:
        result = tuner.run_study(spec, final=args.final, jobs=args.jobs,
                                 progress=not args.quiet, register=not args.no_register,
                                 cluster=args.cluster, **_checkpoint_kwargs(args), **kwargs)
    except KeyboardInterrupt:
        print(f"interrupted; to resume, run: {resume_hint(args)}")
        return INTERRUPTED
    print(study_summary(result))
    if result.final is not None:
        print(final_line(result.name, result.final))
    return 0


def worker(args: argparse.Namespace) -> int:
    bind_to_parent()  # started by a Dask task (tuner study --cluster): die with its worker
    try:
        result = tuner.join_study(args.name, trials=args.trials, progress=not args.quiet,
                                  **_checkpoint_kwargs(args), **_study_kwargs(args))
    except KeyboardInterrupt:
        print(f"interrupted; to resume, run: {resume_hint(args)}")
        return INTERRUPTED
    print(study_summary(result))
    return 0


def final(args: argparse.Namespace) -> int:
    spec = tuner.load_study_spec(args.name, dataset=args.dataset, overrides=_sets(args),
                                 trials=args.trials, seed=args.seed)
    kwargs = {**_study_kwargs(args), "dataset": None, "seed": None, "overrides": None}
    print(final_line(spec.name, tuner.final(spec, register=not args.no_register,
                                            trial=args.trial, **_checkpoint_kwargs(args),
                                            **kwargs)))
    return 0


def predict(args: argparse.Namespace) -> int:
    result = tuner.predict(args.name, args.input, output=args.output, model_uri=args.model_uri,
                           tracking_uri=args.tracking_uri)
    print(result.summary())
    return 0


def list_studies(args: argparse.Namespace) -> int:
    url = resolve_url(args.storage)
    print(list_text(open_storage(url), url))
    _checkpoints(url)
    return 0


def _checkpoints(url: str) -> None:
    folder = local_folder(checkpoint_location(url, None))
    if folder is not None and folder.is_dir():
        print(checkpoints_line(folder))


def show(args: argparse.Namespace) -> int:
    url = resolve_url(args.storage)
    print(show_text(open_storage(url), url, args.name))
    _checkpoints(url)
    return 0


def ui(args: argparse.Namespace) -> int:
    return serve_ui(args.tracking_uri, host=args.host, port=args.port)


def report(args: argparse.Namespace) -> int:
    url = resolve_url(args.storage)
    page = write_report(open_storage(url), args.name,
                        Path(args.out) if args.out else default_out(args.name))
    print(f"Report written to {page}")
    return 0


COMMANDS = {"run": run, "gradcheck": gradcheck, "study": study, "worker": worker,
            "final": final, "predict": predict, "list": list_studies, "show": show, "ui": ui,
            "report": report}
