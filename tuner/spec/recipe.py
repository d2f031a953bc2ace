"""The default recipe: a study file with one `[space]` and `trials = N` (no [[stages]]) runs the
coarse -> fine -> confirm recipe measured on public benchmark tables (docs/performance.md,
"Search quality" and "Confirming the answer"): from N = 40 on, a quarter of N goes to a confirm
stage (the top 5 trained again, N / 20 repeats each on average, raced); stage "coarse",
scrambled QMC over the space, gets half of the rest, then stage "fine", TPE in the box the
coarse top 3 span on each numeric param (categorical params keep every choice), the remainder:
N evaluations in all at most (fewer when racing or a top-level `stop` rule ends a stage early).
A file's `[final] confirm` (or --confirm / --no-confirm, `confirm=`) replaces the recipe's own
and is taken out of N the same way. A top-level `pruner` and `stop` apply to both search
stages. `tuner.run_study(..., space=..., trials=N)` replaces a study's stages the same way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from objectives.base import Objective
from tuner.spec.checker import Checker
from tuner.spec.metrics import CONFIRM_LIMIT, confirm_override, parse_confirm
from tuner.spec.model import PRUNERS, TRIALS_LIMIT, Confirm, ParamSpace
from tuner.spec.params import parse_param
from tuner.spec.stage_table import parse_kind_table, parse_stop

RECIPE_KEYS = ("space", "trials", "pruner", "stop")
TOP_K = 3
COARSE = {"type": "qmc", "scramble": True}
CONFIRM_FROM = 40
"""The smallest recipe that confirms its answer by default (below, the search gets every
evaluation: a quarter of fewer would leave each candidate one repeat or none)."""
CONFIRM_TOP_K = 5


def is_recipe(raw: Mapping[str, Any]) -> bool:
    return any(key in raw for key in RECIPE_KEYS)


def expand_recipe(c: Checker, raw: Mapping[str, Any], objective: Objective, trials: int | None,
                  confirm: bool | Mapping[str, Any] | None, objectives: int, pinned: set[str]
                  ) -> tuple[int, Confirm | None, list[dict[str, Any]]]:
    """The recipe for `raw`: its N (`trials`: --trials, which replaces the file's), its confirm
    stage (`confirm`: the override, as for any study) and its [[stages]] tables; `objectives`:
    how many the study has; `pinned`: the params --set fixes (searched in no stage)."""
    total = _total(c, raw, trials)
    chosen = _confirm(c, raw, total, confirm, objectives)
    return total, chosen, _stages(c, raw, objective, _search_budget(c, total, chosen),
                                        pinned)


def _total(c: Checker, raw: Mapping[str, Any], trials: int | None) -> int:
    """The recipe's N: --trials (`trials`), which replaces the file's, or the file's."""
    if "stages" in raw:
        key = next(k for k in RECIPE_KEYS if k in raw)
        raise c.fail(key, "a top-level space, trials, pruner and stop describe the default "
                     "recipe (coarse -> fine); with [[stages]], give each stage its own.")
    total = trials if trials is not None else c.get(raw, "trials", (int,), "", required=True)
    if not 2 <= total <= TRIALS_LIMIT:
        raise c.fail("trials", f"must be an int in [2, {TRIALS_LIMIT}] (the recipe's coarse and "
                     f"fine stages get at least one each). Got {total} instead.")
    return total


def _default_confirm(total: int) -> Confirm | None:
    """The recipe's own confirm stage for N = `total`: the top 5 with a quarter of N."""
    if total < CONFIRM_FROM:
        return None
    return Confirm(top_k=CONFIRM_TOP_K,
                   repeats=min(round(total / 4 / CONFIRM_TOP_K), CONFIRM_LIMIT))


def _confirm(c: Checker, raw: Mapping[str, Any], total: int,
                   confirm: bool | Mapping[str, Any] | None, objectives: int) -> Confirm | None:
    """A recipe study's confirm stage, taken out of its N: the file's [final] confirm when it
    has one, else the recipe's default (one objective, N >= 40), as the `confirm` override
    (True, False, a table) leaves it; `confirm = true` in the file is the recipe's default."""
    final_raw = raw["final"] if isinstance(raw.get("final"), dict) else {}
    default = _default_confirm(total) if objectives == 1 else None
    given = final_raw.get("confirm", default is not None)  # absent: the default, if any
    chosen = (default or Confirm()) if given is True else parse_confirm(c, given)
    return chosen if confirm is None else confirm_override(confirm, chosen or default)


def _search_budget(c: Checker, total: int, confirm: Confirm | None) -> int:
    """What the coarse and fine stages get of N once the confirm stage has its share."""
    search = total - (confirm.budget if confirm is not None else 0)
    if search < 2:
        assert confirm is not None
        raise c.fail("trials", f"must leave the coarse and fine stages 2 evaluations or more "
                     f"after the confirm stage's {confirm.budget} ({confirm.top_k} x "
                     f"{confirm.repeats}). Got {total} instead.")
    return search


def _stages(c: Checker, raw: Mapping[str, Any], objective: Objective,
                  search: int, pinned: set[str]) -> list[dict[str, Any]]:
    """The [[stages]] tables of the recipe for `raw` (checked first under the keys the file
    uses: `space.lr`, `pruner`) with `search` evaluations, no param of `pinned` refined."""
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
    coarse = search // 2
    return [{"name": "coarse", "sampler": dict(COARSE), "pruner": pruner, "trials": coarse,
             "space": dict(space_raw), **stop},
            {"name": "fine", "sampler": "tpe", "pruner": pruner, "trials": search - coarse,
             "refine": {"from": "coarse", "params": numeric, "top_k": TOP_K}, **stop}]
