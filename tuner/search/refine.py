"""Coarse -> fine: which trials of an earlier stage a refine stage starts from, and how its
bounds come from them.

For each refined numeric param, take the values of the top-k completed trials, measure their span
(in log space for log params), widen each side by `margin` x that span (the span counts as at least
a tenth of the original range, so one best value still gives a range), and clip to the original
bounds. Int params round outwards; stepped params snap to their grid. A refined categorical keeps
only the choices seen in the top-k. The stage loop computes this once and stores it with the
stage (engine/stage.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import optuna
from optuna.trial import TrialState

from tuner.search.pareto import front, metric_value
from tuner.spec.model import ParamSpace, Refine, Stage, StudySpec

MIN_SPAN_FRACTION = 0.1

Row = tuple[float, Mapping[str, Any]]
"""(objective value, params) of one completed trial."""


def top_k(rows: Sequence[Row], k: int, direction: str) -> list[Row]:
    """The k best rows; ties keep their original (trial number) order."""
    return sorted(rows, key=lambda r: -r[0] if direction == "maximize" else r[0])[:k]


def refine_param(param: ParamSpace, values: Sequence[Any], margin: float) -> ParamSpace:
    """`param` narrowed around `values` (see the module docstring)."""
    if not values:
        return param
    if param.kind == "categorical":
        kept = tuple(c for c in param.choices or () if c in values)
        return replace(param, choices=kept or param.choices)
    assert param.low is not None and param.high is not None
    to, back = (math.log, math.exp) if param.log else (float, float)
    full_lo, full_hi = to(param.low), to(param.high)
    lo, hi = min(to(v) for v in values), max(to(v) for v in values)
    pad = margin * max(hi - lo, MIN_SPAN_FRACTION * (full_hi - full_lo))
    low = param.low if lo - pad <= full_lo else max(param.low, back(lo - pad))
    high = param.high if hi + pad >= full_hi else min(param.high, back(hi + pad))
    if param.step is not None:
        low = param.low + math.floor((low - param.low) / param.step + 1e-9) * param.step
        high = param.low + math.ceil((high - param.low) / param.step - 1e-9) * param.step
        high = min(high, param.high)
    if param.kind == "int":
        low, high = math.floor(low + 1e-9), math.ceil(high - 1e-9)
        return replace(param, low=int(low), high=int(high))
    return replace(param, low=float(low), high=float(high))


def refine_space(space: Sequence[ParamSpace], refine: Refine,
                 best: Sequence[Row]) -> tuple[ParamSpace, ...]:
    """The stage space with `refine.params` narrowed from `best` (already the top-k rows)."""
    out = []
    for param in space:
        if param.name in refine.params:
            values = [params[param.name] for _, params in best if param.name in params]
            param = refine_param(param, values, refine.margin)
        out.append(param)
    return tuple(out)


def clip_config(params: Mapping[str, Any], space: Sequence[ParamSpace]) -> dict[str, Any]:
    """An earlier trial's params restricted to `space` and clipped into its bounds, to enqueue."""
    by_name = {p.name: p for p in space}
    out: dict[str, Any] = {}
    for name, value in params.items():
        param = by_name.get(name)
        if param is None:
            continue
        if param.kind == "categorical":
            if value in (param.choices or ()):
                out[name] = value
        else:
            assert param.low is not None and param.high is not None
            out[name] = min(max(value, param.low), param.high)
    return out


def refine_sources(spec: StudySpec, source: optuna.Study, stage: Stage
                   ) -> tuple[list[Row], list[Row]]:
    """(the trials whose params the refined space is built around, those to enqueue) as
    (value, params) rows. With `refine.by`: the top_k (and the best `enqueue`) on that metric;
    else in a multi-objective study the whole Pareto front (enqueued best first on the first
    metric); else the top_k on the study metric."""
    assert stage.refine is not None
    refine = stage.refine
    names = spec.metric_names
    complete = source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if refine.by is None and spec.multi:
        on_front = front(source)
        rows = [(metric_value(t, spec.metric, names) or 0.0, t.params) for t in on_front]
        ranked = top_k(rows, len(rows), spec.direction)
        return ranked, ranked[:refine.enqueue]
    by = refine.by or spec.metric
    rows = [(value, t.params) for t in complete
            if (value := metric_value(t, by, names)) is not None]
    direction = spec.direction_of(by)
    return top_k(rows, refine.top_k, direction), top_k(rows, refine.enqueue, direction)
