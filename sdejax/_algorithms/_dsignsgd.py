"""Distributed SignSGD."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx

from .. import optim
from .._compressors import Sign
from ._base import AbstractAlgorithm, AggregateForm, check_workers

_VOTES = ("mean", "majority")


class DSignSGD(AbstractAlgorithm):
    """Distributed SignSGD: x_{k+1} = x_k − η η_k (1/N) Σ_i sign(g_i) [paper] (``vote="mean"``),
    or x_{k+1} = x_k − η η_k sign(Σ_i sign(g_i)) (``vote="majority"``) (docs/theory.md §4).

    sign(0) = 0 in both (optax's convention); a tie in the majority vote gives 0. The discrete
    model runs :func:`sdejax.optim.dsignsgd`; with identical workers it is drawn by an exact
    O(d) aggregate sampler (the count of positive signs is binomial).
    """

    n_workers: int = eqx.field(static=True)
    vote: str = eqx.field(static=True)
    compressor: Sign
    name: ClassVar[str] = "DSignSGD"
    family: ClassVar[str] = "dsignsgd"
    is_stateless: ClassVar[bool] = True

    def __init__(self, n_workers: int, vote: str = "mean"):
        self.n_workers = check_workers(n_workers, "DSignSGD")
        if vote not in _VOTES:
            raise ValueError(f"DSignSGD: `vote` must be one of {_VOTES}, got {vote!r}.")
        self.vote = vote
        self.compressor = Sign()

    def transformation(self, learning_rate, key, problem, noise):
        del key, problem, noise
        return optim.dsignsgd(learning_rate, vote=self.vote)

    @property
    def aggregate_form(self):
        return AggregateForm(self.compressor, self.vote, self.n_workers)
