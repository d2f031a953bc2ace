"""A scikit-learn-style estimator as an objective: anything with fit(X, y) and predict(X)
(optionally predict_proba and partial_fit), given as a class (built with its defaults) or an
instance (a Pipeline, cloned for every run).

Its params are its get_params(): each one's kind comes from its default (a None default takes
any scalar). An estimator with partial_fit trains for `epochs` passes over the shuffled training
split and reports after each one, so pruners can stop it; any other is fitted once and reports
once. Either way the reported metrics are computed from the model (objectives.metrics).

Each fit runs under the tuner's thread budget (objectives.threads.limited: BLAS and OpenMP, so
HistGradientBoosting's OpenMP threads too; one thread for a table under SMALL_TABLE cells unless
the user set the threads), and an `n_jobs` the estimator is given (-1, or more than the budget)
is lowered to the budget: tuner processes on one machine never take more threads than cores.
An `n_jobs` left at None (one job in scikit-learn) stays as it is.

Values the estimator's own parameter validation rejects (scikit-learn's `_validate_params`) are
refused when the study loads (`check`), before any trial: nothing is fitted for that.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from objectives.adapters.imports import describe, refused_call, user_code
from objectives.base import Param, Reporter, RunResult, Split, class_count
from objectives.config import resolve_config
from objectives.errors import ConfigError
from objectives.metrics import prefixed, scores, task_of
from objectives.rows import InputShape, RawRows
from objectives.threads import cores, explicit, limited, resolve

DEFAULT_EPOCHS = 10
SMALL_TABLE = 100_000
"""Training tables with fewer cells (rows x features) fit with one BLAS / OpenMP thread when the
tuner chooses: HistGradientBoosting gains nothing from a second thread below it (friedman1 at
1,000 and 5,000 rows x 10: 0.99x) and gains from about 200,000 cells (1.18x; 1.65x at a
million), and a one-thread fit cannot spin against another process's threads
(benchmarks/bench_estimators.py, docs/performance.md)."""
KINDS = {bool: "bool", int: "int", float: "float", str: "str"}


def param_table(estimator: Any) -> dict[str, Param]:
    """One Param per constructor param whose default is a scalar or None (nested estimators,
    arrays and callables are left as the template has them)."""
    table = {}
    for name, default in estimator.get_params(deep=True).items():
        if default is None:
            table[name] = Param("any", None, "a constructor parameter (default None)")
        elif type(default) in KINDS:
            table[name] = Param(KINDS[type(default)], default, "a constructor parameter")
    return table


def within_budget(params: Mapping[str, Any], threads: int) -> dict[str, int]:
    """The `n_jobs` params (nested ones too: `step__n_jobs`) set above `threads` (joblib's
    -1 = all cores, -2 = all but one...), lowered to `threads`."""
    lowered = {}
    for name, value in params.items():
        if (name == "n_jobs" or name.endswith("__n_jobs")) and isinstance(value, int) \
                and not isinstance(value, bool):
            wanted = value if value > 0 else max(1, cores() + 1 + value)
            if wanted > threads:
                lowered[name] = threads
    return lowered


def estimator_kind(estimator: Any) -> str | None:
    """"classifier" or "regressor" as scikit-learn's tags say (a Pipeline: its last step);
    None when it has no tags (any estimator of your own)."""
    from sklearn.base import is_classifier, is_regressor

    try:
        return "classifier" if is_classifier(estimator) else \
            "regressor" if is_regressor(estimator) else None
    except Exception:  # noqa: BLE001 - not a scikit-learn estimator: no tags to read
        return None


class EstimatorModel:
    """A fitted estimator as the tuner's Model: scores from objectives.metrics, pickled saves."""

    def __init__(self, estimator: Any, classes: int) -> None:
        self.estimator = estimator
        self.classes = classes

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict(X))

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        return scores(self.estimator, X, y, self.classes)

    def on_raw_rows(self, scale: Any, shape: InputShape) -> Any:
        """A scikit-learn Pipeline: objectives.rows' check of raw rows (any real dtype,
        DataFrames by column name; `shape` says what the model takes), `scale` (the data
        layer's scaling, a picklable callable), then the fitted estimator, so raw rows give
        what predict gives on scaled ones."""
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer

        return make_pipeline(FunctionTransformer(RawRows(shape, scale)), self.estimator)

    def save(self, path: Path) -> Path:
        """A pickle (joblib) of the fitted estimator at `path`.pkl."""
        import joblib

        target = Path(path).with_suffix(".pkl")
        target.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.estimator, target)
        return target


class EstimatorObjective:
    """The objective of one estimator class or instance, named by its "module:attr" ref."""

    normalize = "none"
    mutable: frozenset[str] = frozenset()  # not resumable: nothing to continue

    def __init__(self, template: Any, name: str) -> None:
        self.name = name
        self.template = template
        example = self._new()
        if not callable(getattr(example, "get_params", None)):
            raise ConfigError(f"{name} has fit and predict but no get_params(), which gives an "
                              "estimator's params; expected a scikit-learn-style estimator "
                              "(e.g. a subclass of sklearn.base.BaseEstimator)")
        table = param_table(example)
        for method, call in (("fit", "fit(X, y)"), ("predict", "predict(X)")):
            signature = refused_call(getattr(example, method), call.count(",") + 1)
            if signature is not None:
                raise ConfigError(f"{name}.{method} takes {signature}; the tuner calls {call}")
        self.kind = estimator_kind(example)
        self.incremental = hasattr(example, "partial_fit")
        self.has_proba = hasattr(example, "predict_proba")
        if self.incremental and "epochs" not in table:
            table["epochs"] = Param("int", DEFAULT_EPOCHS,
                                    "passes over the training split (partial_fit)", low=1)
        self.params: Mapping[str, Param] = table

    def _new(self) -> Any:
        if isinstance(self.template, type):
            try:
                return self.template()
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's constructor
                raise ConfigError(f"{self.name}() cannot be built with its defaults "
                                  f"({describe(exc)})") from None
        from sklearn.base import clone

        return clone(self.template)

    def build(self, config: Mapping[str, Any], seed: int, threads: int | None = None) -> Any:
        """A fresh estimator with `config` set (random_state from the seed unless given; with
        `threads`, any n_jobs above it lowered to it)."""
        estimator = self._new()
        own = estimator.get_params(deep=True)
        values = {k: v for k, v in config.items() if k in own}  # not our own `epochs`
        if "random_state" in self.params and values.get("random_state") is None:
            values["random_state"] = seed
        if threads is not None:
            values.update(within_budget({**own, **values}, threads))
        try:
            estimator.set_params(**values)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.name}: {exc}") from None
        return estimator

    def check(self, config: Mapping[str, Any]) -> None:
        """ConfigError when the estimator's own validation (scikit-learn's `_validate_params`,
        where it has one) rejects `config`; nothing is fitted."""
        estimator = self.build(resolve_config(self.name, self.params, config), 0)
        nested = [v for v in estimator.get_params(deep=True).values() if hasattr(v, "fit")
                  and not isinstance(v, type)]
        checks = [getattr(e, "_validate_params", None) for e in (estimator, *nested)]
        try:
            with user_code(self.name):
                for validate in filter(callable, checks):
                    validate()
        except Exception as exc:  # noqa: BLE001 - the user's (or scikit-learn's) validation
            raise ConfigError(f"{self.name} rejects this value: "
                              f"{' '.join(str(exc).split())}") from None

    def fit(self, config: Mapping[str, Any], train: Split, val: Split, report: Reporter,
            seed: int, image_shape: tuple[int, int, int]) -> RunResult:
        small = explicit() is None and train.X.size < SMALL_TABLE
        with user_code(self.name), limited(1 if small else 0) as pool:
            return self._fit(config, train, val, pool.reporting(report), seed, resolve(0))

    def _fit(self, config: Mapping[str, Any], train: Split, val: Split, report: Reporter,
             seed: int, threads: int) -> RunResult:
        cfg = resolve_config(self.name, self.params, config)
        estimator = self.build(cfg, seed, threads)
        classes = class_count(train, val) if task_of(train.y) == "classification" else 0
        model = EstimatorModel(estimator, classes)
        history: list[dict[str, float]] = []

        def point(epoch: int, seconds: float) -> None:
            history.append({"epoch": float(epoch), **prefixed(model.evaluate(train.X, train.y),
                                                              "train"),
                            **prefixed(model.evaluate(val.X, val.y), "val"), "seconds": seconds})
            report(epoch, history[-1])

        if not self.incremental or "epochs" in estimator.get_params():
            start = time.perf_counter()
            estimator.fit(train.X, train.y)
            point(1, time.perf_counter() - start)
            return RunResult(model=model, history=history)
        rng = np.random.default_rng(seed)
        extra = {"classes": np.arange(classes)} if classes else {}
        for epoch in range(1, cfg["epochs"] + 1):
            start = time.perf_counter()
            order = rng.permutation(len(train))
            estimator.partial_fit(train.X[order], train.y[order], **extra)
            point(epoch, time.perf_counter() - start)
        return RunResult(model=model, history=history)
