"""`tuner run` (train one objective once with a fixed config) and `tuner gradcheck`.

`run` shows a progress bar and one line per reporting point on stderr; with --json, stdout holds
exactly one JSON document (objective, dataset, config, history, val_accuracy), else a summary line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from tqdm import tqdm

from objectives import data, registry
from objectives.config import resolve_config
from objectives.numpy_nets.gradcheck import TOLERANCE, check
from tuner.cli import parse_sets


def format_metrics(step: int, metrics: Mapping[str, float]) -> str:
    """One human-readable line for one reporting point."""
    return (
        f"[{step:3d}] epoch {metrics['epoch']:6.2f}  train_loss {metrics['train_loss']:.4f}  "
        f"train_accuracy {metrics['train_accuracy']:.4f}  val_loss {metrics['val_loss']:.4f}  "
        f"val_accuracy {metrics['val_accuracy']:.4f}  lr {metrics['lr']:.3g}  "
        f"{metrics['seconds']:.2f}s"
    )


def run_command(args: argparse.Namespace) -> int:
    objective = registry.get(args.objective)
    config = resolve_config(objective.name, objective.params, parse_sets(args.sets))
    dataset = data.load(args.dataset, data_dir=args.data_dir, seed=args.seed,
                        normalize=objective.normalize, download=args.download)
    planned = getattr(objective, "planned_reports", None)
    total = planned(config, len(dataset.train)) if planned is not None else None
    quiet = bool(getattr(args, "quiet", False))
    with tqdm(total=total, unit="eval", file=sys.stderr, disable=quiet, leave=False,
              desc=f"{objective.name} on {args.dataset}") as bar:

        def report(step: int, metrics: Mapping[str, float]) -> None:
            bar.update(1)
            if not quiet:
                bar.write(format_metrics(step, metrics), file=sys.stderr)

        result = objective.fit(config, dataset.train, dataset.val, report, args.seed,
                               dataset.image_shape)
    if args.json:
        document: dict[str, Any] = {
            "objective": objective.name,
            "dataset": args.dataset,
            "config": config,
            "history": result.history,
            "val_accuracy": result.val_accuracy,
        }
        print(json.dumps(document))
    else:
        last = result.history[-1] if result.history else {}
        print(f"{objective.name} on {args.dataset}: val_accuracy {result.val_accuracy:.4f} "
              f"after {last.get('epoch', 0.0):.2f} epochs, "
              f"{sum(h['seconds'] for h in result.history):.1f}s training")
    return 0


def gradcheck_command(args: argparse.Namespace) -> int:
    errors = check(args.objective, seed=args.seed)
    print(f"{args.objective}: max relative error, analytic vs centred differences (float64)")
    for name, error in errors.items():
        verdict = "ok" if error <= TOLERANCE else f"FAIL (> {TOLERANCE:g})"
        print(f"  {name:<4} {error:.3e}  {verdict}")
    return 0 if all(error <= TOLERANCE for error in errors.values()) else 1
