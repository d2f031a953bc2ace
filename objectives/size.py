"""How many trained parameters a model has (the `params_count` a study may minimize)."""

from __future__ import annotations

from typing import Any

import numpy as np

SKLEARN_ARRAYS = ("coef_", "intercept_", "coefs_", "intercepts_")


def params_count(model: Any) -> int | None:
    """The parameter count of our NumPy nets (their flat buffer), a torch network, or a
    scikit-learn estimator's fitted coefficient arrays (linear models, MLPs); None when the
    model has none of these."""
    flat = getattr(model, "flat_params", None)
    if isinstance(flat, np.ndarray):
        return int(flat.size)
    module = getattr(model, "module", None)
    if module is not None and hasattr(module, "parameters"):
        return int(sum(p.numel() for p in module.parameters()))
    estimator = getattr(model, "estimator", model)
    steps = getattr(estimator, "steps", None)
    if steps:  # a Pipeline: its last step is the model
        estimator = steps[-1][1]
    arrays = [getattr(estimator, name) for name in SKLEARN_ARRAYS if hasattr(estimator, name)]
    if not arrays:
        return None
    return int(sum(np.size(a) for part in arrays
                   for a in (part if isinstance(part, list) else [part])))
