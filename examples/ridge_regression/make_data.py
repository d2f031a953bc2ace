"""Write scikit-learn's diabetes data (442 patients, 10 features) as diabetes.csv here."""

import csv
import sys
from pathlib import Path

from sklearn.datasets import load_diabetes


def write(folder: Path) -> Path:
    data = load_diabetes()
    path = Path(folder) / "diabetes.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*data.feature_names, "progression"])
        writer.writerows([*row, target] for row, target in zip(data.data, data.target, strict=True))
    return path


if __name__ == "__main__":
    print(write(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)))
