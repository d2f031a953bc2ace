"""Search efficiency: epochs and wall time until the best val accuracy is within 0.3 points of
the best known, for three strategies on real data, over several seeds.

"Best" is each strategy's incumbent, the trial its study metric ranks first (for lambda_search,
which minimizes val_loss, the lowest val loss); the curves follow that trial's val accuracy.

    .venv/bin/python benchmarks/bench_search.py [--cases softmax_mnist lambda_search]
        [--seeds 0 1 2] [--data-dir ../shared/data] [--out /tmp/tuner-bench]

Strategies, all run through the Python API (tuner.run_study on one resumable storage):
  default  the study file as it is: TPE + median pruning, coarse -> fine stages;
  random   random search over the study's first-stage space, no pruning, as many trials;
  grid     the one-knob-at-a-time grid of the course reports as a GridSampler study (the
           Cartesian product of the values they tried). Grid trials do not depend on their order
           and are not pruned, so the grid is trained once and each seed replays it in a random
           order (what GridSampler(seed=s) does: it picks unvisited points at random).
"Best known" is the best val accuracy any strategy reached on that case. Each strategy's best
config is then retrained on train+val (the case's training size) and tested once.
Cases use a training subset to fit a 2-core budget (see CASES). Writes docs/search_efficiency.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

import tuner
from objectives import data as data_mod
from objectives.data import Dataset
from tuner.engine.preflight import monitor_size
from tuner.spec import ParamSpace, Stage, StudySpec, load_spec

ROOT = Path(__file__).resolve().parents[1]

TOLERANCE = 0.003
VAL_SIZE = 20_000
"""Validation images per case: one standard deviation of val accuracy is then 0.2 points at 91 %
(MNIST softmax) and 0.35 at 47 % (CIFAR-10), against 0.4 and 0.7 with 5,000; below the 0.3-point
window the "best known" would be mostly the luckiest of a few hundred noisy evaluations."""
Curves = dict[str, list[list[tuple[float, float, float]]]]
"""Per strategy, one trajectory per seed (see trajectory)."""
STRATEGIES = ("default", "random", "grid")
Finished = tuple[FrozenTrial, Mapping[str, Any]]
"""A finished trial and the fixed params of its stage (spec.stage_fixed)."""


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark problem: a study file, a training subset and the hand-tuner's grid."""

    study: str
    train_limit: int
    val_size: int
    grid: Mapping[str, Sequence[Any]]
    sets: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    same_training: bool = False
    """Drop the study's stage-level `set`, so every strategy trains with the same [fixed] params
    (lambda_search's fine stage trains 12 cycles instead of 2: a longer objective, not a search)."""


CASES = {
    "softmax_mnist": Case(
        "softmax_mnist", train_limit=20_000, val_size=VAL_SIZE,
        grid={"lr": [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3], "batch_size": [32, 100, 500],
              "momentum": [0.5, 0.9, 0.99], "schedule": ["constant", "step", "exponential"]},
        sets={"optimizer": "momentum", "epochs": 20, "lambda": 1e-4}),
    "lambda_search": Case(
        "lambda_search", train_limit=10_000, val_size=VAL_SIZE,
        grid={"lambda": [float(v) for v in np.logspace(-5, -1, 17)]}, same_training=True),
}


def case_spec(case: Case, strategy: str, seed: int) -> StudySpec:
    """The study file turned into one strategy's spec (renamed so strategies share a storage)."""
    spec = load_spec(case.study, seed=seed)
    spec = dataclasses.replace(spec, train_limit=case.train_limit, val_size=case.val_size)
    if case.same_training:
        spec = dataclasses.replace(spec, stages=tuple(dataclasses.replace(s, overrides={})
                                                      for s in spec.stages))
    if strategy == "random":
        trials = sum(s.trials or 0 for s in spec.stages)
        stage = dataclasses.replace(spec.stages[0], name="random", sampler="random",
                                    sampler_options={}, pruner="none", pruner_options={},
                                    trials=trials, refine=None)
        spec = dataclasses.replace(spec, stages=(stage,))
    elif strategy == "grid":
        space = tuple(ParamSpace(name=k, kind="categorical", choices=tuple(v))
                      for k, v in case.grid.items())
        stage = Stage(name="grid", sampler="grid", sampler_options={}, pruner="none",
                      pruner_options={}, trials=math.prod(len(v) for v in case.grid.values()),
                      timeout=None, space=space)
        spec = dataclasses.replace(spec, seed=0, stages=(stage,),
                                   fixed={**spec.fixed, **case.sets})
    return dataclasses.replace(spec, name=f"bench-{case.study}-{strategy}-s{spec.seed}-"
                                          f"{fingerprint(spec)}")


def fingerprint(spec: StudySpec) -> str:
    """A short hash of what a strategy runs: an edited study file gets fresh studies in the
    (resumable) benchmark storage instead of resuming stale ones."""
    text = repr((spec.stages, sorted(spec.fixed.items()), spec.train_limit, spec.val_size))
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def load_case_data(spec: StudySpec, data_dir: str | None) -> Dataset:
    """The dataset a case's strategies train on (its training subset and val size)."""
    return data_mod.load(spec.dataset, data_dir=data_dir, val_size=spec.val_size, seed=spec.seed,
                         normalize=spec.objective.normalize, train_limit=spec.train_limit)


def run_strategy(spec: StudySpec, storage: str, data_dir: str | None) -> list[Finished]:
    """Run every stage of `spec` (resuming if stored) and return its finished trials in order."""
    tuner.run_study(spec, storage=storage, data_dir=data_dir, tracking=False, progress=False)
    trials: list[Finished] = []
    for stage in spec.stages:
        study = optuna.load_study(study_name=spec.study_name(stage.name), storage=storage)
        trials += [(t, spec.stage_fixed(stage)) for t in study.get_trials(deepcopy=False)
                   if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    return trials


def trajectory(trials: Sequence[Finished], direction: str
               ) -> list[tuple[float, float, float]]:
    """(cumulative epochs, cumulative trial seconds, val accuracy of the incumbent) after each
    trial; the incumbent is the completed trial with the best study value (`direction`). A
    pruned trial counts the epochs it ran."""
    out = []
    epochs = seconds = 0.0
    best, accuracy = None, -math.inf
    for t, _ in trials:
        epochs += float(t.user_attrs.get("epochs", 0.0))
        seconds += float(t.user_attrs.get("seconds", 0.0))
        value = t.value if t.state == TrialState.COMPLETE else None
        if value is not None and math.isfinite(value) and (
                best is None or (value > best if direction == "maximize" else value < best)):
            best, accuracy = value, float(t.user_attrs["metrics"]["val_accuracy"])
        out.append((epochs, seconds, accuracy))
    return out


def cost_to_target(traj: Sequence[tuple[float, float, float]],
                   target: float) -> tuple[float, float, bool]:
    """(epochs, seconds) at the first point whose best-so-far reaches `target`; when never
    reached, the total spent and False."""
    for epochs, seconds, best in traj:
        if best >= target:
            return epochs, seconds, True
    if not traj:
        return 0.0, 0.0, False
    return traj[-1][0], traj[-1][1], False


def in_window(trials: Sequence[Finished], target: float) -> tuple[int, int]:
    """(completed trials whose val accuracy reached `target`, completed trials): how rare the
    window is among the configs a strategy trained to the end."""
    done = [t for t, _ in trials if t.state == TrialState.COMPLETE]
    hits = sum(float(t.user_attrs["metrics"]["val_accuracy"]) >= target for t in done)
    return hits, len(done)


def replay(trials: Sequence[Finished], seed: int) -> list[Finished]:
    """The grid's trials in the random order a GridSampler with `seed` would visit them."""
    order = np.random.default_rng(seed).permutation(len(trials))
    return [trials[i] for i in order]


def best_config(trials: Sequence[Finished], direction: str) -> dict[str, Any]:
    """The config the best completed trial trained with (its stage's fixed params + its own)."""
    done = [(t, fixed) for t, fixed in trials
            if t.state == TrialState.COMPLETE and t.value is not None]
    sign = 1.0 if direction == "maximize" else -1.0
    best, fixed = max(done, key=lambda pair: sign * float(pair[0].value or 0.0))
    return {**fixed, **best.params}


def test_accuracy(spec: StudySpec, data: Any, config: Mapping[str, Any], train_size: int) -> float:
    """Retrain `config` on train+val limited to `train_size` samples and test once."""
    from objectives.base import Split, no_report

    train, monitor, test = data.final_splits(monitor_size(spec, data))
    train = Split(train.X[:train_size], train.y[:train_size])
    result = spec.objective.fit({**config, **spec.final.overrides}, train, monitor, no_report,
                                spec.seed, data.image_shape)
    return float(result.model.evaluate(test.X, test.y)["accuracy"])


def run_case(case: Case, seeds: Sequence[int], out: Path, data_dir: str | None,
             strategies: Sequence[str] = STRATEGIES) -> tuple[list[dict[str, Any]], Curves]:
    """Every strategy x seed of one case; rows for the table and trajectories for the plot."""
    storage = f"sqlite:///{out / case.study}.db"
    base = dataclasses.replace(load_spec(case.study), train_limit=case.train_limit,
                               val_size=case.val_size)
    data = load_case_data(base, data_dir)
    runs: dict[str, list[tuple[StudySpec, list[Finished], float]]] = {s: [] for s in strategies}
    grid_trials: list[Finished] | None = None
    for strategy in strategies:
        for seed in seeds:
            spec = case_spec(case, strategy, seed)
            start = time.perf_counter()
            if strategy == "grid":
                if grid_trials is None:
                    grid_trials = run_strategy(spec, storage, data_dir)
                trials = replay(grid_trials, seed)
            else:
                trials = run_strategy(spec, storage, data_dir)
            wall = time.perf_counter() - start
            print(f"{case.study} {strategy} seed {seed}: {len(trials)} trials, {wall:.0f} s",
                  flush=True)
            runs[strategy].append((spec, trials, wall))
    direction = base.direction
    best_known = max(trajectory(t, direction)[-1][2] for rs in runs.values() for _, t, _ in rs)
    target = best_known - TOLERANCE
    rows = []
    curves: Curves = {}
    for strategy, rs in runs.items():
        curves[strategy] = [trajectory(t, direction) for _, t, _ in rs]
        for (spec, trials, _), traj, seed in zip(rs, curves[strategy], seeds, strict=True):
            epochs, seconds, reached = cost_to_target(traj, target)
            acc = test_accuracy(spec, data, best_config(trials, direction), len(data.train))
            hits, completed = in_window(trials, target)
            rows.append({"case": case.study, "strategy": strategy, "seed": seed,
                         "epochs": epochs, "seconds": seconds, "reached": reached,
                         "hits": hits, "completed": completed,
                         "total_epochs": traj[-1][0], "best_val": traj[-1][2],
                         "test_accuracy": acc, "best_known": best_known})
    return rows, curves


def summary_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Markdown: per case and strategy, means over seeds and the ratio to the default."""
    lines = ["| case | strategy | seeds reaching target | epochs to target (mean) | "
             "trial seconds to target (mean) | epochs vs default | total epochs | "
             "best val (mean) | test acc (mean) | completed trials in window |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for case in dict.fromkeys(r["case"] for r in rows):
        mine = [r for r in rows if r["case"] == case]
        present = [s for s in STRATEGIES if any(r["strategy"] == s for r in mine)]
        means = {s: float(np.mean([r["epochs"] for r in mine if r["strategy"] == s]))
                 for s in present}
        for s in present:
            rs = [r for r in mine if r["strategy"] == s]
            reached = sum(r["reached"] for r in rs)
            unreached = "" if reached == len(rs) else " (>= : some never reached it)"
            lines.append(
                f"| {case} (best known {rs[0]['best_known']:.4f}) | {s} | {reached}/{len(rs)} | "
                f"{means[s]:.0f}{unreached} | {np.mean([r['seconds'] for r in rs]):.0f} | "
                f"{means[s] / means.get('default', math.nan):.1f}x | "
                f"{np.mean([r['total_epochs'] for r in rs]):.0f} | "
                f"{np.mean([r['best_val'] for r in rs]):.4f} | "
                f"{np.mean([r['test_accuracy'] for r in rs]):.4f} | "
                f"{window_share(rs)} |")
    return "\n".join(lines)


def window_share(rows: Sequence[Mapping[str, Any]]) -> str:
    """"hits / completed (percent)" over a strategy's seeds; the grid's seeds replay one run, so
    it counts once."""
    runs = rows[:1] if rows[0]["strategy"] == "grid" else rows
    hits, completed = sum(r["hits"] for r in runs), sum(r["completed"] for r in runs)
    return f"{hits} / {completed} ({100 * hits / max(completed, 1):.1f} %)"


def seed_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Markdown: epochs to target per case, strategy and seed ("not reached: N" when censored)."""
    seeds = sorted({r["seed"] for r in rows})
    lines = ["| case | strategy | " + " | ".join(f"seed {s}" for s in seeds) + " |",
             "|---|---|" + "---|" * len(seeds)]
    for case in dict.fromkeys(r["case"] for r in rows):
        for strategy in dict.fromkeys(r["strategy"] for r in rows if r["case"] == case):
            cells = {r["seed"]: (f"{r['epochs']:.0f}" if r["reached"] else
                                 f"not reached: {r['epochs']:.0f}")
                     for r in rows if r["case"] == case and r["strategy"] == strategy}
            lines.append(f"| {case} | {strategy} | "
                         + " | ".join(cells.get(s, "-") for s in seeds) + " |")
    return "\n".join(lines)


def plot(curves_by_case: Mapping[str, Mapping[str, Sequence[Sequence[tuple[float, float, float]]]]],
         best_known: Mapping[str, float], path: Path) -> Path:
    """Val accuracy of the incumbent (best trial by the study metric) vs epochs trained, one
    line per strategy and seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(curves_by_case)
    fig, axes = plt.subplots(1, len(cases), figsize=(6.5 * len(cases), 4.5), squeeze=False)
    colors = {"default": "tab:blue", "random": "tab:orange", "grid": "tab:green"}
    for ax, case in zip(axes[0], cases, strict=True):
        for strategy, trajs in curves_by_case[case].items():
            for i, traj in enumerate(trajs):
                xs = [p[0] for p in traj if math.isfinite(p[2])]
                ys = [p[2] for p in traj if math.isfinite(p[2])]
                ax.step(xs, ys, where="post", color=colors[strategy], alpha=0.8,
                        label=strategy if i == 0 else None)
        ax.axhline(best_known[case] - TOLERANCE, color="gray", ls="--", lw=1,
                   label="best known - 0.3 points")
        ax.set_xscale("log")
        ax.set_xlabel("epochs trained (cumulative)")
        ax.set_ylabel("val accuracy of the best trial so far")
        ax.set_ylim(best_known[case] - 0.04, best_known[case] + 0.005)
        ax.set_title(case)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES))
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--out", default="/tmp/tuner-bench", help="storage folder (resumable)")
    parser.add_argument("--png", default=str(ROOT / "docs" / "search_efficiency.png"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    curves = {}
    for name in args.cases:
        case_rows, curves[name] = run_case(CASES[name], args.seeds, out, args.data_dir,
                                            args.strategies)
        rows += case_rows
        print(summary_table(case_rows), flush=True)
    print()
    print(summary_table(rows))
    print()
    print(seed_table(rows))
    known = {r["case"]: r["best_known"] for r in rows}
    print(f"\nplot: {plot(curves, known, Path(args.png))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
