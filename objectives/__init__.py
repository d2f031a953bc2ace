"""Training code: datasets, NumPy and torch models, their training loops. Knows nothing of
Optuna, MLflow or the CLI; talks to the outside only through a reporter (see objectives.base)."""
