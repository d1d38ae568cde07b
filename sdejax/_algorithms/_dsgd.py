"""Distributed SGD and distributed compressed SGD."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import optax

from .. import optim
from .._compressors import AbstractCompressor, Identity
from ._base import AbstractAlgorithm, check_compressor, check_workers


class DCSGD(AbstractAlgorithm):
    """Distributed compressed SGD: x_{k+1} = x_k − η η_k (1/N) Σ_i C_i(g_i) (model.md §4).

    Each worker compresses its own stochastic gradient with independent randomness.

    **Arguments:**
    - `compressor`: any :class:`sdejax.AbstractCompressor` (SDE models need an unbiased one).
    - `n_workers`: N >= 1.
    """

    compressor: AbstractCompressor
    n_workers: int = eqx.field(static=True)
    name: ClassVar[str] = "DCSGD"
    family: ClassVar[str] = "dcsgd"

    def __init__(self, compressor: AbstractCompressor, n_workers: int):
        self.compressor = check_compressor(compressor, "DCSGD")
        self.n_workers = check_workers(n_workers, "DCSGD")

    def transformation(self, key, problem, noise):
        return optax.chain(
            optim.compress_workers(self.compressor, key=key),
            optim.aggregate_workers(vote="mean"),
        )


class DSGD(AbstractAlgorithm):
    """Distributed SGD: x_{k+1} = x_k − η η_k (1/N) Σ_i g_i (DCSGD with ``Identity()``)."""

    n_workers: int = eqx.field(static=True)
    compressor: Identity
    name: ClassVar[str] = "DSGD"
    family: ClassVar[str] = "dcsgd"

    def __init__(self, n_workers: int):
        self.n_workers = check_workers(n_workers, "DSGD")
        self.compressor = Identity()

    def transformation(self, key, problem, noise):
        del key
        return optim.aggregate_workers(vote="mean")
