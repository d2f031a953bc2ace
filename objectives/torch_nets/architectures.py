"""The three torch networks: a 4-layer MLP, LeNet-5 and the 3-conv CIFAR-10 CNN.

Each builder takes the image shape (C, H, W) and the number of classes, so the same network
works on MNIST-sized and CIFAR-sized inputs. Inputs are batches shaped (n, C, H, W).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

ImageShape = tuple[int, int, int]


class MLPNet(nn.Module):
    """Four linear layers, input -> widths[0] -> widths[1] -> widths[2] -> classes, with ReLU."""

    def __init__(self, image_shape: ImageShape, classes: int, widths: Sequence[int]) -> None:
        super().__init__()
        c, h, w = image_shape
        sizes = [c * h * w, *widths]
        layers: list[nn.Module] = [nn.Flatten()]
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)
        return out


class LeNet(nn.Module):
    """LeNet-5: conv5(6, pad 2)-pool-conv5(16)-pool-fc120-fc84-fc(classes), ReLU activations."""

    def __init__(self, image_shape: ImageShape, classes: int) -> None:
        super().__init__()
        c, h, w = image_shape
        flat = 16 * ((h // 2 - 4) // 2) * ((w // 2 - 4) // 2)
        self.features = nn.Sequential(
            nn.Conv2d(c, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(flat, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.classifier(self.features(x))
        return out


class CifarCNN(nn.Module):
    """conv3x3 3->16->32->64 (each ReLU + 2x2 max-pool), dropout, FC 1024->500->10 with dropout."""

    def __init__(self, image_shape: ImageShape, classes: int, dropout: float) -> None:
        super().__init__()
        c, h, w = image_shape
        blocks: list[nn.Module] = []
        for n_in, n_out in ((c, 16), (16, 32), (32, 64)):
            blocks += [nn.Conv2d(n_in, n_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*blocks, nn.Flatten())
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(64 * (h // 8) * (w // 8), 500), nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(500, classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.classifier(self.features(x))
        return out
