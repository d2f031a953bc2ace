"""Study files (studies/NAME.toml) turned into frozen dataclasses, validated once at load time.

A study file::

    objective = "two_layer"          # a registry name, or "package.module:ATTR" for your own
    dataset = "cifar10"              # overridable with --dataset
    metric = "val_accuracy"          # a metric the objective reports at each step
    direction = "maximize"           # or "minimize" (default: maximize for *accuracy metrics)
    seed = 0                         # data split, training and sampler seed (--seed)
    val_size = 5000                  # optional: validation size (int count or fraction in (0, 1))
    train_limit = 10000              # optional: keep only the first N training samples

    [fixed]                          # params every trial uses (--set key=value overrides them)
    hidden = 50

    [[stages]]
    name = "coarse"
    sampler = "random"               # tpe, random, grid, qmc, cmaes, gp; or a table with options:
                                     # sampler = { type = "tpe", multivariate = true }
    pruner = { type = "median", n_startup_trials = 5 }
                                     # median, hyperband, successive_halving, percentile,
                                     # threshold, none (default) + that pruner's options
    trials = 20                      # target count of finished (complete + pruned) trials
    timeout = 600                    # optional: seconds this process spends on the stage
    [stages.space]
    lambda = { low = 1e-5, high = 1e-1, log = true }        # float (type inferred from the param)
    batch_size = { low = 32, high = 512, log = true }       # int: low, high, log, step
    optimizer = { choices = ["sgd", "momentum", "nesterov"] }    # categorical
    momentum = { low = 0.5, high = 0.99, when = { optimizer = ["momentum", "nesterov"] } }

    [[stages]]
    name = "fine"
    sampler = "tpe"
    trials = 20
    refine = { from = "coarse", params = ["lambda"], top_k = 3, margin = 0.5, enqueue = 3 }
    set = { cycles = 3 }             # fixed params for this stage's trials only (--set wins)

    [final]
    monitor = 1000                   # held out of train+val to monitor the final training
                                     # (a count, or a fraction of train+val such as 0.02)
    set = { cycles = 3 }             # overrides for the final retraining

Param types: `type` is "float", "int" or "categorical"; it may be left out (categorical when
`choices` is given, else the objective param's own kind). `when` makes a param conditional: it is
sampled only when each named earlier categorical param took one of the listed values (else the
fixed/default value is used). A refine stage starts from the source stage's space overlaid with
its own `space`, then narrows `params` from the source's top-k completed trials (see
tuner/stages.py); `enqueue` runs that many of the source's best configs first. --set on a param
that a space samples pins it (it is removed from every space). --trials N sets every stage's trials.
"""

from __future__ import annotations

import importlib
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from objectives.base import METRIC_NAMES, Objective
from objectives.config import check_param, resolve_config
from objectives.errors import ConfigError
from tuner.errors import SpecError

SAMPLERS = ("tpe", "random", "grid", "qmc", "cmaes", "gp")
PRUNERS = ("median", "hyperband", "successive_halving", "percentile", "threshold", "none")
PARAM_TYPES = ("float", "int", "categorical")
STUDIES_DIR = Path(__file__).resolve().parents[1] / "studies"
_TOP_KEYS = {"name", "objective", "dataset", "metric", "direction", "seed", "val_size",
             "train_limit", "fixed", "stages", "final"}
_STAGE_KEYS = {"name", "sampler", "pruner", "trials", "timeout", "space", "refine", "set"}
_PARAM_KEYS = {"type", "low", "high", "log", "step", "choices", "when"}
_REFINE_KEYS = {"from", "params", "top_k", "margin", "enqueue"}
_FINAL_KEYS = {"monitor", "set"}


@dataclass(frozen=True)
class ParamSpace:
    """How one param is sampled. kind: float, int or categorical; `when` lists (param, values)
    conditions that must all hold for the param to be sampled."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form, stored in the stage study's user attrs."""
        return {"name": self.name, "kind": self.kind, "low": self.low, "high": self.high,
                "log": self.log, "step": self.step,
                "choices": None if self.choices is None else list(self.choices),
                "when": [[k, list(v)] for k, v in self.when]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ParamSpace:
        return cls(name=d["name"], kind=d["kind"], low=d["low"], high=d["high"], log=d["log"],
                   step=d["step"],
                   choices=None if d["choices"] is None else tuple(d["choices"]),
                   when=tuple((k, tuple(v)) for k, v in d["when"]))

    def describe(self) -> str:
        if self.kind == "categorical":
            text = f"{self.name}: categorical {list(self.choices or ())}"
        else:
            text = f"{self.name}: {self.kind} [{self.low:g}, {self.high:g}]"
            text += " log" if self.log else ""
            text += f" step {self.step:g}" if self.step is not None else ""
        for key, values in self.when:
            text += f" when {key} in {list(values)}"
        return text


@dataclass(frozen=True)
class Refine:
    """Narrow `params` from the top_k completed trials of stage `source`; enqueue its best N."""

    source: str
    params: tuple[str, ...]
    top_k: int = 3
    margin: float = 0.5
    enqueue: int = 0


@dataclass(frozen=True)
class Stage:
    name: str
    sampler: str
    sampler_options: Mapping[str, Any]
    pruner: str
    pruner_options: Mapping[str, Any]
    trials: int | None
    timeout: float | None
    space: tuple[ParamSpace, ...]
    refine: Refine | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    """Fixed params for this stage's trials only (its `set` table), e.g. longer training."""


@dataclass(frozen=True)
class Final:
    monitor: int | float = 1000
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StudySpec:
    """A validated study. `fixed` is the full resolved config (defaults + [fixed] + --set)."""

    name: str
    path: Path
    objective_ref: str
    objective: Objective
    dataset: str
    metric: str
    direction: str
    seed: int
    val_size: int | float | None
    train_limit: int | None
    fixed: Mapping[str, Any]
    stages: tuple[Stage, ...]
    final: Final

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def study_name(self, stage: str) -> str:
        return f"{self.name}/{stage}"

    def stage_fixed(self, stage: Stage) -> dict[str, Any]:
        """The fixed params of `stage`'s trials: [fixed] and --set, then the stage's `set`."""
        return {**self.fixed, **stage.overrides}


def find_study_file(name: str) -> Path:
    """`name` as a path (when it ends in .toml or contains a slash), else studies/NAME.toml in
    the current directory, then in the project's studies/ folder."""
    if name.endswith(".toml") or "/" in name:
        path = Path(name)
        if not path.is_file():
            raise SpecError(f"Study file {name} does not exist.")
        return path
    for folder in (Path("studies"), STUDIES_DIR):
        if (folder / f"{name}.toml").is_file():
            return folder / f"{name}.toml"
    known = sorted(p.stem for p in STUDIES_DIR.glob("*.toml"))
    raise SpecError(f"No study file studies/{name}.toml; known studies: {', '.join(known)}.")


def resolve_objective(ref: str, where: str) -> Objective:
    """A registry name, or "package.module:ATTR" for a user-defined objective."""
    if ":" in ref:
        module_name, _, attr = ref.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise SpecError(f"{where}: cannot import module '{module_name}': {exc}.") from None
        if not hasattr(module, attr):
            raise SpecError(f"{where}: module '{module_name}' has no attribute '{attr}'.")
        obj: Objective = getattr(module, attr)
        if not hasattr(obj, "params") or not hasattr(obj, "fit"):
            raise SpecError(f"{where}: '{ref}' is not an objective (needs params and fit).")
        return obj
    from objectives import registry

    try:
        return registry.get(ref)
    except ConfigError as exc:
        raise SpecError(f"{where}: {exc}") from None
    except ImportError as exc:
        raise SpecError(f"{where}: objective '{ref}' cannot be imported: {exc}.") from None


def load_spec(
    name: str,
    *,
    dataset: str | None = None,
    sets: Mapping[str, Any] | None = None,
    trials: int | None = None,
    seed: int | None = None,
) -> StudySpec:
    """Read, validate and resolve a study file, applying the command-line overrides."""
    path = find_study_file(name)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: malformed TOML: {exc}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read: {exc}.") from None
    return parse_spec(raw, path, dataset=dataset, sets=sets, trials=trials, seed=seed)


class _Checker:
    """Typed access to TOML tables; every failure names the file and the dotted key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> SpecError:
        return SpecError(f"{self.path}: {key}: {message}")

    def unknown(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(f"{where}{key}", f"unknown key; expected one of: "
                                f"{', '.join(sorted(allowed))}.")

    def get(self, table: Mapping[str, Any], key: str, types: tuple[type, ...], where: str,
            default: Any = None, required: bool = False) -> Any:
        if key not in table:
            if required:
                raise self.fail(f"{where}{key}", "missing required key.")
            return default
        value = table[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            raise self.fail(f"{where}{key}", f"must be of type {names}. Got {value!r} instead.")
        return value


def parse_spec(
    raw: Mapping[str, Any],
    path: Path,
    *,
    dataset: str | None = None,
    sets: Mapping[str, Any] | None = None,
    trials: int | None = None,
    seed: int | None = None,
) -> StudySpec:
    """Validate a parsed study file; see the module docstring for the format."""
    c = _Checker(path)
    c.unknown(raw, _TOP_KEYS, "")
    ref = c.get(raw, "objective", (str,), "", required=True)
    objective = resolve_objective(ref, f"{path}: objective")
    params = objective.params
    study_name = c.get(raw, "name", (str,), "", default=path.stem)
    if not study_name or "/" in study_name:
        raise c.fail("name", f"must be a non-empty name without '/'. Got {study_name!r} instead.")
    ds = dataset or c.get(raw, "dataset", (str,), "", required=True)
    metric = c.get(raw, "metric", (str,), "", default="val_accuracy")
    if ":" not in ref and metric not in METRIC_NAMES:
        raise c.fail("metric", f"must be one of: {', '.join(METRIC_NAMES)}. "
                     f"Got {metric!r} instead.")
    direction = c.get(raw, "direction", (str,), "",
                      default="maximize" if metric.endswith("accuracy") else "minimize")
    if direction not in ("maximize", "minimize"):
        raise c.fail("direction", f"must be 'maximize' or 'minimize'. Got {direction!r} instead.")
    study_seed = seed if seed is not None else c.get(raw, "seed", (int,), "", default=0)
    val_size = c.get(raw, "val_size", (int, float), "")
    if val_size is not None and (val_size <= 0 or isinstance(val_size, float) and val_size >= 1):
        raise c.fail("val_size", f"must be a count >= 1 or a fraction in (0, 1). Got {val_size!r}.")
    train_limit = c.get(raw, "train_limit", (int,), "")
    if train_limit is not None and train_limit < 1:
        raise c.fail("train_limit", f"must be >= 1. Got {train_limit} instead.")

    fixed_raw = dict(c.get(raw, "fixed", (dict,), "", default={}))
    for key, value in fixed_raw.items():
        try:
            check_param(objective.name, params, key, value)
        except ConfigError as exc:
            raise c.fail(f"fixed.{key}", str(exc)) from None
    overrides = dict(sets or {})
    for key, value in overrides.items():
        try:
            overrides[key] = check_param(objective.name, params, key, value)
        except ConfigError as exc:
            raise SpecError(f"--set {key}={value}: {exc}") from None
    fixed = resolve_config(objective.name, params, {**fixed_raw, **overrides})

    stages_raw = c.get(raw, "stages", (list,), "", required=True)
    if not stages_raw:
        raise c.fail("stages", "at least one [[stages]] table is required.")
    stages: list[Stage] = []
    for i, stage_raw in enumerate(stages_raw):
        if not isinstance(stage_raw, dict):
            raise c.fail(f"stages[{i}]", "must be a table ([[stages]]).")
        stage = _parse_stage(c, stage_raw, i, objective, stages)
        if trials is not None:
            if trials < 1:
                raise SpecError(f"--trials must be >= 1. Got {trials} instead.")
            stage = replace(stage, trials=trials)
        pinned = tuple(p for p in stage.space if p.name not in overrides)
        stage_set = {k: v for k, v in stage.overrides.items() if k not in overrides}
        stage = replace(stage, space=pinned, overrides=stage_set)
        if stage.refine is not None:
            refine = replace(stage.refine,
                             params=tuple(p for p in stage.refine.params if p not in overrides))
            if stage.trials is not None:
                refine = replace(refine, enqueue=min(refine.enqueue, stage.trials))
            stage = replace(stage, refine=refine)
        stages.append(stage)
    _check_samplers(c, stages)

    final_raw = c.get(raw, "final", (dict,), "", default={})
    c.unknown(final_raw, _FINAL_KEYS, "final.")
    monitor = c.get(final_raw, "monitor", (int, float), "final.", default=1000)
    if monitor <= 0 or isinstance(monitor, float) and monitor >= 1:
        raise c.fail("final.monitor", f"must be a count >= 1 or a fraction in (0, 1). "
                     f"Got {monitor} instead.")
    final_set = dict(c.get(final_raw, "set", (dict,), "final.", default={}))
    for key, value in final_set.items():
        try:
            final_set[key] = check_param(objective.name, params, key, value)
        except ConfigError as exc:
            raise c.fail(f"final.set.{key}", str(exc)) from None

    return StudySpec(
        name=study_name, path=path, objective_ref=ref, objective=objective, dataset=ds,
        metric=metric, direction=direction, seed=study_seed, val_size=val_size,
        train_limit=train_limit, fixed=fixed, stages=tuple(stages),
        final=Final(monitor=monitor, overrides=final_set),
    )


def _parse_kind_table(c: _Checker, value: Any, key: str, names: Sequence[str]) -> tuple[str, dict]:
    """`"tpe"` or `{ type = "tpe", option = ... }` -> ("tpe", {option: ...})."""
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
    return kind, options


def _parse_stage(c: _Checker, raw: Mapping[str, Any], index: int, objective: Objective,
                 earlier: Sequence[Stage]) -> Stage:
    name = c.get(raw, "name", (str,), f"stages[{index}].", required=True)
    where = f"stages.{name}."
    if not name or "/" in name:
        raise c.fail(f"stages[{index}].name",
                     f"must be a non-empty name without '/'. Got {name!r} instead.")
    if any(s.name == name for s in earlier):
        raise c.fail(f"{where}name", "duplicate stage name.")
    c.unknown(raw, _STAGE_KEYS, where)
    sampler, sampler_options = _parse_kind_table(c, raw.get("sampler", "tpe"), f"{where}sampler",
                                                 SAMPLERS)
    pruner, pruner_options = _parse_kind_table(c, raw.get("pruner", "none"), f"{where}pruner",
                                               PRUNERS)
    trials = c.get(raw, "trials", (int,), where)
    timeout = c.get(raw, "timeout", (int, float), where)
    if trials is not None and trials < 1:
        raise c.fail(f"{where}trials", f"must be >= 1. Got {trials} instead.")
    if timeout is not None and timeout <= 0:
        raise c.fail(f"{where}timeout", f"must be > 0 seconds. Got {timeout} instead.")
    if trials is None and timeout is None:
        raise c.fail(f"{where}trials", "a stage needs trials, timeout or both.")

    refine = None
    inherited: dict[str, ParamSpace] = {}
    if "refine" in raw:
        refine_raw = c.get(raw, "refine", (dict,), where)
        rw = f"{where}refine."
        c.unknown(refine_raw, _REFINE_KEYS, rw)
        source = c.get(refine_raw, "from", (str,), rw, required=True)
        source_stage = next((s for s in earlier if s.name == source), None)
        if source_stage is None:
            raise c.fail(f"{rw}from", f"must name an earlier stage; got '{source}'.")
        inherited = {p.name: p for p in source_stage.space}
        refine_params = c.get(refine_raw, "params", (list,), rw, required=True)
        top_k = c.get(refine_raw, "top_k", (int,), rw, default=3)
        margin = c.get(refine_raw, "margin", (int, float), rw, default=0.5)
        enqueue = c.get(refine_raw, "enqueue", (int,), rw, default=0)
        if top_k < 1:
            raise c.fail(f"{rw}top_k", f"must be >= 1. Got {top_k} instead.")
        if margin < 0:
            raise c.fail(f"{rw}margin", f"must be >= 0. Got {margin} instead.")
        if enqueue < 0:
            raise c.fail(f"{rw}enqueue", f"must be >= 0. Got {enqueue} instead.")
        refine = Refine(source=source, params=tuple(refine_params), top_k=top_k,
                        margin=float(margin), enqueue=enqueue)

    space_raw = c.get(raw, "space", (dict,), where, default={})
    space = dict(inherited)
    for pname, praw in space_raw.items():
        space[pname] = _parse_param(c, pname, praw, f"{where}space.{pname}", objective, space)
    if not space:
        raise c.fail(f"{where}space", "a stage needs at least one param to search.")
    stage_set = dict(c.get(raw, "set", (dict,), where, default={}))
    for key, value in stage_set.items():
        if key in space:
            raise c.fail(f"{where}set.{key}", "is searched in this stage's space; set it in "
                         "[fixed] or remove it from the space.")
        try:
            stage_set[key] = check_param(objective.name, objective.params, key, value)
        except ConfigError as exc:
            raise c.fail(f"{where}set.{key}", str(exc)) from None
    if refine is not None:
        for pname in refine.params:
            if not isinstance(pname, str) or pname not in space:
                raise c.fail(f"{where}refine.params", f"'{pname}' is not a param of this "
                             f"stage's space; expected some of: {', '.join(space)}.")
    return Stage(name=name, sampler=sampler, sampler_options=sampler_options, pruner=pruner,
                 pruner_options=pruner_options, trials=trials,
                 timeout=None if timeout is None else float(timeout),
                 space=tuple(space.values()), refine=refine, overrides=stage_set)


def _parse_param(c: _Checker, name: str, raw: Any, where: str, objective: Objective,
                 earlier: Mapping[str, ParamSpace]) -> ParamSpace:
    if name not in objective.params:
        raise c.fail(where, f"unknown param for objective '{objective.name}'; valid keys: "
                     f"{', '.join(sorted(objective.params))}.")
    if not isinstance(raw, dict):
        raise c.fail(where, f"must be a table like {{ low = 0.1, high = 1.0 }}. Got {raw!r}.")
    c.unknown(raw, _PARAM_KEYS, f"{where}.")
    param_kind = objective.params[name].kind
    if "choices" not in raw and param_kind not in ("int", "float"):
        raise c.fail(where, f"a {param_kind} param can only be searched over choices = [...].")
    default_kind = "categorical" if "choices" in raw else param_kind
    kind = c.get(raw, "type", (str,), f"{where}.", default=default_kind)
    if kind not in PARAM_TYPES:
        raise c.fail(f"{where}.type", f"must be one of: {', '.join(PARAM_TYPES)}. "
                     f"Got {kind!r} instead.")

    def checked(key: str, value: Any) -> Any:
        try:
            return check_param(objective.name, objective.params, name, value)
        except ConfigError as exc:
            raise c.fail(f"{where}.{key}", str(exc)) from None

    when = _parse_when(c, raw, where, earlier)
    if kind == "categorical":
        choices = c.get(raw, "choices", (list,), f"{where}.", required=True)
        if not choices:
            raise c.fail(f"{where}.choices", "must not be empty.")
        extra = set(raw) - {"type", "choices", "when"}
        if extra:
            raise c.fail(f"{where}.{sorted(extra)[0]}", "not allowed for a categorical param.")
        for value in choices:
            if not isinstance(value, (str, int, float, bool)):
                raise c.fail(f"{where}.choices", f"choices must be strings, numbers or booleans. "
                             f"Got {value!r}.")
            checked("choices", value)
        return ParamSpace(name=name, kind="categorical", choices=tuple(choices), when=when)

    if param_kind not in ("int", "float") or (kind == "float" and param_kind == "int"):
        raise c.fail(f"{where}.type", f"a {param_kind} param cannot be searched as {kind}; "
                     f"use choices = [...].")
    number = (int,) if kind == "int" else (int, float)
    low = c.get(raw, "low", number, f"{where}.", required=True)
    high = c.get(raw, "high", number, f"{where}.", required=True)
    log = c.get(raw, "log", (bool,), f"{where}.", default=False)
    step = c.get(raw, "step", number, f"{where}.")
    for key, value in (("low", low), ("high", high)):
        if not math.isfinite(value):
            raise c.fail(f"{where}.{key}", f"must be finite. Got {value!r} instead.")
    if low > high:
        raise c.fail(where, f"`low <= high` must hold, but got (low={low}, high={high}).")
    if log and low <= 0:
        raise c.fail(f"{where}.low", f"must be > 0 for a log-scale param. Got {low} instead.")
    if step is not None and step <= 0:
        raise c.fail(f"{where}.step", f"must be > 0. Got {step} instead.")
    if step is not None and log:
        raise c.fail(f"{where}.step", "cannot be combined with log = true.")
    checked("low", low)
    checked("high", high)
    return ParamSpace(name=name, kind=kind, low=low, high=high, log=log, step=step, when=when)


def _parse_when(c: _Checker, raw: Mapping[str, Any], where: str,
                earlier: Mapping[str, ParamSpace]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    when_raw = c.get(raw, "when", (dict,), f"{where}.", default={})
    when = []
    for key, values in when_raw.items():
        parent = earlier.get(key)
        if parent is None or parent.kind != "categorical":
            raise c.fail(f"{where}.when.{key}", "must name a categorical param listed before it "
                         "in the same space.")
        values = values if isinstance(values, list) else [values]
        for v in values:
            if v not in (parent.choices or ()):
                raise c.fail(f"{where}.when.{key}", f"{v!r} is not one of {key}'s choices "
                             f"{list(parent.choices or ())}.")
        when.append((key, tuple(values)))
    return tuple(when)


def _check_samplers(c: _Checker, stages: Sequence[Stage]) -> None:
    """Build every sampler and pruner once so that a bad option fails at load time."""
    from tuner.samplers import build_pruner, build_sampler

    for stage in stages:
        try:
            build_sampler(stage, stage.space, seed=0)
        except (TypeError, ValueError) as exc:
            raise c.fail(f"stages.{stage.name}.sampler", f"{exc}") from None
        try:
            build_pruner(stage)
        except (TypeError, ValueError) as exc:
            raise c.fail(f"stages.{stage.name}.pruner", f"{exc}") from None
