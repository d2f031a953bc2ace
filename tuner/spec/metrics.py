"""What a study optimizes and how its final picks a trial: `metric`/`direction` or
`metrics`/`directions` (multi-objective), each stage's `prune_on` and `refine.by`, and
`[final] pick`. Every problem is one SpecError line naming the key."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from tuner.spec.checker import Checker
from tuner.spec.model import Condition, Pick, StudySpec, default_direction

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
    """Each stage's `prune_on` and `refine.by` must be one of the study's metrics."""
    names = spec.metric_names
    for stage in spec.stages:
        rules = [("prune_on", stage.prune_on)]
        rules.append(("refine.by", stage.refine.by if stage.refine is not None else None))
        for key, metric in rules:
            if metric is not None and metric not in names:
                raise c.fail(f"stages.{stage.name}.{key}", f"'{metric}' is not one of the "
                             f"study's metrics; expected one of: {', '.join(names)}.")
