"""A Population Based Training stage's `pbt` table (docs/study-files.md#population-based-training).

    [[stages]]
    name = "pbt"
    sampler = "qmc"          # draws the first generation from the space
    pbt = { population = 8, interval = 2, generations = 4, mutable = ["lr", "weight_decay"],
            exploit = { quantile = 0.25 }, explore = { perturb = [0.8, 1.25], resample = 0.25 } }

The stage's trial count is population x generations; its pruner is none (PBT's exploit step is
its early stopping); the objective must continue from checkpoints and take new values of every
`mutable` param when it does (objectives.base.Objective.mutable).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from objectives.base import Objective
from tuner.spec.checker import Checker

PBT_KEYS = {"population", "interval", "generations", "mutable", "exploit", "explore", "from"}
EXPLOIT_KEYS = {"quantile"}
EXPLORE_KEYS = {"perturb", "resample"}
POPULATION_LIMIT = 1000
GENERATIONS_LIMIT = 1000


@dataclass(frozen=True)
class Pbt:
    """How a PBT stage trains its population: `generations` of `interval` reporting steps each;
    after each, the members in the bottom `quantile` copy a top-`quantile` member's checkpoint
    and params, then change each `mutable` param (redrawn from the space with probability
    `resample`, else multiplied by one of `perturb`)."""

    population: int = 8
    interval: int = 2
    generations: int = 4
    mutable: tuple[str, ...] = ()
    quantile: float = 0.25
    perturb: tuple[float, ...] = (0.8, 1.25)
    resample: float = 0.25
    source: str | None = None
    """An earlier stage whose best trials (by the study metric) start the population; the rest
    is drawn from the space."""

    @property
    def steps(self) -> int:
        """Reporting steps a member trains in all its generations."""
        return self.generations * self.interval

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (the stage study's user attr "pbt")."""
        return {"population": self.population, "interval": self.interval,
                "generations": self.generations, "mutable": list(self.mutable),
                "quantile": self.quantile, "perturb": list(self.perturb),
                "resample": self.resample, "from": self.source}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Pbt:
        """Back from to_dict()."""
        return cls(population=raw["population"], interval=raw["interval"],
                   generations=raw["generations"], mutable=tuple(raw["mutable"]),
                   quantile=raw["quantile"], perturb=tuple(raw["perturb"]),
                   resample=raw["resample"], source=raw.get("from"))


FINAL_USES = ("replay", "member")
LENGTH_KEYS = {"epochs", "cycles", "points_per_cycle"}
"""The built-in objectives' params that set how many reporting steps a run has."""


def run_steps(config: Mapping[str, Any]) -> int | None:
    """Reporting steps a built-in objective's run has: epochs (torch, softmax), or cycles x
    points_per_cycle (two_layer); None when the config says neither."""
    if "cycles" in config and "points_per_cycle" in config:
        return int(config["cycles"]) * int(config["points_per_cycle"])
    if "epochs" in config:
        return int(config["epochs"])
    return None


def parse_use(c: Checker, final: Mapping[str, Any]) -> str:
    """[final] use: how the final turns a PBT stage's answer into a model."""
    use = c.get(final, "use", (str,), "final.", default="replay")
    if use not in FINAL_USES:
        raise c.fail("final.use", f"must be one of: {', '.join(FINAL_USES)}. Got {use!r} "
                     "instead.")
    return str(use)


def unpinned(c: Checker, stage: str, pbt: Pbt, pinned: Mapping[str, Any]) -> Pbt:
    """`pbt` without the mutable params --set pins (one must be left)."""
    mutable = tuple(p for p in pbt.mutable if p not in pinned)
    if not mutable:
        raise c.fail(f"stages.{stage}.pbt.mutable", "every param it lists is pinned by --set; "
                     "leave one to change between generations.")
    return replace(pbt, mutable=mutable)


def parse_pbt(c: Checker, raw: Mapping[str, Any], where: str, objective: Objective,
              space: Sequence[str], earlier: Sequence[str]) -> Pbt:
    """The `pbt` table of the stage at `where`, whose space has the params `space`."""
    table = c.get(raw, "pbt", (dict,), where, required=True)
    at = f"{where}pbt."
    c.unknown(table, PBT_KEYS, at)
    counts = {key: c.get(table, key, (int,), at, default=default)
              for key, default in (("population", 8), ("interval", 2), ("generations", 4))}
    for key, least, most in (("population", 2, POPULATION_LIMIT), ("interval", 1, 10_000),
                             ("generations", 1, GENERATIONS_LIMIT)):
        if not least <= counts[key] <= most:
            raise c.fail(f"{at}{key}", f"must be an int in [{least}, {most}]. Got "
                         f"{counts[key]} instead.")
    if not getattr(objective, "resumable", False):
        raise c.fail(f"{where}pbt", f"objective '{objective.name}' cannot continue from a "
                     "checkpoint, which PBT members do every generation; expected a built-in "
                     "torch or NumPy objective.")
    mutable = c.get(table, "mutable", (list,), at, required=True)
    changeable = frozenset(getattr(objective, "mutable", ()))
    allowed = sorted(set(space) & changeable)
    for name in mutable:
        if name not in space:
            raise c.fail(f"{at}mutable", f"'{name}' is not a param of this stage's space; "
                         f"expected some of: {', '.join(space)}.")
        if name not in changeable:
            raise c.fail(f"{at}mutable", f"'{name}' cannot change in the middle of a "
                         f"{objective.name} run (shapes, batch size and the like are fixed); "
                         f"expected some of: {', '.join(allowed) or '(none in this space)'}.")
    if not mutable or len(set(mutable)) != len(mutable):
        raise c.fail(f"{at}mutable", "must list one or more distinct params of the space.")
    exploit = c.get(table, "exploit", (dict,), at, default={})
    c.unknown(exploit, EXPLOIT_KEYS, f"{at}exploit.")
    quantile = c.get(exploit, "quantile", (int, float), f"{at}exploit.", default=0.25)
    if not 0 < quantile <= 0.5:
        raise c.fail(f"{at}exploit.quantile", f"must be in (0, 0.5]. Got {quantile} instead.")
    explore = c.get(table, "explore", (dict,), at, default={})
    c.unknown(explore, EXPLORE_KEYS, f"{at}explore.")
    perturb = c.get(explore, "perturb", (list,), f"{at}explore.", default=[0.8, 1.25])
    if not perturb or not all(isinstance(f, (int, float)) and not isinstance(f, bool) and f > 0
                              for f in perturb):
        raise c.fail(f"{at}explore.perturb", f"must list factors > 0, e.g. [0.8, 1.25]. Got "
                     f"{perturb!r} instead.")
    resample = c.get(explore, "resample", (int, float), f"{at}explore.", default=0.25)
    if not 0 <= resample <= 1:
        raise c.fail(f"{at}explore.resample", f"must be a probability in [0, 1]. Got "
                     f"{resample} instead.")
    source = c.get(table, "from", (str,), at)
    if source is not None and source not in earlier:
        raise c.fail(f"{at}from", f"must name an earlier stage; got '{source}'.")
    return Pbt(population=counts["population"], interval=counts["interval"],
               generations=counts["generations"], mutable=tuple(mutable),
               quantile=float(quantile), perturb=tuple(float(f) for f in perturb),
               resample=float(resample), source=source)
