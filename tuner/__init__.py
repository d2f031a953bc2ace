"""Orchestration: study files, Optuna studies, storage, MLflow tracking and the CLI."""

__version__ = "0.1.0"
