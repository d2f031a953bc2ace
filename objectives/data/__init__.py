"""Datasets: the built-in ones by name (files found, parsed once and cached as .npy), the user's
own CSV / .npz files and loaders (tables.py); split and scaled, the test split behind one door."""

from objectives.data.catalog import DATASETS, SYSTEM_DIRS
from objectives.data.dataset import Dataset, load
from objectives.data.entry import load_dataset
from objectives.data.locate import cache_root, default_data_root

__all__ = ["DATASETS", "SYSTEM_DIRS", "Dataset", "cache_root", "default_data_root", "load",
           "load_dataset"]
