"""A resolved study as text (what `tuner study NAME --dry-run` prints)."""

from __future__ import annotations

from objectives.data.catalog import DATASETS
from tuner.spec.budget import duration_text
from tuner.spec.model import CV_DEFAULT, CV_DEFAULT_ROWS, StudySpec


def describe(spec: StudySpec) -> str:
    """Objective, dataset, metric, seed, fixed params, then every stage and the final."""
    lines = [f"study {spec.name} ({spec.path})",
             f"  objective {spec.objective_ref}, dataset {spec.dataset}, "
             + ", ".join(f"{d} {m}" for m, d in spec.objectives) + f", seed {spec.seed}"]
    if spec.val_size is not None or spec.train_limit is not None:
        lines.append(f"  val_size {spec.val_size}, train_limit {spec.train_limit}")
    if spec.cv is not None and spec.cv.folds:
        lines.append(f"  cross-validation: {spec.cv} of train+val in every trial")
    elif spec.cv is None and spec.val_size is None and spec.dataset not in DATASETS:
        lines.append(f"  cross-validation: {CV_DEFAULT} of train+val in every trial if the "
                     f"table has fewer than {CV_DEFAULT_ROWS:,} rows of them (cv = false: "
                     "one val split)")
    lines.append("  fixed: " + ", ".join(
        f"{k}={spec.seed} (the study seed)" if k == "random_state" and v is None else f"{k}={v}"
        for k, v in spec.fixed.items()))
    lines.append(f"  seeds: training seed {spec.seed} in every trial and the final (the "
                 f"confirm stage adds its repeat number); samplers seeded from {spec.seed} "
                 "(qmc and grid share it across workers, the others add the worker index and "
                 "the trials already in the stage)")
    if spec.budget is not None:
        lines.append(f"  budget: {duration_text(spec.budget)} of wall time per process, spread "
                     "over the stages still to run by their trial counts")
    if spec.recipe is not None:
        coarse, fine = (stage.trials for stage in spec.stages)
        confirm = spec.final.confirm
        confirmed = "" if confirm is None else (
            f" + {confirm.budget} confirm (the top {confirm.top_k} trained again, "
            f"{confirm.repeats} repeats each on average, raced)")
        lines.append(f"  default recipe: {spec.recipe} trials = {coarse} coarse (scrambled QMC "
                     f"over the space) + {fine} fine (TPE in the box of the coarse top 3)"
                     f"{confirmed}")
    for stage in spec.stages:
        options = "".join(f" {k}={v}" for k, v in stage.sampler_options.items())
        pruner = "".join(f" {k}={v}" for k, v in stage.pruner_options.items())
        budget = f"{stage.trials} trials" if stage.trials is not None else "no trial target"
        budget += f", timeout {stage.timeout:g} s" if stage.timeout is not None else ""
        lines.append(f"  stage {stage.name} ({spec.study_name(stage.name)}): {budget}, "
                     f"sampler {stage.sampler}{options}, pruner {stage.pruner}{pruner}")
        if stage.pbt is not None:
            b = stage.pbt
            first = f"; the first from {b.source}'s best" if b.source else ""
            lines.append(f"    PBT: {b.population} members x {b.generations} generations of "
                         f"{b.interval} steps ({b.steps} steps each, training seed {spec.seed} "
                         f"+ member); every generation the bottom {b.quantile:.0%} copy a top "
                         f"{b.quantile:.0%} member and change {', '.join(b.mutable)} (x "
                         f"{' or x '.join(f'{f:g}' for f in b.perturb)}, redrawn with "
                         f"probability {b.resample:g}){first}")
        if stage.refine is not None:
            r = stage.refine
            by = f" by {r.by}" if r.by else (" (its Pareto front)" if spec.multi else "")
            lines.append(f"    refine {', '.join(r.params) or '(nothing)'} from {r.source}{by} "
                         f"top {r.top_k}, margin {r.margin:g}, enqueue {r.enqueue}"
                         + (", warm start (the source's trials inside the box)"
                            if r.warm_start else ""))
        if spec.multi and stage.pruner != "none":
            lines.append(f"    pruner watches {spec.prune_on(stage)}")
        if stage.overrides:
            lines.append("    set " + ", ".join(f"{k}={v}" for k, v in stage.overrides.items()))
        if stage.stop is not None:
            rule = stage.stop
            parts = ([f"no improvement by more than {rule.min_delta:g} in {rule.patience} "
                      "trials"] if rule.patience is not None else [])
            parts += [f"{spec.metric} reaches {rule.target:g}"] if rule.target is not None else []
            lines.append("    stops early when " + " or ".join(parts))
        lines.extend(f"    {p.describe()}" for p in stage.space)
    final = ", ".join(f"{k}={v}" for k, v in spec.final.overrides.items()) or "none"
    pick = f", pick {spec.final.pick}" if spec.final.pick is not None else ""
    lines.append(f"  final: monitor {spec.final.monitor}, set {final}{pick}")
    return "\n".join(lines)
