"""One [[stages]] table: sampler and pruner with their options, budget, space, refine, set."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from objectives.base import Objective
from objectives.config import check_param
from objectives.errors import ConfigError
from tuner.spec.checker import Checker
from tuner.spec.model import (
    CONFIRM_STAGE,
    PRUNERS,
    SAMPLERS,
    TRIALS_LIMIT,
    ParamSpace,
    Refine,
    Stage,
    StopRule,
)
from tuner.spec.params import parse_param
from tuner.spec.pbt import parse_pbt
from tuner.spec.sampler_options import check_stage_options

STAGE_KEYS = {"name", "sampler", "pruner", "trials", "timeout", "space", "refine", "set",
              "prune_on", "stop", "pbt"}
STOP_KEYS = {"patience", "min_delta", "target"}
REFINE_KEYS = {"from", "params", "top_k", "margin", "enqueue", "by", "warm_start"}
MARGIN_LIMIT = 10
"""A refine margin of 10 already widens every side by the whole original range (the span counts
as at least a tenth of it), so a larger one means nothing more."""


def parse_kind_table(c: Checker, value: Any, key: str, names: Sequence[str]
                     ) -> tuple[str, dict[str, Any]]:
    """`"tpe"` or `{ type = "tpe", option = ... }` -> ("tpe", {option: ...}); option values
    that are floats must be finite."""
    if isinstance(value, str):
        kind, options = value, {}
    elif isinstance(value, dict):
        options = dict(value)
        kind = options.pop("type", None)
        if not isinstance(kind, str):
            raise c.fail(f"{key}.type", f"missing or not a string; expected one of: "
                         f"{', '.join(names)}.")
    else:
        raise c.fail(key, f"must be a string or a table. Got {value!r} instead.")
    if kind not in names:
        raise c.fail(key, f"unknown {key.rsplit('.', 1)[-1]} '{kind}'; expected one of: "
                     f"{', '.join(names)}.")
    for option, option_value in options.items():
        if isinstance(option_value, float) and not math.isfinite(option_value):
            raise c.fail(f"{key}.{option}", f"must be finite. Got {option_value!r} instead.")
    return kind, options


def _parse_refine(c: Checker, raw: Mapping[str, Any], where: str, earlier: Sequence[Stage]
                  ) -> tuple[Refine, dict[str, ParamSpace]]:
    """The refine table and the source stage's space, which this stage's space starts from."""
    refine_raw = c.get(raw, "refine", (dict,), where)
    rw = f"{where}refine."
    c.unknown(refine_raw, REFINE_KEYS, rw)
    source = c.get(refine_raw, "from", (str,), rw, required=True)
    source_stage = next((s for s in earlier if s.name == source), None)
    if source_stage is None:
        raise c.fail(f"{rw}from", f"must name an earlier stage; got '{source}'.")
    if source_stage.pbt is not None:
        raise c.fail(f"{rw}from", f"'{source}' is a PBT stage, whose trials are generations of "
                     "runs, not configurations to refine around; refine from a search stage.")
    refine_params = c.get(refine_raw, "params", (list,), rw, required=True)
    top_k = c.get(refine_raw, "top_k", (int,), rw, default=3)
    margin = c.get(refine_raw, "margin", (int, float), rw, default=0.5)
    enqueue = c.get(refine_raw, "enqueue", (int,), rw, default=0)
    for key, value, least, most in (("top_k", top_k, 1, TRIALS_LIMIT),
                                    ("margin", margin, 0, MARGIN_LIMIT),
                                    ("enqueue", enqueue, 0, TRIALS_LIMIT)):
        if not least <= value <= most:
            name = "a number" if key == "margin" else "an int"
            raise c.fail(f"{rw}{key}", f"must be {name} in [{least}, {most}]. Got {value} "
                         "instead.")
    refine = Refine(source=source, params=tuple(refine_params), top_k=top_k,
                    margin=float(margin), enqueue=enqueue,
                    by=c.get(refine_raw, "by", (str,), rw),
                    warm_start=c.get(refine_raw, "warm_start", (bool,), rw, default=True))
    return refine, {p.name: p for p in source_stage.space}


def parse_stop(c: Checker, raw: Mapping[str, Any], where: str) -> StopRule | None:
    """`stop = { patience = 20, min_delta = 1e-3, target = 0.99 }` (at `where`), or None."""
    table = c.get(raw, "stop", (dict,), where)
    if table is None:
        return None
    at = f"{where}stop."
    c.unknown(table, STOP_KEYS, at)
    patience = c.get(table, "patience", (int,), at)
    min_delta = c.get(table, "min_delta", (int, float), at, default=0.0)
    target = c.get(table, "target", (int, float), at)
    if patience is None and target is None:
        raise c.fail(f"{where}stop", "needs patience (trials without improvement) or target "
                     "(a value of the stage's metric), or both.")
    if patience is not None and not 1 <= patience <= TRIALS_LIMIT:
        raise c.fail(f"{at}patience", f"must be an int in [1, {TRIALS_LIMIT}]. Got {patience} "
                     "instead.")
    if min_delta < 0:
        raise c.fail(f"{at}min_delta", f"must be >= 0. Got {min_delta} instead.")
    return StopRule(patience=patience, min_delta=float(min_delta),
                    target=None if target is None else float(target))


def _parse_set(c: Checker, raw: Mapping[str, Any], where: str, objective: Objective,
               space: Mapping[str, ParamSpace]) -> dict[str, Any]:
    stage_set = dict(c.get(raw, "set", (dict,), where, default={}))
    for key, value in stage_set.items():
        if key in space:
            raise c.fail(f"{where}set.{key}", "is searched in this stage's space; set it in "
                         "[fixed] or remove it from the space.")
        try:
            stage_set[key] = check_param(objective.name, objective.params, key, value)
        except ConfigError as exc:
            raise c.fail(f"{where}set.{key}", str(exc)) from None
    return stage_set


def parse_stage(c: Checker, raw: Mapping[str, Any], index: int, objective: Objective,
                earlier: Sequence[Stage]) -> Stage:
    """Stage number `index` (0-based) of the file, given the stages before it."""
    name = c.get(raw, "name", (str,), f"stages[{index}].", required=True)
    where = f"stages.{name}."
    if not name or "/" in name or "#" in name or name == CONFIRM_STAGE:
        raise c.fail(f"stages[{index}].name", f"must be a non-empty name without '/' or '#', "
                     f"other than '{CONFIRM_STAGE}' (the confirm stage's). Got {name!r} "
                     "instead.")
    if any(s.name == name for s in earlier):
        raise c.fail(f"{where}name", "duplicate stage name.")
    c.unknown(raw, STAGE_KEYS, where)
    first = "qmc" if "pbt" in raw else "tpe"  # a PBT stage's draws its first generation
    sampler, sampler_options = parse_kind_table(c, raw.get("sampler", first), f"{where}sampler",
                                                SAMPLERS)
    pruner, pruner_options = parse_kind_table(c, raw.get("pruner", "none"), f"{where}pruner",
                                              PRUNERS)
    trials = c.get(raw, "trials", (int,), where)
    timeout = c.get(raw, "timeout", (int, float), where)
    if trials is not None and not 1 <= trials <= TRIALS_LIMIT:
        raise c.fail(f"{where}trials", f"must be an int in [1, {TRIALS_LIMIT}]. Got {trials} "
                     "instead.")
    if timeout is not None and timeout <= 0:
        raise c.fail(f"{where}timeout", f"must be > 0 seconds. Got {timeout} instead.")
    if trials is None and timeout is None and "pbt" not in raw:
        raise c.fail(f"{where}trials", "a stage needs trials, timeout or both.")
    refine, space = _parse_refine(c, raw, where, earlier) if "refine" in raw else (None, {})
    for pname, praw in c.get(raw, "space", (dict,), where, default={}).items():
        space[pname] = parse_param(c, pname, praw, f"{where}space.{pname}", objective, space)
    if not space:
        raise c.fail(f"{where}space", "a stage needs at least one param to search.")
    stage_set = _parse_set(c, raw, where, objective, space)
    for pname in refine.params if refine is not None else ():
        if not isinstance(pname, str) or pname not in space:
            raise c.fail(f"{where}refine.params", f"'{pname}' is not a param of this "
                         f"stage's space; expected some of: {', '.join(space)}.")
    pbt = None
    if "pbt" in raw:
        pbt = parse_pbt(c, raw, where, objective, list(space), [s.name for s in earlier])
        for key in ("trials", "timeout", "refine", "stop", "prune_on"):
            if key in raw:
                raise c.fail(f"{where}{key}", "does not apply to a PBT stage (its trials are "
                             "population x generations; exploiting is its early stopping).")
        if pruner != "none":
            raise c.fail(f"{where}pruner", "must be none in a PBT stage (exploiting the best "
                         "members is its early stopping).")
        if sampler in ("grid", "gp", "cmaes"):
            raise c.fail(f"{where}sampler", "draws a PBT stage's first generation: expected "
                         "qmc (the default), random or tpe.")
        trials = pbt.population * pbt.generations
    stage = Stage(name=name, sampler=sampler, sampler_options=sampler_options, pruner=pruner,
                  pruner_options=pruner_options, trials=trials,
                  timeout=None if timeout is None else float(timeout),
                  space=tuple(space.values()), refine=refine, overrides=stage_set,
                  prune_on=c.get(raw, "prune_on", (str,), where), stop=parse_stop(c, raw, where),
                  pbt=pbt)
    check_stage_options(c, stage)
    return stage
