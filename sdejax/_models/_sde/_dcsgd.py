"""SDE coefficients of DSGD and DCSGD with an unbiased compressor (model.md §5.1)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx

from ..._compressors import AbstractCompressor, BernoulliSparsifier, Identity, RandK
from ..._noise import AbstractNoise, GaussianNoise, StudentTNoise
from ..._problems import AbstractProblem
from ..._validation import is_concrete
from ._coefficients import AbstractSDECoefficients
from ._low_rank import diagonal_minus_rank_one_root


class DCSGDCoefficients(AbstractSDECoefficients):
    """b = −∇f and S = Σ̃/N, Σ̃ = (1/N) Σ_i [Σ_i(x) + Ω_i(x)] (model.md §5.1) [derived].

    Σ_i = ``noise.variance`` (diagonal), Ω_i = E_Z Cov_C(C(∇f + Z_i)):

    - Identity, Bernoulli: Ω_i = ω diag(∇f∘∇f + diag Σ_i) (exact); L is diagonal.
    - rand-k: Ω_i = c (d diag(∇f∘∇f + diag Σ_i) − ∇f∇fᵀ − Σ_i) (exact), so
      Σ̃ = diag(D) − c ∇f∇fᵀ, D = mean_i[(1 + ω) diag Σ_i] + c d ∇f∘∇f; L is the exact O(d)
      root ``diagonal_minus_rank_one_root``.
    - other unbiased compressors with independent coordinates (natural compression, random
      dithering): **approximation** Ω_i ≈ Cov_C(C(r_i)) at the root-mean-square gradient
      r_i = √(∇f∘∇f + diag Σ_i) (``exact_covariance`` is False). It is exact whenever
      Cov_C(C(x)) is quadratic in x coordinate-wise (Identity, Bernoulli); for natural
      compression and dithering it replaces E_Z of a piecewise-quadratic function by its value
      at the RMS point.

    Requires finite noise variance: Student-t with ν <= 2 raises (no finite diffusion).
    """

    problem: AbstractProblem
    noise: AbstractNoise
    compressor: AbstractCompressor
    n_workers: int = eqx.field(static=True)

    def __init__(self, problem, noise, compressor, n_workers, owner="SDE model"):
        if not compressor.is_unbiased:
            raise ValueError(
                f"{owner}: SDE models of DCSGD need an unbiased compressor; "
                f"{type(compressor).__name__} is biased (use the discrete model)."
            )
        if not isinstance(compressor, RandK) and not compressor.has_diagonal_covariance:
            raise ValueError(f"{owner}: no compression covariance is known for {type(compressor).__name__}.")
        finite = noise.has_finite_variance()
        if is_concrete(finite) and not bool(finite):
            raise ValueError(
                f"{owner}: {type(noise).__name__} has infinite variance (Student-t needs ν > 2), "
                "so DSGD/DCSGD have no finite diffusion and no SDE model. DSignSGD's SDE models "
                "work for every ν > 0."
            )
        self.problem = problem
        self.noise = noise
        self.compressor = compressor
        self.n_workers = int(n_workers)

    def drift(self, x):
        return -self.problem.gradient(x)

    def _parts(self, x):
        """(D, c, ∇f) with Σ̃ = diag(D) − c ∇f∇fᵀ (c = 0 for diagonal compressors)."""
        gradient = self.problem.gradient(x)
        noise_var = self.noise.variance(gradient, self.n_workers)
        square = gradient * gradient
        if isinstance(self.compressor, RandK):
            d = gradient.shape[-1]
            c = self.compressor.rank_one_coefficient(d)
            omega = self.compressor.omega(d)
            diagonal = (1.0 + omega) * jnp.mean(noise_var, axis=0) + c * d * square
            return diagonal, c, gradient
        if isinstance(self.compressor, (Identity, BernoulliSparsifier)):
            # Cov_C(C(x)) = ω x² coordinate-wise, so Ω_i = ω(∇f∘∇f + diag Σ_i) exactly: no
            # per-worker square root (the general branch below costs N·d square roots).
            omega = self.compressor.omega(gradient.shape[-1])
            return (1.0 + omega) * jnp.mean(noise_var, axis=0) + omega * square, 0.0, gradient
        rms = jnp.sqrt(square[None, :] + noise_var)
        omega_i = jax.vmap(self.compressor.variance)(rms)
        return jnp.mean(noise_var + omega_i, axis=0), 0.0, gradient

    def diffusion(self, x, scale):
        diagonal, c, gradient = self._parts(x)
        scale = scale / jnp.sqrt(self.n_workers)
        if isinstance(c, float) and c == 0.0:
            return lx.DiagonalLinearOperator(scale * jnp.sqrt(diagonal))
        return diagonal_minus_rank_one_root(scale**2 * diagonal, scale**2 * c, gradient)

    def covariance_diagonal(self, x):
        diagonal, c, gradient = self._parts(x)
        return (diagonal - c * gradient * gradient) / self.n_workers

    @property
    def exact_covariance(self):
        return isinstance(self.compressor, (Identity, RandK, BernoulliSparsifier))

    @property
    def has_additive_noise(self):
        return isinstance(self.compressor, Identity) and isinstance(
            self.noise, (GaussianNoise, StudentTNoise)
        )
