"""Distributed compressed SGD, and distributed SGD as its identity-compressor case."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx

from .. import optim
from .._compressors import AbstractCompressor, Identity
from ._base import AbstractAlgorithm, AggregateForm, check_compressor, check_workers


class DCSGD(AbstractAlgorithm):
    """Distributed compressed SGD: x_{k+1} = x_k − η η_k (1/N) Σ_i C_i(g_i) (docs/theory.md §4).

    Each worker compresses its own stochastic gradient with independent randomness. The
    discrete model runs :func:`sdejax.optim.dcsgd`; with identical workers, the Bernoulli
    sparsifier or ``Identity`` and Gaussian noise it is drawn by an exact O(d) aggregate sampler.

    **Arguments:**
    - `compressor`: any :class:`sdejax.AbstractCompressor` (SDE models need an unbiased one).
    - `n_workers`: N >= 1.
    """

    compressor: AbstractCompressor
    n_workers: int = eqx.field(static=True)
    name: ClassVar[str] = "DCSGD"
    family: ClassVar[str] = "dcsgd"
    is_stateless: ClassVar[bool] = True

    def __init__(self, compressor: AbstractCompressor, n_workers: int):
        self.compressor = check_compressor(compressor, "DCSGD")
        self.n_workers = check_workers(n_workers, "DCSGD")

    @property
    def separates_forcing(self) -> bool:
        """True with a positively homogeneous compressor (the update is then homogeneous of
        degree 1 in the gradients and the noise together)."""
        return self.compressor.is_positively_homogeneous

    def transformation(self, learning_rate, key, problem, noise):
        del problem, noise
        return optim.dcsgd(learning_rate, self.compressor, key=key)

    @property
    def aggregate_form(self):
        return AggregateForm(self.compressor, "mean", self.n_workers)


def DSGD(n_workers: int) -> DCSGD:
    """Distributed SGD: x_{k+1} = x_k − η η_k (1/N) Σ_i g_i (docs/theory.md §4).

    Returns ``DCSGD(Identity(), n_workers)``: the same value, so the same discrete model,
    aggregate sampler, SDE models and theory.

    ```python
    assert sdejax.DSGD(8) == sdejax.DCSGD(sdejax.Identity(), 8)
    ```
    """
    return DCSGD(Identity(), check_workers(n_workers, "DSGD"))
