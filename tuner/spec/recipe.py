"""The default recipe: a study file with one `[space]` and `trials = N` (no [[stages]]) runs the
coarse -> fine recipe measured on public benchmark tables (docs/performance.md, "Search
quality": level with Optuna's default TPE): stage "coarse", scrambled QMC over the space for
N // 2 trials, then stage "fine", TPE in the box the coarse top 3 span on each numeric param
(categorical params keep every choice) for the rest: exactly N evaluations in all (fewer when
a top-level `stop` rule ends a stage early). A top-level `pruner` and `stop` apply to both
stages. `tuner.run_study(..., space=..., trials=N)` replaces a study's stages the same way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from objectives.base import Objective
from tuner.spec.checker import Checker
from tuner.spec.model import PRUNERS, TRIALS_LIMIT, ParamSpace
from tuner.spec.params import parse_param
from tuner.spec.stage_table import parse_kind_table, parse_stop

RECIPE_KEYS = ("space", "trials", "pruner", "stop")
TOP_K = 3
COARSE = {"type": "qmc", "scramble": True}


def is_recipe(raw: Mapping[str, Any]) -> bool:
    return any(key in raw for key in RECIPE_KEYS)


def recipe_stages(c: Checker, raw: Mapping[str, Any], objective: Objective,
                  trials: int | None, pinned: set[str]) -> list[dict[str, Any]]:
    """The [[stages]] tables of the recipe for `raw` (checked first under the keys the file
    uses: `space.lr`, `trials`, `pruner`); `trials`: --trials, which replaces the file's N;
    `pinned`: the params --set fixes (searched in no stage, so refined in none)."""
    if "stages" in raw:
        key = next(k for k in RECIPE_KEYS if k in raw)
        raise c.fail(key, "a top-level space, trials, pruner and stop describe the default "
                     "recipe (coarse -> fine); with [[stages]], give each stage its own.")
    total = trials if trials is not None else c.get(raw, "trials", (int,), "", required=True)
    if not 2 <= total <= TRIALS_LIMIT:
        raise c.fail("trials", f"must be an int in [2, {TRIALS_LIMIT}] (the recipe's coarse and "
                     f"fine stages get at least one each). Got {total} instead.")
    space_raw = c.get(raw, "space", (dict,), "", required=True)
    space: dict[str, ParamSpace] = {}
    for name, param in space_raw.items():
        space[name] = parse_param(c, name, param, f"space.{name}", objective, space)
    if not space:
        raise c.fail("space", "the recipe needs at least one param to search.")
    pruner = raw.get("pruner", "none")
    parse_kind_table(c, pruner, "pruner", PRUNERS)
    stop = {"stop": raw["stop"]} if parse_stop(c, raw, "") is not None else {}
    numeric = [p.name for p in space.values() if p.kind != "categorical"
               and p.name not in pinned]
    coarse = total // 2
    return [{"name": "coarse", "sampler": dict(COARSE), "pruner": pruner, "trials": coarse,
             "space": dict(space_raw), **stop},
            {"name": "fine", "sampler": "tpe", "pruner": pruner, "trials": total - coarse,
             "refine": {"from": "coarse", "params": numeric, "top_k": TOP_K}, **stop}]
