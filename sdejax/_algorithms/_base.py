"""Algorithms as values: what the workers send and how the server combines it (model.md §4).

An algorithm maps the N workers' stochastic gradients g_i (shape (N, d)) to the server's
direction u, and the discrete step is x ← x − η η_k u. The mapping *is* the algorithm's optax
transformation from :mod:`sdejax.optim` (without the learning-rate scaling), so the simulator
runs exactly the code a training loop runs.
"""

from __future__ import annotations

import abc

import equinox as eqx
import optax

from .._compressors import AbstractCompressor
from .._validation import check_int_at_least


class AbstractAlgorithm(eqx.Module):
    """A distributed first-order method over ``n_workers`` workers."""

    n_workers: eqx.AbstractVar[int]
    compressor: eqx.AbstractVar[AbstractCompressor]
    name: eqx.AbstractClassVar[str]
    # Which SDE family models it: "dcsgd" (unbiased compression of SGD) or "dsignsgd".
    family: eqx.AbstractClassVar[str]

    @abc.abstractmethod
    def transformation(self, key, problem, noise) -> optax.GradientTransformation:
        """The optax transformation mapping per-worker gradients (N, d) to the direction (d,)."""

    def direction(self, key, gradients, problem, noise):
        """The server's direction u for per-worker gradients of shape (N, d)."""
        transform = self.transformation(key, problem, noise)
        state = transform.init(gradients[0])
        direction, _ = transform.update(gradients, state)
        return direction

    def check(self, problem, noise) -> None:
        """Raise a clear error if this algorithm cannot run on ``problem`` with ``noise``."""
        self.compressor.check_dim(problem.dim)
        noise.check_workers(self.n_workers)
        problem.check_workers(self.n_workers)


def check_workers(n_workers, owner):
    check_int_at_least("n_workers", n_workers, 1, owner)
    return int(n_workers)


def check_compressor(compressor, owner, *, unbiased: bool = False):
    if not isinstance(compressor, AbstractCompressor):
        raise TypeError(f"{owner}: `compressor` must be an AbstractCompressor, got {compressor!r}.")
    return compressor
