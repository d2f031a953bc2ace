"""A tiny objective for plumbing tests: a quadratic "training" that reports a few steps.

val_accuracy peaks at x = 2, y = 3 and grows with the step, so pruners have curves to compare.
`sleep` slows each step, `hold` (a file path) stops every trial after its first report until
that file exists (kill and interrupt tests then land mid-trial for certain, whatever the load),
`hold_exit` (a file path) holds the process in its exit (Python joining its threads, as it does
MLflow's writer) until that file exists, after touching `hold_exit`.exiting,
`fail_above` / `diverge_above` make trials with x above the threshold raise, to exercise failure
handling; `noise` adds a training seed's luck to the score (each run reports its seed as
`training_seed`). No data is used beyond its length.
Use it in a study file as objective = "tests.toy_objective:TOY".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from objectives.base import Param, Reporter, RunResult, Split
from objectives.config import resolve_config
from objectives.errors import DivergenceError


class ToyModel:
    """Predicts the majority class; enough for the final-evaluation plumbing."""

    def __init__(self, label: int, score: float) -> None:
        self.label = label
        self.score = score

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        accuracy = float(np.mean(self.predict(X) == y)) if len(y) else 0.0
        return {"loss": 1.0 - self.score, "accuracy": accuracy}

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(X.shape[0], self.label, dtype=np.int64)

    def save(self, path: Path) -> Path:
        out = path.with_suffix(".npz")
        np.savez(out, label=np.array([self.label]), score=np.array([self.score]))
        return out


def hold_exit(gate: Path) -> None:
    """A thread (one per process) that, once the main thread has finished and the process
    is exiting, touches `gate`.exiting and keeps the exit waiting until `gate` exists."""
    if any(t.name == "hold_exit" for t in threading.enumerate()):
        return

    def wait() -> None:
        while threading.main_thread().is_alive():
            time.sleep(0.02)
        gate.with_name(gate.name + ".exiting").touch()
        while not gate.exists():
            time.sleep(0.02)

    threading.Thread(target=wait, name="hold_exit").start()


class Toy:
    name = "toy"
    normalize = "feature"
    params: Mapping[str, Param] = {
        "x": Param("float", 0.0, low=-10.0, high=10.0),
        "y": Param("int", 0, low=0, high=10),
        "lr": Param("float", 0.1, low=1e-6, high=10.0),
        "optimizer": Param("str", "sgd", choices=("sgd", "momentum", "adam")),
        "momentum": Param("float", 0.9, low=0.0, high=1.0),
        "epochs": Param("int", 4, low=1),
        "sleep": Param("float", 0.0, low=0.0),
        "fail_above": Param("float", 1e9),
        "diverge_above": Param("float", 1e9),
        "milestones": Param("ints", [2, 3]),
        "hold": Param("str", ""),
        "hold_exit": Param("str", ""),
        "noise": Param("float", 0.0, low=0.0),
    }

    def fit(self, config: Mapping[str, Any], train: Split, val: Split, report: Reporter,
            seed: int, image_shape: tuple[int, int, int]) -> RunResult:
        cfg = resolve_config(self.name, self.params, config)
        if cfg["hold_exit"]:
            hold_exit(Path(cfg["hold_exit"]))
        score = 1.0 / (1.0 + (cfg["x"] - 2.0) ** 2 + 0.1 * (cfg["y"] - 3) ** 2)
        score += cfg["noise"] * float(np.random.default_rng(seed).normal())  # a seed's luck
        history: list[dict[str, float]] = []
        for step in range(1, cfg["epochs"] + 1):
            time.sleep(cfg["sleep"])
            if cfg["x"] > cfg["fail_above"]:
                raise RuntimeError(f"toy failure at x={cfg['x']:.3f}")
            if cfg["x"] > cfg["diverge_above"]:
                raise DivergenceError("loss is nan", step=step)
            acc = score * step / cfg["epochs"]
            metrics = {"epoch": float(step), "train_loss": 1.0 - acc, "train_accuracy": acc,
                       "val_loss": 1.0 - acc, "val_accuracy": acc, "lr": cfg["lr"],
                       "seconds": cfg["sleep"], "training_seed": float(seed)}
            history.append(metrics)
            report(step, metrics)
            while cfg["hold"] and not Path(cfg["hold"]).exists():
                time.sleep(0.02)
        labels = train.y if len(train) else np.zeros(1, dtype=np.int64)
        return RunResult(model=ToyModel(int(np.bincount(labels).argmax()), score), history=history)


TOY = Toy()
