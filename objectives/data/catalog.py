"""The built-in datasets: names, files, folder layouts, class names, image shapes, pixel ranges."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATASETS = ("mnist", "fashion-mnist", "cifar10", "digits")
NORMALIZATIONS = ("feature", "channel", "none")
DEFAULT_VAL_SIZE = 5000
DIGITS_TEST_FRACTION = 0.2
DIGITS_VAL_FRACTION = 0.2
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
LAYOUTS = {
    "mnist": ("mnist", "MNIST/raw"),
    "fashion-mnist": ("fashion-mnist", "FashionMNIST/raw"),
    "cifar10": ("cifar-10-batches-py",),
}
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}
TORCHVISION_CLASSES = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}
CLASS_NAMES = {
    "mnist": tuple(str(i) for i in range(10)),
    "digits": tuple(str(i) for i in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"),
}
IMAGE_SHAPES = {
    "mnist": (1, 28, 28),
    "fashion-mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "digits": (1, 8, 8),
}
MAX_VALUE = {"mnist": 255.0, "fashion-mnist": 255.0, "cifar10": 255.0, "digits": 16.0}

Raw = tuple[np.ndarray, np.ndarray]  # (uint8 images (n, C*H*W), int64 labels (n,))
