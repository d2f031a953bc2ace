"""Write scikit-learn's 8x8 digits (1,797 images) as digits.npz here, pixels scaled to [0, 1]."""

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits


def write(folder: Path) -> Path:
    data = load_digits()
    path = Path(folder) / "digits.npz"
    np.savez(path, X=data.data / 16.0, y=data.target)
    return path


if __name__ == "__main__":
    print(write(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)))
