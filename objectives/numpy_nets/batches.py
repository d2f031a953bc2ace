"""Mini-batches for the NumPy training loop: seeded shuffles, rows gathered into a reused buffer,
optional horizontal-flip augmentation."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from objectives.base import Split
from objectives.numpy_nets.common import resolve_batch_size


class BatchSampler:
    """Mini-batches of a split as row indices, reshuffled every epoch; `gather` copies a batch
    into one reused buffer. Full batch is `None` (the whole split; order does not change the
    gradient). With `flip` (the rows' image shape, channel-major C, H, W) `gather` mirrors a
    random half of each mini-batch left to right: horizontal-flip augmentation."""

    def __init__(self, split: Split, batch_size: int, rng: np.random.Generator,
                 flip: tuple[int, int, int] | None = None) -> None:
        self.X, self.y, self.rng = split.X, split.y, rng
        self._mirror: np.ndarray | None = None
        if flip is not None:
            channels, height, width = flip
            # A view whose rows read each image row backwards: gathering from it mirrors.
            self._mirror = self.X.reshape(-1, channels * height, width)[:, :, ::-1]
        self.n = len(split)
        self.batch_size = resolve_batch_size(batch_size, self.n)
        self.steps_per_epoch = math.ceil(self.n / self.batch_size)
        self.full = self.batch_size == self.n
        self.plain = flip is None
        """True when batches are the split's rows as they are (no augmentation)."""
        self._xbuf: np.ndarray | None = None
        self._ybuf: np.ndarray | None = None
        self.order: np.ndarray | None = None
        """This epoch's row order (None for full batch), and the next batch's start in it."""
        self.next_start = 0

    def epoch(self, order: np.ndarray | None = None, start: int = 0
              ) -> Iterator[np.ndarray | None]:
        """This epoch's batches; `order` and `start` (from a checkpoint) continue one that was
        under way instead of drawing a new order."""
        if self.full:
            yield None
            return
        if order is None:
            order = self._draw()
        self.order = order
        for first in range(start, self.n, self.batch_size):
            self.next_start = first + self.batch_size
            yield order[first:first + self.batch_size]

    def _draw(self) -> np.ndarray:
        order = self.rng.permutation(self.n)
        # Each batch's rows in ascending order: the same batch (a gradient does not depend on
        # the order of its rows), but the gather then walks memory forwards, with fewer TLB and
        # DRAM-page misses (docs/performance.md, "Speed").
        whole = self.n - self.n % self.batch_size
        order[:whole].reshape(-1, self.batch_size).sort(axis=1)
        order[whole:].sort()
        return order

    def gather(self, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Features and labels of `rows` (the reused buffers are only valid until the next call)."""
        if rows is None:
            return self.X, self.y
        if self._xbuf is None or self._ybuf is None:
            self._xbuf = np.empty((self.batch_size, self.X.shape[1]), dtype=self.X.dtype)
            self._ybuf = np.empty(self.batch_size, dtype=self.y.dtype)
        m = rows.shape[0]
        xb, yb = self._xbuf[:m], self._ybuf[:m]
        if self._mirror is None:
            np.take(self.X, rows, axis=0, out=xb, mode="clip")
        else:
            # Plain rows first, mirrored rows after: order within a batch does not change the
            # gradient, and both parts are then one gather each.
            mirrored = np.less(self.rng.random(m), 0.5)
            rows = np.concatenate([rows[~mirrored], rows[mirrored]])
            plain = m - int(np.count_nonzero(mirrored))
            np.take(self.X, rows[:plain], axis=0, out=xb[:plain], mode="clip")
            xb[plain:].reshape(-1, *self._mirror.shape[1:])[...] = self._mirror[rows[plain:]]
        np.take(self.y, rows, out=yb, mode="clip")
        return xb, yb
