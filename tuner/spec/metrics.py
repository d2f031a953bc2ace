"""What a study optimizes and how its final picks a trial: `metric`/`direction` or
`metrics`/`directions` (multi-objective), each stage's `prune_on` and `refine.by`,
`[final] pick` and `[final] confirm`. Every problem is one SpecError line naming the key."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tuner.errors import SpecError
from tuner.spec.checker import Checker
from tuner.spec.model import Condition, Confirm, Pick, Stage, StudySpec, default_direction
from tuner.spec.pbt import LENGTH_KEYS, run_steps

MetricCheck = Callable[[str, str], None]
"""check(metric, key): raise SpecError naming `key` when `metric` is not one the objective
gives (or the tuner derives)."""

DIRECTIONS = ("maximize", "minimize")
CONDITION = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|<|>)\s*(\S+)\s*$")


def parse_metrics(c: Checker, raw: Mapping[str, Any], check: MetricCheck
                  ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The study's objectives as (metrics, directions): one from `metric` / `direction`
    (default val_accuracy), or several from `metrics` / `directions`."""
    if "metrics" not in raw:
        if "directions" in raw:
            raise c.fail("directions", "goes with `metrics = [...]`; a study with one `metric` "
                         "sets `direction`.")
        metric = c.get(raw, "metric", (str,), "", default="val_accuracy")
        check(metric, "metric")
        direction = c.get(raw, "direction", (str,), "", default=default_direction(metric))
        if direction not in DIRECTIONS:
            raise c.fail("direction", f"must be 'maximize' or 'minimize'. Got {direction!r} "
                         "instead.")
        return (metric,), (direction,)
    for single in ("metric", "direction"):
        if single in raw:
            raise c.fail(single, "a study sets either `metric`/`direction` or "
                         "`metrics`/`directions`, not both.")
    metrics = c.get(raw, "metrics", (list,), "")
    if not metrics or not all(isinstance(m, str) for m in metrics):
        raise c.fail("metrics", f"must be a non-empty list of metric names. Got {metrics!r} "
                     "instead.")
    if len(set(metrics)) != len(metrics):
        raise c.fail("metrics", f"names a metric twice: {metrics}.")
    for i, metric in enumerate(metrics):
        check(metric, f"metrics[{i}]")
    directions = c.get(raw, "directions", (list,), "",
                       default=[default_direction(m) for m in metrics])
    if len(directions) != len(metrics):
        raise c.fail("directions", f"has {len(directions)} entries for {len(metrics)} metrics "
                     f"{metrics}; expected one direction per metric.")
    for i, direction in enumerate(directions):
        if direction not in DIRECTIONS:
            raise c.fail(f"directions[{i}]", f"must be 'maximize' or 'minimize'. Got "
                         f"{direction!r} instead.")
    return tuple(metrics), tuple(directions)


def parse_pick(c: Checker, raw: Any, spec: StudySpec, check: MetricCheck) -> Pick | None:
    """`pick = "val_accuracy"` (best on it) or `pick = { max = "val_accuracy",
    where = "seconds <= 10" }` (`where` may be a list of such conditions)."""
    if raw is None:
        return None
    if isinstance(raw, str):
        check(raw, "final.pick")
        return Pick(raw, spec.direction_of(raw))
    if not isinstance(raw, dict):
        raise c.fail("final.pick", f"must be a metric name or a table {{ max = METRIC, where = "
                     f"\"METRIC <= NUMBER\" }}. Got {raw!r} instead.")
    c.unknown(raw, {"max", "min", "where"}, "final.pick.")
    ends = [k for k in ("max", "min") if k in raw]
    if len(ends) != 1:
        raise c.fail("final.pick", "needs exactly one of `max = METRIC` or `min = METRIC`.")
    metric = c.get(raw, ends[0], (str,), "final.pick.")
    check(metric, f"final.pick.{ends[0]}")
    where = raw.get("where", [])
    where = [where] if isinstance(where, str) else where
    if not isinstance(where, list) or not all(isinstance(w, str) for w in where):
        raise c.fail("final.pick.where", f"must be a condition such as \"seconds <= 10\" or a "
                     f"list of them. Got {raw.get('where')!r} instead.")
    conditions = []
    for text in where:
        match = CONDITION.match(text)
        bound = _number(match.group(3)) if match else None
        if match is None or bound is None:
            raise c.fail("final.pick.where", f"{text!r} is not a condition METRIC OP NUMBER "
                         "with OP one of <=, <, >=, > (e.g. \"seconds <= 10\").")
        check(match.group(1), "final.pick.where")
        conditions.append(Condition(match.group(1), match.group(2), bound))
    direction = "maximize" if ends[0] == "max" else "minimize"
    return Pick(metric, direction, tuple(conditions))


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def check_rules(c: Checker, spec: StudySpec) -> None:
    """Each stage's `prune_on` and `refine.by` must be one of the study's metrics; a `stop`
    rule judges one metric, so not in a multi-objective study."""
    names = spec.metric_names
    if spec.final.use == "member" and not any(stage.pbt for stage in spec.stages):
        raise c.fail("final.use", "'member' takes a PBT member's weights; this study has no "
                     "PBT stage.")
    for stage in spec.stages:
        if stage.pbt is not None:
            _check_pbt(c, spec, stage)
        if stage.stop is not None and spec.multi:
            raise c.fail(f"stages.{stage.name}.stop", "stopping rules judge one metric; this "
                         f"study has {len(names)} objectives. Use trials or timeout.")
        rules = [("prune_on", stage.prune_on)]
        rules.append(("refine.by", stage.refine.by if stage.refine is not None else None))
        for key, metric in rules:
            if metric is not None and metric not in names:
                raise c.fail(f"stages.{stage.name}.{key}", f"'{metric}' is not one of the "
                             f"study's metrics; expected one of: {', '.join(names)}.")


def _check_pbt(c: Checker, spec: StudySpec, stage: Stage) -> None:
    """A PBT stage ranks its members by one metric on a fixed validation split, and its answer
    is a schedule (confirmation re-trains constant configurations)."""
    at = f"stages.{stage.name}.pbt"
    if spec.multi:
        raise c.fail(at, f"PBT ranks members by one metric; this study has {len(spec.metric_names)}"
                     " objectives.")
    if spec.cv is not None and spec.cv.folds:
        raise c.fail(at, "PBT members continue from checkpoints, which cross-validation does "
                     "not keep; set cv = false.")
    if spec.final.confirm is not None:
        raise c.fail(at, "the answer of a PBT stage is a schedule, which [final] confirm "
                     "(re-training constant configurations) cannot repeat; set confirm = false.")
    assert stage.pbt is not None
    searched = sorted(LENGTH_KEYS & {p.name for p in stage.space})
    if searched:
        raise c.fail(f"stages.{stage.name}.space.{searched[0]}", "is the run's length, which "
                     "every PBT member shares (generations x interval steps); set it in [fixed].")
    fixed = spec.stage_fixed(stage)
    steps = run_steps(fixed)
    if steps is not None and steps < stage.pbt.steps:
        raise c.fail(at, f"the run is {steps} reporting steps long, fewer than generations x "
                     f"interval = {stage.pbt.steps}; give it more epochs (cycles), or fewer "
                     "generations.")
    if fixed.get("stop_patience") and fixed.get("stop_threshold"):
        raise c.fail(at, "the objective's stop rule (stop_threshold, stop_patience) would end "
                     "members before their generation's end; turn it off in a PBT stage.")


CONFIRM_KEYS = {"top_k", "repeats"}
CONFIRM_LIMIT = 1000
"""The most top_k or repeats a confirm table may ask for (each is a training run)."""


def parse_confirm(c: Checker, raw: Any) -> Confirm | None:
    """`confirm = { top_k = 5, repeats = 2 }` (either key may be left out), `confirm = true`
    (the defaults) or `confirm = false` / absent (none)."""
    if raw is None or raw is False:
        return None
    if raw is True:
        return Confirm()
    if not isinstance(raw, dict):
        raise c.fail("final.confirm", f"must be true, false or a table {{ top_k = 5, repeats = "
                     f"2 }}. Got {raw!r} instead.")
    c.unknown(raw, CONFIRM_KEYS, "final.confirm.")
    values = {}
    for key in ("top_k", "repeats"):
        value = c.get(raw, key, (int,), "final.confirm.", default=getattr(Confirm(), key))
        if not 1 <= value <= CONFIRM_LIMIT:
            raise c.fail(f"final.confirm.{key}", f"must be an int in [1, {CONFIRM_LIMIT}]. Got "
                         f"{value!r} instead.")
        values[key] = value
    return Confirm(**values)


def confirm_override(value: Any, from_file: Confirm | None) -> Confirm | None:
    """--confirm / --no-confirm, `confirm=` in Python: True (the file's confirm table, else the
    defaults), False (none) or a mapping like the file's table."""
    if value is True:
        return from_file or Confirm()
    if value is False:
        return None
    if isinstance(value, dict):
        return parse_confirm(Checker(Path("confirm=")), value)
    raise SpecError(f"confirm must be True, False or a mapping {{'top_k': 5, 'repeats': 2}}. "
                    f"Got {value!r} instead.")
