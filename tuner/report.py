"""Plots and the study report: learning curves, LR schedule, confusion matrix, Optuna's study
plots, a trials CSV, and `tuner report NAME` which writes them with a Markdown summary page.

The per-trial line charts (learning curves, LR schedule) are drawn with Pillow's ImageDraw: a few
ms each instead of ~40 ms with matplotlib, which was most of the per-trial tracking cost (see
benchmarks/bench_tracking.py). The rest uses matplotlib's Agg backend on `Figure` objects.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import optuna  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from tuner.errors import StorageError  # noqa: E402
from tuner.storage import mask, open_storage, resolve_url  # noqa: E402

log = logging.getLogger(__name__)

STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
STAGE_SEPARATORS = ("/", ".", ":")
_DPI = 80
_FONT = ImageFont.load_default(11)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI)
    return path


_PANEL = (300, 220)  # pixels of one panel of a per-trial line chart
_FRAME = {"left": 52, "right": 10, "top": 22, "bottom": 34}
_COLORS = ("#1f77b4", "#ff7f0e")  # train, val (matplotlib's first two)
_LIGHT = "#e6e6e6"


def _x_axis(history: Sequence[Mapping[str, float]]) -> tuple[list[float], str]:
    """Epochs when every row has one (may be fractional), else the reporting step."""
    if history and all("epoch" in row for row in history):
        return [float(row["epoch"]) for row in history], "epoch"
    return [float(i + 1) for i in range(len(history))], "step"


def _series(history: Sequence[Mapping[str, float]], key: str) -> list[float]:
    return [float(row.get(key, math.nan)) for row in history]


def _ticks(values: Sequence[float]) -> tuple[float, float, list[float]]:
    """Axis limits with a 5 % margin and up to 6 round tick values inside them."""
    finite = [v for v in values if math.isfinite(v)] or [0.0, 1.0]
    low, high = min(finite), max(finite)
    pad = 0.05 * (high - low) or 0.5 * (abs(low) or 1.0)
    low, high = low - pad, high + pad
    return low, high, [t for t in MaxNLocator(5).tick_values(low, high) if low <= t <= high]


def _panel(draw: ImageDraw.ImageDraw, left: int, x: Sequence[float], xlabel: str, ylabel: str,
           series: Mapping[str, Sequence[float]]) -> None:
    """One line chart (frame, grid, tick labels, a line with dots per series, legend) drawn
    in the panel whose left edge is at pixel `left`."""
    width, height = _PANEL
    x0, x1 = left + _FRAME["left"], left + width - _FRAME["right"]
    y0, y1 = _FRAME["top"], height - _FRAME["bottom"]
    xlow, xhigh, xticks = _ticks(x)
    ylow, yhigh, yticks = _ticks([v for values in series.values() for v in values])

    def point(xv: float, yv: float) -> tuple[float, float]:
        return (x0 + (xv - xlow) / (xhigh - xlow) * (x1 - x0),
                y1 - (yv - ylow) / (yhigh - ylow) * (y1 - y0))

    for t in xticks:
        px = point(t, ylow)[0]
        draw.line([(px, y0), (px, y1)], fill=_LIGHT)
        draw.text((px, y1 + 3), f"{t:g}", fill="black", font=_FONT, anchor="mt")
    for t in yticks:
        py = point(xlow, t)[1]
        draw.line([(x0, py), (x1, py)], fill=_LIGHT)
        draw.text((x0 - 4, py), f"{t:.4g}", fill="black", font=_FONT, anchor="rm")
    draw.rectangle([x0, y0, x1, y1], outline="black")
    draw.text(((x0 + x1) / 2, height - 4), xlabel, fill="black", font=_FONT, anchor="md")
    draw.text((x0, 4), ylabel, fill="black", font=_FONT, anchor="lt")
    for i, (key, values) in enumerate(series.items()):
        color = _COLORS[i % len(_COLORS)]
        points = [point(a, b) for a, b in zip(x, values, strict=True) if math.isfinite(b)]
        if len(points) > 1:
            draw.line(points, fill=color, width=2)
        for px, py in points:
            draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=color)
        if len(series) > 1:
            draw.text((x1 - 70 + 35 * i, 6), key.split("_")[0], fill=color, font=_FONT,
                      anchor="lt")


def _line_charts(history: Sequence[Mapping[str, float]], path: Path,
                 panels: Sequence[tuple[str, Sequence[str]]]) -> Path:
    """Panels side by side, each plotting `keys` of every history row against epoch."""
    x, xlabel = _x_axis(history)
    width, height = _PANEL
    image = Image.new("RGB", (width * len(panels), height), "white")
    draw = ImageDraw.Draw(image)
    for i, (ylabel, keys) in enumerate(panels):
        _panel(draw, i * width, x, xlabel, ylabel, {k: _series(history, k) for k in keys})
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", compress_level=1)  # 2x faster to write than the default 6
    return path


def plot_learning_curves(history: Sequence[Mapping[str, float]], path: Path) -> Path:
    """Loss and accuracy, train vs val, against epoch: one PNG with two panels."""
    return _line_charts(history, path, [("loss", ("train_loss", "val_loss")),
                                        ("accuracy", ("train_accuracy", "val_accuracy"))])


def plot_lr_schedule(history: Sequence[Mapping[str, float]], path: Path, title: str = "") -> Path:
    """The learning rate used at each reporting point."""
    label = f"learning rate ({title})" if title else "learning rate"
    return _line_charts(history, path, [(label, ("lr",))])


def plot_confusion_matrix(
    matrix: np.ndarray | Sequence[Sequence[int]], path: Path, labels: Sequence[str] | None = None
) -> Path:
    """Counts of true (rows) vs predicted (columns) classes, annotated."""
    counts = np.asarray(matrix)
    n = counts.shape[0]
    names = list(labels) if labels is not None else [str(i) for i in range(n)]
    fig = Figure(figsize=(1.0 + 0.5 * n, 0.8 + 0.5 * n))
    ax = fig.subplots()
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = counts.max() / 2 if counts.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=7,
                    color="white" if counts[i, j] > threshold else "black")
    fig.tight_layout()
    return _save(fig, path)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j] = how many samples of class i were predicted as j."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return counts


def state_counts(study: optuna.Study) -> dict[str, int]:
    """How many trials are in each state (COMPLETE, PRUNED, FAIL, ...); zero counts included
    for COMPLETE, PRUNED and FAIL."""
    counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The best complete trial, or None when no trial completed."""
    try:
        return study.best_trial
    except ValueError:
        return None


def trials_csv(study: optuna.Study, path: Path) -> Path:
    """One row per trial: number, state, value, start, seconds, then every param."""
    trials = study.get_trials(deepcopy=False)
    names = sorted({name for t in trials for name in t.params})
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", "state", "value", "datetime_start", "seconds", *names])
        for t in trials:
            seconds = t.duration.total_seconds() if t.duration is not None else ""
            start = t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else ""
            value = "" if t.value is None else t.value
            writer.writerow([t.number, t.state.name, value, start, seconds,
                             *(t.params.get(name, "") for name in names)])
    return path


def _importances(study: optuna.Study) -> dict[str, float]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.importance.get_param_importances(study)
    except Exception:  # noqa: BLE001 - too few trials or a single distribution value
        return {}


def study_plots(study: optuna.Study, out: Path) -> list[Path]:
    """Optuna's matplotlib plots as PNGs in `out`; a plot that cannot be drawn (too few complete
    trials, one param) is skipped. Contour uses the (up to) three most important params."""
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as vis

    complete = [t for t in study.get_trials(deepcopy=False)
                if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return []
    params = sorted({name for t in complete for name in t.params})
    ranked = list(_importances(study)) or params
    plots: list[tuple[str, Any]] = [
        ("optimization_history", lambda: vis.plot_optimization_history(study)),
        ("intermediate_values", lambda: vis.plot_intermediate_values(study)),
    ]
    if params:
        plots += [("slice", lambda: vis.plot_slice(study)),
                  ("parallel_coordinate", lambda: vis.plot_parallel_coordinate(study))]
    if len(ranked) >= 2 and len(complete) >= 2:
        plots.append(("param_importances", lambda: vis.plot_param_importances(study)))
    if len(params) >= 2:
        plots.append(("contour", lambda: vis.plot_contour(study, params=ranked[:3])))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    # Optuna's plots log warnings of their own (a contour param with one distinct value) on the
    # console the user is watching: keep them to errors while drawing.
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        for name, draw in plots:
            if _draw(name, draw, out):
                written.append(out / f"{name}.png")
    finally:
        optuna.logging.set_verbosity(verbosity)
    plt.close("all")
    return written


def _draw(name: str, draw: Any, out: Path) -> bool:
    """Draw one Optuna plot into out/NAME.png; False when it cannot be drawn."""
    import matplotlib.pyplot as plt

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            axes = draw()
            fig = np.asarray(axes).flat[0].get_figure()
            width, height = (9.0, 7.5) if np.asarray(axes).size > 1 else (6.4, 4.8)
            fig.set_size_inches(max(fig.get_figwidth(), width),
                                max(fig.get_figheight(), height))
            fig.savefig(out / f"{name}.png", dpi=_DPI, bbox_inches="tight")
        plt.close(fig)
        return True
    except Exception as exc:  # noqa: BLE001 - a missing plot must not stop the report
        log.debug("skipped %s plot: %s", name, exc)
        return False


def stage_studies(storage: Any, name: str) -> list[str]:
    """Optuna study names that belong to study `name`: itself, or `name` + separator + stage."""
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    names = [s.study_name for s in summaries]
    prefixes = tuple(name + sep for sep in STAGE_SEPARATORS)
    return [n for n in names if n == name or n.startswith(prefixes)]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_report(storage: Any, name: str, out: Path) -> Path:
    """Plots, trials CSV and best params of every stage of study `name`; returns README.md."""
    found = stage_studies(storage, name)
    if not found:
        raise StorageError(f"No study named '{name}' in the storage; `tuner list` shows them.")
    lines = [f"# Study report: {name}", "",
             f"Written {datetime.now().isoformat(timespec='seconds')} by `tuner report`.", ""]
    for study_name in found:
        study = optuna.load_study(study_name=study_name, storage=storage)
        folder = out / _safe_dir(study_name)
        trials_csv(study, folder / "trials.csv")
        plots = study_plots(study, folder)
        counts = state_counts(study)
        best = best_trial(study)
        lines += [f"## {study_name}", "",
                  f"Direction: {study.direction.name.lower()}. Trials: "
                  + ", ".join(f"{n} {state.lower()}" for state, n in counts.items()),
                  f"([trials.csv]({folder.name}/trials.csv))", ""]
        if best is not None:
            lines += [f"Best value **{_fmt(best.value)}** (trial {best.number}):", "",
                      "| param | value |", "|---|---|"]
            lines += [f"| {k} | {_fmt(v)} |" for k, v in best.params.items()]
            lines.append("")
        final = study.user_attrs.get("final")
        if isinstance(final, Mapping):
            lines += ["Final evaluation (best config retrained, test split used once):", "",
                      "| result | value |", "|---|---|"]
            lines += [f"| {k} | {_fmt(v)} |" for k, v in final.items()
                      if not isinstance(v, (Mapping, list))]
            lines.append("")
        for plot in plots:
            lines += [f"![{plot.stem}]({folder.name}/{plot.name})", ""]
    page = out / "README.md"
    page.write_text("\n".join(lines))
    return page


def _safe_dir(study_name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in study_name)


def report_command(args: argparse.Namespace) -> int:
    """`tuner report NAME [--out DIR] [--storage URL]`."""
    url = resolve_url(args.storage)
    out = Path(args.out or Path("reports") / _safe_dir(args.name))
    try:
        storage = open_storage(url)
    except Exception as exc:
        raise StorageError(f"Cannot open storage {mask(url)}: {exc}") from None
    page = write_report(storage, args.name, out)
    print(f"Report written to {page}")
    return 0
