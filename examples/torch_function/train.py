"""A plain training function for tuner: train(config, train, val, report) -> model.

`train` and `val` are the splits (.X: float features as the CSV holds them, .y: class indices);
`report(step, metrics)` sends a row of metrics to tuner (pruning, MLflow curves). The returned
model needs predict(X); predict_proba(X) gives tuner val_loss as well. Scaling the features is
this function's own business: the model keeps the training split's mean and deviation.
"""

import numpy as np
import torch
from torch import nn


class Net:
    """What tuner needs back: predict (and predict_proba) on raw feature rows."""

    def __init__(self, module: nn.Module, mean: np.ndarray, std: np.ndarray) -> None:
        self.module, self.mean, self.std = module, mean, std

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.as_tensor((X - self.mean) / self.std, dtype=torch.float32)
            return torch.softmax(self.module(x), dim=1).numpy()

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)


def train(config, train, val, report):
    torch.manual_seed(config["seed"])
    mean, std = train.X.mean(axis=0), train.X.std(axis=0) + 1e-8
    x = torch.as_tensor((train.X - mean) / std, dtype=torch.float32)
    y = torch.as_tensor(train.y)
    classes = int(max(train.y.max(), val.y.max())) + 1
    module = nn.Sequential(nn.Linear(x.shape[1], config["hidden"]), nn.ReLU(),
                           nn.Linear(config["hidden"], classes))
    optimizer = torch.optim.Adam(module.parameters(), lr=config["lr"])
    net = Net(module, mean, std)
    for epoch in range(1, config["epochs"] + 1):
        for batch in torch.randperm(len(y)).split(config["batch_size"]):
            optimizer.zero_grad()
            nn.functional.cross_entropy(module(x[batch]), y[batch]).backward()
            optimizer.step()
        proba = net.predict_proba(val.X)
        picked = proba[np.arange(len(val.y)), val.y]
        report(epoch, {"epoch": epoch, "val_loss": float(-np.log(picked + 1e-12).mean()),
                       "val_accuracy": float((proba.argmax(axis=1) == val.y).mean())})
    return net
