"""Normalized distributed compressed SGD (plain and theory-scaled)."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx

from .. import optim
from .._compressors import AbstractCompressor
from ._base import AbstractAlgorithm, check_compressor, check_workers

_SCALINGS = ("plain", "theory")


class NormalizedDCSGD(AbstractAlgorithm):
    """Normalized DCSGD (docs/theory.md §4), the chain :func:`sdejax.optim.normalized_dcsgd`.

    * ``scaling="plain"``: x_{k+1} = x_k − η η_k ĝ/‖ĝ‖;
    * ``scaling="theory"`` [reconstructed]: x_{k+1} = x_k − η η_k ĝ / D(‖ĝ‖) with
      D = (L0 + L1‖ĝ‖)(1 + B̄/N) + L1 d s̄0/N, L0, L1 from the problem and σ0, σ1 from the
      noise (affine noise; other noise models count as σ0 = σ1 = 0 unless given). η plays the
      role of 2ε, so η ∈ (0, 2) is the intended range. The rule is pluggable: pass
      ``denominator(norm, algorithm, problem, noise) -> array``.

    ĝ = (1/N) Σ_i C_i(g_i).
    """

    compressor: AbstractCompressor
    n_workers: int = eqx.field(static=True)
    scaling: str = eqx.field(static=True)
    denominator: object = eqx.field(static=True)
    name: ClassVar[str] = "NormalizedDCSGD"
    family: ClassVar[str] = "normalized"
    is_stateless: ClassVar[bool] = True

    def __init__(self, compressor, n_workers: int, scaling: str = "plain", denominator=None):
        self.compressor = check_compressor(compressor, "NormalizedDCSGD")
        self.n_workers = check_workers(n_workers, "NormalizedDCSGD")
        if scaling not in _SCALINGS:
            raise ValueError(f"NormalizedDCSGD: `scaling` must be one of {_SCALINGS}, got {scaling!r}.")
        self.scaling = scaling
        self.denominator = denominator

    def check(self, problem, noise):
        if self.scaling == "theory" and self.denominator is None and problem.smoothness() is None:
            raise ValueError(
                "NormalizedDCSGD(scaling='theory') needs the problem's (L0, L1): give the "
                "LossProblem `smoothness=(L0, L1)` or pass a `denominator`."
            )
        if self.scaling == "theory" and self.denominator is None and not self.compressor.is_unbiased:
            raise ValueError(
                f"NormalizedDCSGD(scaling='theory'): `compressor` must be unbiased (finite ω); "
                f"{type(self.compressor).__name__} is biased. Use scaling='plain' or pass a `denominator`."
            )
        super().check(problem, noise)

    def transformation(self, learning_rate, key, problem, noise):
        if self.scaling == "plain":
            constants = {}
        elif self.denominator is not None:
            rule = self.denominator
            constants = dict(
                l0=None,
                l1=None,
                n_workers=self.n_workers,
                denominator=lambda norm: rule(norm, self, problem, noise),
            )
        else:
            l0, l1 = problem.smoothness()
            constants = dict(
                l0=l0,
                l1=l1,
                n_workers=self.n_workers,
                dim=problem.dim,
                sigma0=getattr(noise, "sigma0", 0.0),
                sigma1=getattr(noise, "sigma1", 0.0),
            )
        return optim.normalized_dcsgd(
            learning_rate, self.compressor, key=key, scaling=self.scaling, **constants
        )
