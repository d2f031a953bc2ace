"""The torch objectives (mlp, lenet, cifar_cnn): one config table and network builder each, and
the fit that trains it, reporting after every epoch."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from objectives.base import Param, Reporter, RunResult, Split, class_count
from objectives.checkpoint import Checkpoint
from objectives.config import resolve_config
from objectives.divergence import DivergenceWatch
from objectives.errors import ConfigError, DataError
from objectives.threads import limited
from objectives.torch_nets.architectures import CifarCNN, ImageShape, LeNet, MLPNet
from objectives.torch_nets.config import check_config, choose_device, common_params, make_optimizer
from objectives.torch_nets.loop import train_epoch
from objectives.torch_nets.model import TorchModel, as_tensors, load_state_dict
from objectives.torch_nets.resume import restore, state

MUTABLE = frozenset({"lr", "weight_decay", "momentum", "beta1", "beta2", "eta_min", "gamma",
                     "dropout"})
"""Params a fit continuing from a checkpoint takes from its config: the schedule is recomputed
each step, the optimizer's hyperparameters are put back after its state is loaded (resume.py)
and dropout is the network's (built from the config), not its saved state's."""

Builder = Callable[[Mapping[str, Any], ImageShape, int], nn.Module]


@dataclass(frozen=True)
class TorchObjective:
    """One torch model family: its config table and how to build its network (base.Objective)."""

    name: str
    params: Mapping[str, Param]
    build: Builder
    min_side: int
    normalize: str = "channel"
    resumable: bool = True

    @property
    def mutable(self) -> frozenset[str]:
        """The optimizer and schedule hyperparameters (and dropout, where the net has it): a
        continued fit reads them from its config (base.Objective.mutable)."""
        return MUTABLE.intersection(self.params)

    def _network(self, config: Mapping[str, Any], image_shape: ImageShape,
                 classes: int) -> nn.Module:
        if min(image_shape[1:]) < self.min_side:
            side = self.min_side
            raise DataError(f"{self.name} needs images of at least {side}x{side} pixels. "
                            f"Got {image_shape[1]}x{image_shape[2]} instead.")
        return self.build(config, image_shape, classes)

    def fit(self, config: Mapping[str, Any], train: Split, val: Split, report: Reporter,
            seed: int, image_shape: tuple[int, int, int],
            checkpoint: Checkpoint | None = None) -> RunResult:
        """Train once with `config`; report and record metrics after every epoch. With
        `checkpoint`, continue from its state if it has one and save one after every epoch
        but the last, and after epoch `checkpoint.stop_after`, where it returns
        (objectives.checkpoint)."""
        cfg = resolve_config(self.name, self.params, config)
        check_config(cfg)
        if len(train) == 0:
            raise DataError("The training split is empty; expected at least one example.")
        device = choose_device(cfg["device"])
        with limited(cfg["threads"]) as pool:
            return self._train(cfg, train, val, pool.reporting(report), seed, image_shape,
                               device, checkpoint, pool.tick)

    def _train(self, cfg: Mapping[str, Any], train: Split, val: Split, report: Reporter,
               seed: int, image_shape: ImageShape, device: torch.device,
               checkpoint: Checkpoint | None, tick: Callable[[], object] | None = None
               ) -> RunResult:
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        X, y = (t.to(device) for t in as_tensors(train, image_shape, "train"))
        X_val, y_val = (t.to(device) for t in as_tensors(val, image_shape, "val"))
        network = self._network(cfg, image_shape, class_count(train, val)).to(device)
        model = TorchModel(network, image_shape, device)
        optimizer = make_optimizer(network, cfg)
        history: list[dict[str, float]] = []
        watch = DivergenceWatch()
        saved = checkpoint.load_torch() if checkpoint is not None else None
        if saved is not None:
            history = restore(saved, network, optimizer, generator, watch)
            if checkpoint is not None and checkpoint.ends_at(len(history)):
                return RunResult(model=model, history=history)  # its stop was reached
        for epoch in range(len(history) + 1, cfg["epochs"] + 1):
            start = time.perf_counter()
            train_loss, train_accuracy, lr = train_epoch(
                network, optimizer, X, y, cfg, epoch, generator, watch, tick)
            seconds = time.perf_counter() - start
            val_metrics = model.evaluate_tensors(X_val, y_val)
            metrics = {"epoch": float(epoch), "train_loss": train_loss,
                       "train_accuracy": train_accuracy, "val_loss": val_metrics["loss"],
                       "val_accuracy": val_metrics["accuracy"], "lr": lr, "seconds": seconds}
            history.append(metrics)
            report(epoch, metrics)
            if checkpoint is None:
                continue
            if checkpoint.ends_at(epoch) or (epoch < cfg["epochs"] and checkpoint.due()):
                checkpoint.save_torch(state(network, optimizer, generator, watch, history))
            if checkpoint.ends_at(epoch):
                break
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


MLP = TorchObjective(
    name="mlp",
    params={**common_params(epochs=8, schedule="multistep", milestones=[6]),
            "widths": Param("ints", [512, 256, 128], "hidden layer sizes (3 of them)", low=1)},
    build=lambda cfg, shape, classes: MLPNet(shape, classes, cfg["widths"]),
    min_side=1,
)
LENET = TorchObjective(
    name="lenet",
    params=common_params(epochs=8, schedule="multistep", milestones=[6]),
    build=lambda cfg, shape, classes: LeNet(shape, classes),
    min_side=12,
)
CIFAR_CNN = TorchObjective(
    name="cifar_cnn",
    params={**common_params(epochs=20, lr=0.02, batch_size=64, schedule="multistep",
                             milestones=[10, 15]),
            "dropout": Param("float", 0.3, "dropout probability before each FC layer",
                             low=0.0, high=1.0),
            "augment": Param("bool", False, "random crop (pad 4) + horizontal flip")},
    build=lambda cfg, shape, classes: CifarCNN(shape, classes, cfg["dropout"]),
    min_side=8,
)
