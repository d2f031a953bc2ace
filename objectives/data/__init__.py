"""Datasets by name: find the files, parse them once (cached as .npy), split and normalise."""

from objectives.data.catalog import DATASETS, SYSTEM_DIRS
from objectives.data.dataset import Dataset, load
from objectives.data.locate import cache_root, default_data_root

__all__ = ["DATASETS", "SYSTEM_DIRS", "Dataset", "cache_root", "default_data_root", "load"]
