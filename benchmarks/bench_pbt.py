"""Population Based Training against the coarse -> fine study, side by side at (about) the same
total epochs, on this machine in the default environment:

- lenet: LeNet-5 on MNIST, sgd + momentum 0.9, batch 64, 8 epochs per run. PBT
  (studies/lenet_pbt.toml: 8 members x 4 generations of 2 epochs, lr and weight_decay mutable,
  constant lr per generation) vs the default recipe over the same space (8 trials: 4 scrambled
  QMC, then 4 TPE in the best box) with lenet_optimizers' hand schedule (lr x 0.1 after epochs
  5 and 7). 64 search epochs each.
- two_layer: the DD2424 two-layer net on CIFAR-10 (50 hidden units, cyclical lr, flip), judged
  on val_loss. PBT (12 members x 6 generations of 2 cycles, eta_max and lambda mutable, 576
  epochs) vs lambda_search (16 coarse trials of 2 cycles, 16 fine of 12, median pruning: about
  570 epochs).

Each runs `python -m tuner study ... --final` in a fresh folder and reports the search's epochs
(all trials, pruned ones included), the final's test accuracy, the wall time of the whole
command and, for PBT, the schedule its final replayed.

    .venv/bin/python benchmarks/bench_pbt.py --data-dir ../shared/data [--only lenet]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuner.engine.pbt import schedule_text  # noqa: E402

LENET_RECIPE = """
name = "lenet_recipe"
objective = "lenet"
dataset = "mnist"
metric = "val_accuracy"
seed = 0
trials = 8

[fixed]
epochs = 8
optimizer = "sgd"
momentum = 0.9
batch_size = 64
schedule = "multistep"
milestones = [5, 7]
gamma = 0.1

[space]
lr = { low = 5e-4, high = 2e-1, log = true }
weight_decay = { low = 1e-6, high = 1e-2, log = true }

[final]
monitor = 1000
"""
LENET_PBT_MULTISTEP = LENET_RECIPE.replace('"lenet_recipe"', '"lenet_pbt_ms"').replace(
    "trials = 8\n", "").replace("[space]", """[[stages]]
name = "pbt"
pbt = { population = 8, interval = 2, generations = 4, mutable = ["lr", "weight_decay"] }
[stages.space]""")
"""lenet_pbt with the recipe's hand schedule kept: the members' lr is its base (x 0.1 after
epochs 5 and 7)."""
TWO_LAYER_PBT = """
name = "two_layer_pbt"
objective = "two_layer"
dataset = "cifar10"
metric = "val_loss"
direction = "minimize"
seed = 0

[fixed]
hidden = 50
batch_size = 100
eta_min = 1e-5
n_s = 0
cycles = 12
flip = true

[[stages]]
name = "pbt"
pbt = { population = 12, interval = 8, generations = 6, mutable = ["eta_max", "lambda"] }
[stages.space]
lambda = { low = 1e-5, high = 1e-1, log = true }
eta_max = { low = 2e-2, high = 2e-1, log = true }

[final]
monitor = 0.02
"""
CASES = {
    "lenet": [("PBT (lenet_pbt)", "lenet_pbt", None),
              ("coarse -> fine (recipe, 8 trials)", "lenet_recipe", LENET_RECIPE),
              ("PBT on the hand schedule", "lenet_pbt_ms", LENET_PBT_MULTISTEP)],
    "two_layer": [("PBT (12 members)", "two_layer_pbt", TWO_LAYER_PBT),
                  ("coarse -> fine (lambda_search)", "lambda_search", None)],
}


def run(name: str, text: str | None, data_dir: Path) -> dict[str, object]:
    """One study and its final in a fresh folder: its figures."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-pbt-{name}-"))
    study = name
    if text is not None:
        study = str(folder / f"{name}.toml")
        Path(study).write_text(text)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tuner", "-q", "study", study, "--data-dir",
                    str(data_dir.resolve()), "--final", "--no-tracking"], cwd=folder, check=True)
    wall = time.perf_counter() - start
    storage = f"sqlite:///{folder / 'tuner.db'}"
    epochs, final, plan = 0.0, None, None
    for summary in optuna.get_all_study_summaries(storage):
        if "#" in summary.study_name:
            continue
        study_obj = optuna.load_study(study_name=summary.study_name, storage=storage)
        epochs += sum(float(t.user_attrs.get("epochs", 0.0)) for t in study_obj.trials
                      if "copied_from" not in t.user_attrs)
        final = study_obj.user_attrs.get("final", final)
        plan = study_obj.user_attrs.get("schedule", plan)
    assert final is not None
    return {"epochs": epochs, "test": final["test_accuracy"], "wall": wall,
            "schedule": schedule_text(plan) if plan else "-", "config": final["config"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--only", choices=sorted(CASES))
    parser.add_argument("--strategy", default="", help="only strategies whose label has this")
    args = parser.parse_args()
    rows = []
    for case, runs in CASES.items():
        if args.only and case != args.only:
            continue
        for label, name, text in runs:
            if args.strategy not in label:
                continue
            figures = run(name, text, args.data_dir)
            rows.append((case, label, figures))
            print(f"{case:9}  {label:34}  search epochs {figures['epochs']:6.0f}  test "
                  f"{figures['test']:.4f}  wall {figures['wall'] / 60:5.1f} min", flush=True)
    print("\n| task | strategy | search epochs | final test accuracy | wall (study + final) |")
    print("|---|---|---|---|---|")
    for case, label, f in rows:
        print(f"| {case} | {label} | {f['epochs']:.0f} | {f['test']:.4f} | "
              f"{f['wall'] / 60:.1f} min |")
    for case, label, f in rows:
        if f["schedule"] != "-":
            print(f"\n{case} {label} schedule: {f['schedule']}")
        else:
            chosen = {k: v for k, v in dict(f["config"]).items()  # type: ignore[call-overload]
                      if k in ("lr", "weight_decay", "lambda", "eta_max")}
            print(f"\n{case} {label} final config: {chosen}")


if __name__ == "__main__":
    main()
