"""Write scikit-learn's wine data (178 wines, 13 features, 3 cultivars named) as wine.csv here."""

import csv
import sys
from pathlib import Path

from sklearn.datasets import load_wine

CULTIVARS = ("barolo", "grignolino", "barbera")


def write(folder: Path) -> Path:
    data = load_wine()
    path = Path(folder) / "wine.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*data.feature_names, "cultivar"])
        writer.writerows([*row, CULTIVARS[target]]
                         for row, target in zip(data.data, data.target, strict=True))
    return path


if __name__ == "__main__":
    print(write(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)))
