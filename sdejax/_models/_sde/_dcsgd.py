"""SDE coefficients of DSGD and DCSGD with an unbiased compressor (docs/theory.md §5)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx

from ..._compressors import AbstractCompressor
from ..._noise import AbstractNoise
from ..._problems import AbstractProblem
from ..._validation import is_concrete
from ._coefficients import AbstractSDECoefficients
from ._dsignsgd import worker_gradients
from ._low_rank import diagonal_minus_low_rank_root, diagonal_minus_rank_one_root


class DCSGDCoefficients(AbstractSDECoefficients):
    """b = −∇f and S = Σ̃/N, Σ̃ = (1/N) Σ_i [Σ_i(x) + Ω_i(x)] (docs/theory.md §5) [derived].

    Σ_i = ``noise.variance`` (diagonal) at worker i's own gradient ∇f_i (the shared ∇f for
    identical workers), Ω_i = E_Z Cov_C(C(∇f_i + Z_i)). Only noise and compression are random
    given x, so the spread of the workers' true gradients does not enter:
    Cov(ḡ | x) = (1/N²) Σ_i Cov(C_i(∇f_i + Z_i)) = Σ̃/N.

    - Compressors whose second moment closes (``has_linear_second_moment``) declare
      Cov_C(C(x)) = Diag(e x∘x) − c x xᵀ (``covariance_structure``). With
      E g_i g_iᵀ = ∇f_i∇f_iᵀ + diag Σ_i: Σ_i + Ω_i = diag((1 + ω) diag Σ_i + e ∇f_i∘∇f_i) − c ∇f_i∇f_iᵀ
      (1 + ω = 1 − c + e), exact. c = 0 (identity, Bernoulli): L is diagonal, no per-worker
      square root. c > 0 (rand-k): Σ̃ = diag(D) − c ∇f∇fᵀ with the exact O(d) root
      ``diagonal_minus_rank_one_root``; heterogeneous workers give diag(D) − (c/N) Σ_i ∇f_i∇f_iᵀ
      and the O(dN²) root ``diagonal_minus_low_rank_root``. No d×d matrix is formed.
    - Other unbiased compressors with independent coordinates (natural compression, random
      dithering): **approximation** Ω_i ≈ Cov_C(C(r_i)) at the root-mean-square gradient
      r_i = √(∇f_i∘∇f_i + diag Σ_i) (``exact_covariance`` is False). It replaces E_Z of a
      piecewise-quadratic function by its value at the RMS point.

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
        if not (compressor.has_linear_second_moment or compressor.has_diagonal_covariance):
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
        """(D, c, u) with Σ̃ = diag(D) − c ∇f∇fᵀ (u = ∇f, shape (d,)) or, for heterogeneous
        workers, Σ̃ = diag(D) − (c/N) Σ_i ∇f_i∇f_iᵀ (u = the rows ∇f_i, shape (N, d))."""
        gradients = worker_gradients(self.problem, x, self.n_workers)
        noise_var = self.noise.variance(gradients, self.n_workers)
        square = gradients * gradients
        mean_square = jnp.mean(square, axis=0) if square.ndim == 2 else square
        if self.compressor.has_linear_second_moment:
            d = gradients.shape[-1]
            e, c = self.compressor.covariance_structure(d)
            omega = self.compressor.omega(d)
            return (1.0 + omega) * jnp.mean(noise_var, axis=0) + e * mean_square, c, gradients
        rms = jnp.sqrt(jnp.broadcast_to(square, noise_var.shape) + noise_var)
        omega_i = jax.vmap(self.compressor.variance)(rms)
        return jnp.mean(noise_var + omega_i, axis=0), 0.0, gradients

    def diffusion(self, x, scale):
        diagonal, c, gradients = self._parts(x)
        scale = scale / jnp.sqrt(self.n_workers)
        if isinstance(c, float) and c == 0.0:
            return lx.DiagonalLinearOperator(scale * jnp.sqrt(diagonal))
        if gradients.ndim == 1:
            return diagonal_minus_rank_one_root(scale**2 * diagonal, scale**2 * c, gradients)
        return diagonal_minus_low_rank_root(scale**2 * diagonal, scale**2 * c / self.n_workers, gradients)

    def covariance_diagonal(self, x):
        diagonal, c, gradients = self._parts(x)
        if gradients.ndim == 1:
            return (diagonal - c * gradients * gradients) / self.n_workers
        return (diagonal - c * jnp.mean(gradients * gradients, axis=0)) / self.n_workers

    @property
    def exact_covariance(self):
        return self.compressor.has_linear_second_moment

    @property
    def has_additive_noise(self):
        # L is constant when the noise is additive and the compressor adds no variance (ω = 0,
        # checked on a concrete value; a traced ω counts as not additive).
        if not (self.noise.is_additive and self.compressor.has_linear_second_moment):
            return False
        omega = self.compressor.omega(self.problem.dim)
        return is_concrete(omega) and float(omega) == 0.0
