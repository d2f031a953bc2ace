"""A trained torch network wrapped for NumPy inputs (objectives.base.Model), and safe loading of
saved weights."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from objectives.base import Split
from objectives.errors import DataError
from objectives.torch_nets.architectures import ImageShape

EVAL_BATCH = 1024


def as_tensors(split: Split, image_shape: ImageShape, name: str) -> tuple[Tensor, Tensor]:
    """Zero-copy (n, C, H, W) float32 and int64 tensors on the CPU, shape-checked."""
    size = int(np.prod(image_shape))
    if split.X.ndim != 2 or split.X.shape[1] != size:
        raise DataError(f"The {name} features must have shape (n, {size}) for images "
                        f"{image_shape}. Got {split.X.shape} instead.")
    X = torch.from_numpy(np.ascontiguousarray(split.X, dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(split.y, dtype=np.int64))
    return X.view(len(split), *image_shape), y


class TorchModel:
    """A trained network plus what it needs to run on NumPy inputs (base.Model)."""

    def __init__(self, module: nn.Module, image_shape: ImageShape, device: torch.device) -> None:
        self.module = module
        self.image_shape = image_shape
        self.device = device

    @torch.no_grad()
    def _logits(self, X: Tensor) -> Tensor:
        self.module.eval()
        parts = [self.module(X[i:i + EVAL_BATCH].to(self.device))
                 for i in range(0, X.shape[0], EVAL_BATCH)]
        return torch.cat(parts) if parts else torch.empty(0, 0, device=self.device)

    def evaluate_tensors(self, X: Tensor, y: Tensor) -> dict[str, float]:
        if X.shape[0] == 0:
            return {"loss": math.nan, "accuracy": math.nan}
        logits = self._logits(X)
        y = y.to(self.device)
        loss = F.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(1) == y).sum().item() / y.shape[0]
        return {"loss": loss, "accuracy": accuracy}

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        Xt, yt = as_tensors(Split(X, y), self.image_shape, "evaluation")
        return self.evaluate_tensors(Xt, yt)

    def predict(self, X: np.ndarray) -> np.ndarray:
        Xt, _ = as_tensors(Split(X, np.zeros(len(X), np.int64)), self.image_shape, "input")
        return self._logits(Xt).argmax(1).cpu().numpy().astype(np.int64)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        Xt, _ = as_tensors(Split(X, np.zeros(len(X), np.int64)), self.image_shape, "input")
        return F.softmax(self._logits(Xt).double(), dim=1).cpu().numpy()

    def save(self, path: Path) -> Path:
        """Write the state_dict (CPU tensors) to `path`.pt."""
        path = Path(path)
        file = path if path.suffix == ".pt" else path.with_name(path.name + ".pt")
        file.parent.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.cpu() for k, v in self.module.state_dict().items()}, file)
        return file


class RawInputNetwork(nn.Module):
    """A trained network behind its data scaling: raw pixel rows (n, C*H*W) or images
    (n, C, H, W), any numeric dtype, in; logits out. What MLflow's pytorch flavour stores."""

    def __init__(self, network: nn.Module, image_shape: ImageShape, factor: np.ndarray,
                 offset: np.ndarray) -> None:
        super().__init__()
        self.network = network
        self.image_shape = image_shape
        self.register_buffer("factor", torch.from_numpy(np.asarray(factor, np.float32)))
        self.register_buffer("offset", torch.from_numpy(np.asarray(offset, np.float32)))

    def forward(self, x: Tensor) -> Tensor:
        factor, offset = self.get_buffer("factor"), self.get_buffer("offset")
        x = x.reshape(x.shape[0], -1).to(torch.float32) * factor - offset
        out: Tensor = self.network(x.view(x.shape[0], *self.image_shape))
        return out


def load_state_dict(path: Path) -> dict[str, Tensor]:
    """Read a .pt state_dict safely (weights_only=True); DataError if missing or not one."""
    if not path.is_file():
        raise DataError(f"Checkpoint {path} does not exist; expected a .pt file from save().")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or unsafe files
        raise DataError(f"Checkpoint {path} is not a readable state_dict: "
                        f"{type(exc).__name__}") from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise DataError(f"Checkpoint {path} is not a state_dict of tensors.")
    return state
