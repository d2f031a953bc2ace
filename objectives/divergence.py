"""Divergence checks shared by every training loop: a non-finite training loss, or one above
EXPLODE_FACTOR times the first batch's, ends the run with DivergenceError (the tuner prunes it)."""

from __future__ import annotations

import math

from objectives.errors import DivergenceError

EXPLODE_FACTOR = 1e3
"""A loss above EXPLODE_FACTOR x the initial loss counts as divergence."""

CHECK_EVERY = 50
"""Update steps between checks of the training loss (the mini-batch's own, from the forward pass
that computed its gradient: no extra scoring)."""


class DivergenceWatch:
    """Remembers the first batch's loss and checks later losses against it."""

    def __init__(self) -> None:
        self.reference = math.nan

    def start(self, loss: float) -> None:
        """Record the first batch's loss (a non-finite one counts as 1)."""
        self.reference = max(loss, 1e-3) if math.isfinite(loss) else 1.0

    def check(self, loss: float, update: int, epoch: float, point: int) -> None:
        """Raise DivergenceError for reporting point `point` when `loss` (at 1-based `update`,
        epoch `epoch`) is non-finite or exploded."""
        if math.isnan(self.reference):
            self.start(loss)
        if not math.isfinite(loss) or loss > EXPLODE_FACTOR * self.reference:
            raise DivergenceError(
                f"Training diverged at update {update} (epoch {epoch:.2f}): loss {loss:.3g}, "
                f"initial {self.reference:.3g}; try a smaller learning rate.", step=point)
