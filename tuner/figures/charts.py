"""The per-trial line charts (learning curves, LR schedule), drawn with Pillow's ImageDraw rather
than matplotlib, because they are drawn for every trial and matplotlib's figures would be most of
a trial's tracking cost (docs/performance.md, "Tracking and storage overhead")."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageDraw, ImageFont

_FONT = ImageFont.load_default(11)
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
    image.save(path, format="PNG", compress_level=1)  # small files, written per trial: speed first
    return path


CURVES = ("loss", "accuracy", "rmse", "r2", "f1", "mae")
"""The metrics a learning-curve panel can show, in order of preference."""


def plot_learning_curves(history: Sequence[Mapping[str, float]], path: Path) -> Path:
    """Train vs val against epoch, one panel per metric: loss and accuracy for classifiers,
    rmse and r2 for regression (the first two of CURVES the history holds)."""
    present = [m for m in CURVES if any(f"val_{m}" in row or f"train_{m}" in row
                                         for row in history)]
    shown = (present + [m for m in ("loss", "accuracy") if m not in present])[:2]
    panels = [(m, (f"train_{m}", f"val_{m}")) for m in shown]
    return _line_charts(history, path, panels)


def plot_lr_schedule(history: Sequence[Mapping[str, float]], path: Path, title: str = "") -> Path:
    """The learning rate used at each reporting point."""
    label = f"learning rate ({title})" if title else "learning rate"
    return _line_charts(history, path, [(label, ("lr",))])
