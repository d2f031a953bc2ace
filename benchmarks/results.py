"""Reproduce the course-report experiments: run each study (+ final) on real data through the
`tuner` CLI and print the results table (markdown).

    .venv/bin/python benchmarks/results.py [--only NAME ...] [--out /tmp/tuner-results]
        [--data-dir ../shared/data] [--trials NAME=N] [--set NAME:key=value] [--table-only]

Each study gets its own storage and MLflow store under --out (the repo's tuner.db and mlruns/
stay untouched); one JSON per study is written there, so studies can be run in separate
invocations and `--table-only` prints the combined table. For `sgd_batch_size` the best lr of
every batch-size stage is also retrained on train+val with the test split as the monitored split,
which gives per-batch-size test-accuracy, loss and time curves (docs/sgd_batch_size.png).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@dataclass(frozen=True)
class Experiment:
    """One course-report experiment: its study, the report's number and public anchors."""

    study: str
    dataset: str
    report: str
    anchors: str
    target: float


EXPERIMENTS = (
    Experiment("softmax_mnist", "mnist", "0.9253 SGD+momentum, 0.9264 Adam",
               "LeCun et al. 1998 linear classifier: 12.0 % error (8.4 % deskewed)", 0.926),
    Experiment("sgd_batch_size", "mnist", "0.916-0.9235 (bs 1..1000, 50 epochs)",
               "-", 0.916),
    Experiment("lambda_search", "cifar10", "~0.53", "DD2424 public results 0.514-0.520", 0.53),
    Experiment("mlp_mnist", "mnist", "~0.97", "LeCun et al. 1998 2-3 layer MLPs: 1.5-4.7 % error",
               0.984),
    Experiment("lenet_optimizers", "mnist", "0.9907 (Adam lr 5e-4, batch 64)",
               "LeNet-5 0.9905 (LeCun et al. 1998)", 0.991),
    Experiment("cifar_cnn_lr", "cifar10", "0.838 (200 epochs, SGD+Nesterov, warm-up, steps)",
               "-", 0.80),
)
BY_NAME = {e.study: e for e in EXPERIMENTS}


def run_study(exp: Experiment, out: Path, data_dir: str | None, trials: int | None,
              sets: Sequence[str]) -> dict[str, Any]:
    """`tuner study NAME --final` in a subprocess with its own storage; wall time and counts."""
    storage = f"sqlite:///{out / exp.study}.db"
    command = [sys.executable, "-m", "tuner", "-q", "study", exp.study, "--final",
               "--storage", storage, "--tracking-uri", f"sqlite:///{out / 'mlflow.db'}"]
    if data_dir:
        command += ["--data-dir", data_dir]
    if trials is not None:
        command += ["--trials", str(trials)]
    for pair in sets:
        command += ["--set", pair]
    print("$ " + " ".join(command[1:]), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    wall = time.perf_counter() - start
    row = {"study": exp.study, "command": " ".join(["python"] + command[1:]), "wall_seconds": wall,
           **collect(exp.study, storage)}
    (out / f"{exp.study}.json").write_text(json.dumps(row, indent=2, default=str))
    return row


def collect(name: str, storage: str) -> dict[str, Any]:
    """Trial counts, epochs trained and the final test result of study `name` from storage."""
    import optuna
    from optuna.trial import TrialState

    from tuner.spec import load_spec

    spec = load_spec(name)
    counts = {"complete": 0, "pruned": 0, "failed": 0}
    epochs = 0.0
    final: dict[str, Any] | None = None
    for stage in spec.stages:
        study = optuna.load_study(study_name=spec.study_name(stage.name), storage=storage)
        for t in study.get_trials(deepcopy=False):
            if t.user_attrs.get("reason") == "surplus":
                continue
            key = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned"}.get(t.state,
                                                                                     "failed")
            counts[key] += 1
            epochs += float(t.user_attrs.get("epochs", 0.0))
        final = study.user_attrs.get("final", final)
    return {"trials": counts, "search_epochs": epochs, "final": final}


def final_length(final: Mapping[str, Any] | None) -> str:
    """How long the final retraining was, in the objective's own units."""
    if not final:
        return "-"
    config = final.get("config", {})
    if "cycles" in config:
        return f"{config['cycles']} cycles"
    return f"{config.get('epochs', '?')} epochs"


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The markdown results table."""
    lines = ["| experiment | course report | public anchors | ours: test acc (final) | target | "
             "trials (complete/pruned/failed) | search epochs | final | wall time |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        exp = BY_NAME[row["study"]]
        final = row.get("final") or {}
        acc = final.get("test_accuracy")
        shown = "-" if acc is None else f"**{acc:.4f}**" if acc >= exp.target else f"{acc:.4f}"
        t = row["trials"]
        lines.append(
            f"| {exp.study} ({exp.dataset}) | {exp.report} | {exp.anchors} | {shown} | "
            f">= {exp.target} | {t['complete']}/{t['pruned']}/{t['failed']} | "
            f"{row['search_epochs']:.0f} | {final_length(final)} | "
            f"{row['wall_seconds'] / 60:.1f} min |")
    return "\n".join(lines)


def batch_size_curves(out: Path, data_dir: str | None, epochs: int,
                      bs1_epochs: int) -> list[dict[str, Any]]:
    """Retrain each batch-size stage's best lr on train+val; the test split is the monitored
    split, so each epoch's val_accuracy here is test accuracy (selection was done before)."""
    import optuna

    from objectives import data as data_mod
    from objectives.base import no_report
    from tuner.spec import load_spec

    spec = load_spec("sgd_batch_size")
    data = data_mod.load(spec.dataset, data_dir=data_dir, val_size=spec.val_size,
                         seed=spec.seed, normalize=spec.objective.normalize)
    train, _, test = data.final_splits(spec.final.monitor)
    storage = f"sqlite:///{out / 'sgd_batch_size'}.db"
    curves = []
    for stage in spec.stages:
        best = optuna.load_study(study_name=spec.study_name(stage.name), storage=storage).best_trial
        n = bs1_epochs if best.params["batch_size"] == 1 else epochs
        config = {**spec.stage_fixed(stage), **best.params, "epochs": n}
        history = spec.objective.fit(config, train, test, no_report, spec.seed,
                                     data.image_shape).history
        row = {"batch_size": best.params["batch_size"], "lr": best.params["lr"], "epochs": n,
               "seconds": sum(h["seconds"] for h in history),
               "test_accuracy": history[-1]["val_accuracy"], "history": history}
        print(f"batch {row['batch_size']:>4}: lr {row['lr']:.3g}, {n} epochs, "
              f"{row['seconds']:.1f} s, test accuracy {row['test_accuracy']:.4f}", flush=True)
        curves.append(row)
    (out / "sgd_batch_size_curves.json").write_text(json.dumps(curves, indent=2))
    return curves


def plot_curves(curves: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Test accuracy and training loss per epoch, and test accuracy vs training seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for row in curves:
        h = row["history"]
        label = f"batch {row['batch_size']} (lr {row['lr']:.2g})"
        ep = [r["epoch"] for r in h]
        secs = [sum(r["seconds"] for r in h[: i + 1]) for i in range(len(h))]
        axes[0].plot(ep, [r["val_accuracy"] for r in h], label=label)
        axes[1].plot(ep, [r["train_loss"] for r in h], label=label)
        axes[2].plot(secs, [r["val_accuracy"] for r in h], marker=".", label=label)
    for ax, (x, y) in zip(axes, (("epoch", "test accuracy"), ("epoch", "training loss"),
                                 ("training seconds", "test accuracy")), strict=True):
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(0.88, 0.93)
    axes[2].set_ylim(0.88, 0.93)
    axes[2].set_xscale("log")
    axes[0].legend()
    fig.suptitle("SGD softmax regression on MNIST: each batch size with its own tuned lr")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curves_table(curves: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| batch size | tuned lr | epochs | training seconds | s / epoch | test accuracy |",
             "|---|---|---|---|---|---|"]
    for row in curves:
        lines.append(f"| {row['batch_size']} | {row['lr']:.3g} | {row['epochs']} | "
                     f"{row['seconds']:.1f} | {row['seconds'] / row['epochs']:.2f} | "
                     f"{row['test_accuracy']:.4f} |")
    return "\n".join(lines)


def _per_study(pairs: Sequence[str], sep: str) -> dict[str, list[str]]:
    """NAME<sep>VALUE pairs grouped by study name."""
    out: dict[str, list[str]] = {}
    for pair in pairs:
        name, found, value = pair.partition(sep)
        if not found or name not in BY_NAME:
            raise SystemExit(f"error: expected STUDY{sep}VALUE with STUDY one of "
                             f"{', '.join(BY_NAME)}; got {pair!r}")
        out.setdefault(name, []).append(value)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(BY_NAME), help="studies to run")
    parser.add_argument("--out", default="/tmp/tuner-results", help="storage and JSON folder")
    parser.add_argument("--data-dir", default=os.environ.get("TUNER_DATA_DIR", "../shared/data"))
    parser.add_argument("--trials", action="append", default=[], metavar="NAME=N",
                        help="override one study's trial counts (repeatable)")
    parser.add_argument("--set", dest="sets", action="append", default=[],
                        metavar="NAME:key=value", help="override one study's fixed param")
    parser.add_argument("--curve-epochs", type=int, default=50,
                        help="sgd_batch_size curves: epochs per batch size")
    parser.add_argument("--bs1-epochs", type=int, default=10,
                        help="sgd_batch_size curves: epochs for batch size 1 (slow in Python)")
    parser.add_argument("--table-only", action="store_true", help="print the table from --out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    trials = {k: int(v[-1]) for k, v in _per_study(args.trials, "=").items()}
    sets = _per_study(args.sets, ":")
    if not args.table_only:
        for name in args.only or list(BY_NAME):
            run_study(BY_NAME[name], out, args.data_dir, trials.get(name), sets.get(name, []))
            if name == "sgd_batch_size":
                curves = batch_size_curves(out, args.data_dir, args.curve_epochs,
                                           args.bs1_epochs)
                plot_curves(curves, DOCS / "sgd_batch_size.png")
    rows = [json.loads((out / f"{e.study}.json").read_text()) for e in EXPERIMENTS
            if (out / f"{e.study}.json").is_file()]
    print(table(rows))
    curves_file = out / "sgd_batch_size_curves.json"
    if curves_file.is_file():
        print()
        print(curves_table(json.loads(curves_file.read_text())))
    for row in rows:
        print(f"\n{row['study']}: {row['command']}  ({row['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
