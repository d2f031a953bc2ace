"""Training the torch networks: config table, optimizer, lr schedule, epoch loop, checkpoints.

The loop reads top to bottom: tensors are made once from the splits (no copies on CPU), each
epoch slices a seeded permutation of whole tensors into batches, and after every epoch the
metrics go to `report` (which may raise to prune the run) and into RunResult.history.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from objectives import schedules
from objectives.base import Param, Reporter, RunResult, Split, resolve_config
from objectives.errors import ConfigError, DataError, DivergenceError
from objectives.numpy_common import CHECK_EVERY, EXPLODE_FACTOR
from objectives.threads import THREADS_HELP, limited
from objectives.torch_models import CifarCNN, ImageShape, LeNet, MLPNet

EVAL_BATCH = 1024
SCHEDULES = ("constant", "step", "multistep", "exponential", "cyclical")
OPTIMIZERS = ("sgd", "adagrad", "adam")


def _common_params(**defaults: Any) -> dict[str, Param]:
    """The config keys every torch objective shares; `defaults` overrides the default values."""
    params = {
        "epochs": Param("int", 10, "passes over the training split", low=1),
        "batch_size": Param("int", 128, "examples per gradient step", low=1),
        "optimizer": Param("str", "sgd", "update rule", choices=OPTIMIZERS),
        "lr": Param("float", 0.05, "peak learning rate (> 0)", low=0.0),
        "momentum": Param("float", 0.9, "sgd momentum", low=0.0, high=1.0),
        "nesterov": Param("bool", False, "sgd Nesterov momentum (needs momentum > 0)"),
        "beta1": Param("float", 0.9, "adam first-moment decay", low=0.0, high=1.0),
        "beta2": Param("float", 0.999, "adam second-moment decay", low=0.0, high=1.0),
        "weight_decay": Param("float", 0.0, "L2 penalty added by the optimizer", low=0.0),
        "schedule": Param("str", "constant", "lr schedule over epochs", choices=SCHEDULES),
        "milestones": Param("ints", [], "multistep: epochs after which lr *= gamma", low=1),
        "gamma": Param("float", 0.1, "step/multistep/exponential lr factor (> 0)", low=0.0),
        "step_size": Param("int", 10, "step: epochs between lr *= gamma", low=1),
        "warmup_epochs": Param("float", 0.0, "linear warm-up from ~0 to lr", low=0.0),
        "eta_min": Param("float", 0.0, "cyclical: lowest lr (the peak is lr)", low=0.0),
        "cycle_epochs": Param("float", 4.0, "cyclical: epochs per triangle (> 0)", low=0.0),
        "device": Param("str", "auto", "auto (cuda when present), cpu or cuda",
                        choices=("auto", "cpu", "cuda")),
        "threads": Param("int", 0, THREADS_HELP, low=0),
    }
    for key, value in defaults.items():
        p = params[key]
        params[key] = Param(p.kind, value, p.help, p.choices, p.low, p.high)
    return params


def _check(config: Mapping[str, Any]) -> None:
    """Rules that span keys or need strict bounds, which the Param table cannot say."""
    for key in ("lr", "gamma", "cycle_epochs"):
        if config[key] <= 0:
            raise ConfigError(f"The '{key}' parameter must be > 0. Got {config[key]!r} instead.")
    for key in ("momentum", "beta1", "beta2", "dropout"):
        if config.get(key, 0) >= 1:
            raise ConfigError(
                f"The '{key}' parameter must be in [0, 1). Got {config[key]!r} instead."
            )
    if config["nesterov"] and (config["optimizer"] != "sgd" or config["momentum"] <= 0):
        raise ConfigError(
            "nesterov=true needs optimizer=sgd and momentum > 0. "
            f"Got optimizer={config['optimizer']!r}, momentum={config['momentum']!r} instead."
        )
    if "widths" in config and len(config["widths"]) != 3:
        raise ConfigError("The 'widths' parameter must list 3 hidden sizes (4 linear layers). "
                          f"Got {config['widths']!r} instead.")
    milestones = list(config["milestones"])
    if milestones != sorted(set(milestones)):
        raise ConfigError(
            f"The 'milestones' parameter must be strictly increasing. Got {milestones!r} instead."
        )
    if config["schedule"] == "cyclical" and config["eta_min"] > config["lr"]:
        raise ConfigError(
            f"Cyclical schedule needs eta_min <= lr. Got eta_min={config['eta_min']!r}, "
            f"lr={config['lr']!r} instead."
        )


def lr_at(config: Mapping[str, Any], step: int, steps_per_epoch: int) -> float:
    """The learning rate for 0-based update `step`: the schedule times the linear warm-up.

    Epoch-based schedules change at epoch boundaries; cyclical is a triangle from eta_min up to
    lr and back over cycle_epochs.
    """
    lr = float(config["lr"])
    epoch = step // steps_per_epoch
    schedule = config["schedule"]
    if schedule == "step":
        lr = schedules.step_decay(epoch, lr, config["gamma"], config["step_size"])
    elif schedule == "multistep":
        lr *= config["gamma"] ** sum(1 for m in config["milestones"] if m <= epoch)
    elif schedule == "exponential":
        lr = schedules.exponential(epoch, lr, -math.log(config["gamma"]))
    elif schedule == "cyclical":
        half = max(1, round(config["cycle_epochs"] * steps_per_epoch / 2))
        lr = schedules.cyclical(step, config["eta_min"], lr, half)
    return lr * schedules.warmup(step, round(config["warmup_epochs"] * steps_per_epoch))


def make_optimizer(model: nn.Module, config: Mapping[str, Any]) -> torch.optim.Optimizer:
    """sgd (momentum, nesterov), adagrad or adam (betas), all with weight decay."""
    lr, wd = float(config["lr"]), float(config["weight_decay"])
    if config["optimizer"] == "adam":
        betas = (float(config["beta1"]), float(config["beta2"]))
        return torch.optim.Adam(model.parameters(), lr=lr, betas=betas, weight_decay=wd)
    if config["optimizer"] == "adagrad":
        return torch.optim.Adagrad(model.parameters(), lr=lr, weight_decay=wd)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=float(config["momentum"]),
                           nesterov=bool(config["nesterov"]), weight_decay=wd)


def choose_device(name: str) -> torch.device:
    """`auto` is CUDA when present, else CPU; asking for `cuda` without one is a ConfigError."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("The 'device' parameter is 'cuda' but no CUDA device is available; "
                          "use device=auto or device=cpu.")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def augment(x: Tensor, generator: torch.Generator) -> Tensor:
    """Random crop with 4-pixel zero padding plus random horizontal flip, for a whole batch.

    One gather on the padded batch: each sample's row/column indices are its crop offset plus
    0..H-1 (columns reversed for flipped samples). Zero is the mean after normalisation.
    """
    n, c, h, w = x.shape
    pad = 4
    padded = F.pad(x, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator).to(x.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)
    cols_fwd = torch.arange(w, device=x.device)
    cols = offsets[1, :, None] + torch.where(flip[:, None], cols_fwd.flip(0), cols_fwd)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]


def _as_tensors(split: Split, image_shape: ImageShape, name: str) -> tuple[Tensor, Tensor]:
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
        Xt, yt = _as_tensors(Split(X, y), self.image_shape, "evaluation")
        return self.evaluate_tensors(Xt, yt)

    def predict(self, X: np.ndarray) -> np.ndarray:
        Xt, _ = _as_tensors(Split(X, np.zeros(len(X), np.int64)), self.image_shape, "input")
        return self._logits(Xt).argmax(1).cpu().numpy().astype(np.int64)

    def save(self, path: Path) -> Path:
        """Write the state_dict (CPU tensors) to `path`.pt."""
        path = Path(path)
        file = path if path.suffix == ".pt" else path.with_name(path.name + ".pt")
        file.parent.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.cpu() for k, v in self.module.state_dict().items()}, file)
        return file


class _DivergenceWatch:
    """Like the NumPy objectives: a non-finite loss, or one above EXPLODE_FACTOR x the first
    batch's loss, is divergence. Checked every CHECK_EVERY updates and on each epoch's mean."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.reference = math.nan

    def check(self, loss: float, step: int, epoch: int) -> None:
        if math.isnan(self.reference):
            self.reference = max(loss, 1e-3) if math.isfinite(loss) else 1.0
        if not math.isfinite(loss) or loss > EXPLODE_FACTOR * self.reference:
            raise DivergenceError(
                f"{self.name} diverged at update {step} (epoch {epoch}): loss {loss:.3g}, "
                f"initial {self.reference:.3g}; try a smaller learning rate.", step=epoch)


def _train_epoch(network: nn.Module, optimizer: torch.optim.Optimizer, X: Tensor, y: Tensor,
                 config: Mapping[str, Any], epoch: int, generator: torch.Generator,
                 watch: _DivergenceWatch) -> tuple[float, float, float]:
    """One pass over (X, y) in seeded random batches; returns (mean loss, accuracy, last lr)."""
    network.train()
    n, batch = X.shape[0], config["batch_size"]
    steps = math.ceil(n / batch)
    order = torch.randperm(n, generator=generator).to(X.device)
    loss_sum = torch.zeros((), device=X.device)
    correct = torch.zeros((), dtype=torch.int64, device=X.device)
    lr = 0.0
    for i in range(steps):
        step = (epoch - 1) * steps + i
        lr = lr_at(config, step, steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        idx = order[i * batch:(i + 1) * batch]
        xb, yb = X[idx], y[idx]
        if config.get("augment"):
            xb = augment(xb, generator)
        logits = network(xb)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * yb.shape[0]
        correct += (logits.detach().argmax(1) == yb).sum()
        if step % CHECK_EVERY == 0:
            watch.check(loss.item(), step + 1, epoch)
    mean_loss = loss_sum.item() / n
    watch.check(mean_loss, (epoch - 1) * steps + steps, epoch)
    return mean_loss, correct.item() / n, lr


Builder = Callable[[Mapping[str, Any], ImageShape, int], nn.Module]


def _num_classes(*splits: Split) -> int:
    """Every built-in dataset has 10 classes; more only if the labels say so."""
    top = max((int(s.y.max()) for s in splits if len(s)), default=0)
    return max(10, top + 1)


@dataclass(frozen=True)
class TorchObjective:
    """One torch model family: its config table and how to build its network (base.Objective)."""

    name: str
    params: Mapping[str, Param]
    build: Builder
    min_side: int
    normalize: str = "channel"

    def _network(self, config: Mapping[str, Any], image_shape: ImageShape,
                 classes: int) -> nn.Module:
        if min(image_shape[1:]) < self.min_side:
            side = self.min_side
            raise DataError(f"{self.name} needs images of at least {side}x{side} pixels. "
                            f"Got {image_shape[1]}x{image_shape[2]} instead.")
        return self.build(config, image_shape, classes)

    def fit(self, config: Mapping[str, Any], train: Split, val: Split, report: Reporter,
            seed: int, image_shape: tuple[int, int, int]) -> RunResult:
        """Train once with `config`; report and record metrics after every epoch."""
        cfg = resolve_config(self.name, self.params, config)
        _check(cfg)
        if len(train) == 0:
            raise DataError("The training split is empty; expected at least one example.")
        device = choose_device(cfg["device"])
        with limited(cfg["threads"]):
            return self._train(cfg, train, val, report, seed, image_shape, device)

    def _train(self, cfg: Mapping[str, Any], train: Split, val: Split, report: Reporter,
               seed: int, image_shape: ImageShape, device: torch.device) -> RunResult:
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        X, y = (t.to(device) for t in _as_tensors(train, image_shape, "train"))
        X_val, y_val = (t.to(device) for t in _as_tensors(val, image_shape, "val"))
        network = self._network(cfg, image_shape, _num_classes(train, val)).to(device)
        model = TorchModel(network, image_shape, device)
        optimizer = make_optimizer(network, cfg)
        history: list[dict[str, float]] = []
        watch = _DivergenceWatch(self.name)
        for epoch in range(1, cfg["epochs"] + 1):
            start = time.perf_counter()
            train_loss, train_accuracy, lr = _train_epoch(
                network, optimizer, X, y, cfg, epoch, generator, watch)
            seconds = time.perf_counter() - start
            val_metrics = model.evaluate_tensors(X_val, y_val)
            metrics = {"epoch": float(epoch), "train_loss": train_loss,
                       "train_accuracy": train_accuracy, "val_loss": val_metrics["loss"],
                       "val_accuracy": val_metrics["accuracy"], "lr": lr, "seconds": seconds}
            history.append(metrics)
            report(epoch, metrics)
        return RunResult(model=model, history=history)

    def load(self, path: Path, config: Mapping[str, Any], image_shape: ImageShape,
             classes: int = 10, device: str = "cpu") -> TorchModel:
        """Rebuild the network from `config` and load a state_dict saved by TorchModel.save."""
        cfg = resolve_config(self.name, self.params, config)
        state = load_state_dict(Path(path))
        network = self._network(cfg, image_shape, classes)
        try:
            network.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise ConfigError(f"Checkpoint {path} does not match the {self.name} config: "
                              f"{first}") from None
        target = choose_device(device)
        return TorchModel(network.to(target), image_shape, target)


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


MLP = TorchObjective(
    name="mlp",
    params={**_common_params(epochs=8, schedule="multistep", milestones=[6]),
            "widths": Param("ints", [512, 256, 128], "hidden layer sizes (3 of them)", low=1)},
    build=lambda cfg, shape, classes: MLPNet(shape, classes, cfg["widths"]),
    min_side=1,
)
LENET = TorchObjective(
    name="lenet",
    params=_common_params(epochs=8, schedule="multistep", milestones=[6]),
    build=lambda cfg, shape, classes: LeNet(shape, classes),
    min_side=12,
)
CIFAR_CNN = TorchObjective(
    name="cifar_cnn",
    params={**_common_params(epochs=20, lr=0.02, batch_size=64, schedule="multistep",
                             milestones=[10, 15]),
            "dropout": Param("float", 0.3, "dropout probability before each FC layer",
                             low=0.0, high=1.0),
            "augment": Param("bool", False, "random crop (pad 4) + horizontal flip")},
    build=lambda cfg, shape, classes: CifarCNN(shape, classes, cfg["dropout"]),
    min_side=8,
)
