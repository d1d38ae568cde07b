"""Effective noise and stationary loss floors (docs/theory.md §4, §6 H1 and H4)."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from .._models._moments import MONTE_CARLO
from .._problems import Quadratic
from ._spectral import float64


def _closing_dcsgd(algorithm, problem, noise, owner):
    """(ω per worker, constant, homogeneous) of DSGD/DCSGD with a closing compressor."""
    if algorithm.family != "dcsgd":
        raise ValueError(f"{owner}: `algorithm` must be DSGD or DCSGD, got {type(algorithm).__name__}.")
    compressor = algorithm.compressor
    if not compressor.has_linear_second_moment:
        raise ValueError(
            f"{owner}: the second moments of the `compressor` {type(compressor).__name__} do not close, "
            f"so the formula does not apply; {MONTE_CARLO}."
        )
    algorithm.check(problem, noise)
    n = algorithm.n_workers
    with float64():
        omega = np.broadcast_to(np.asarray(compressor.omega(problem.dim), float), (n,))
        constant, homogeneous = (np.asarray(a, float) for a in noise.covariance_coefficients(n))
    return omega, constant, homogeneous


def _scalar_learning_rate(learning_rate, owner):
    try:
        eta = float(learning_rate)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{owner}: `learning_rate` must be a number, got {learning_rate!r}.") from error
    if not math.isfinite(eta) or eta <= 0:
        raise ValueError(f"{owner}: `learning_rate` must be finite and > 0, got {learning_rate!r}.")
    return eta


def effective_noise(algorithm, problem, noise) -> float:
    """B̄ = ω̄ + d (avg σ1² + avg σ1² ω) (docs/theory.md §4), B_eff = ω + d σ1² (1 + ω) for
    identical workers (docs/theory.md §6 H1).

    σ1,i² is the noise's homogeneous covariance coefficient (affine noise: σ1; Gaussian and
    Student-t: 0); per-worker arrays are averaged over workers as written. The additive part
    (σ0, Gaussian σ, Student-t) does not enter B̄ (it enters s̄0 = avg σ0² + avg σ0² ω and does
    not move the mean-square threshold). Exact in the H1 threshold for compressors whose second
    moment closes (identity, Bernoulli, rand-k); raises otherwise and for infinite variance.

    ```python
    sdejax.theory.effective_noise(sdejax.DCSGD(sdejax.BernoulliSparsifier(0.25), 8),
                                  sdejax.Quadratic(jnp.ones(10)), sdejax.AffineGaussianNoise(0, 0.1))
    # 3.4
    ```
    """
    owner = "effective_noise"
    omega, constant, homogeneous = _closing_dcsgd(algorithm, problem, noise, owner)
    if not (np.all(np.isfinite(constant)) and np.all(np.isfinite(homogeneous))):
        raise ValueError(f"{owner}: {type(noise).__name__} has infinite variance (Student-t needs ν > 2).")
    return float(np.mean(omega) + problem.dim * np.mean(homogeneous * (1.0 + omega)))


def standard_density_at_zero(noise) -> float:
    """p(0) of the standard noise: 1/√(2π) (Gaussian), Γ((ν+1)/2)/(√(νπ)Γ(ν/2)) (Student-t);
    the mean over workers for per-worker ν."""
    return float(np.asarray(noise.density_at_zero()).mean())


def dsgd_loss_floor(algorithm, problem, noise, learning_rate) -> float:
    """The exact stationary loss E f_∞ of DSGD with additive noise on a quadratic.

    With Cov(Z_i) = s_i I (Gaussian σ_i², Student-t σ_i² ν/(ν − 2), affine σ0,i² with σ1 = 0),
    the averaged gradient is H(x − x*) + z̄ with Cov z̄ = (avg s_i / N) I, so per Hessian
    eigenvalue λ_j [derived, docs/theory.md §6 H4]:

        E f_∞ = f(x*) + Σ_j η avg_i(s_i) / (2N(2 − ηλ_j)),

    averaging the variances s_i = σ_i² over workers (not σ_i). Rotated quadratics and
    heterogeneous minimizers (``shifts``) are covered; ``inf`` where some ηλ_j >= 2 or λ_j <= 0,
    or where the variance is infinite (Student-t with ν <= 2). ``DCSGD(Identity(), n)`` is DSGD.
    """
    owner = "dsgd_loss_floor"
    eta = _scalar_learning_rate(learning_rate, owner)
    omega, constant, homogeneous = _closing_dcsgd(algorithm, problem, noise, owner)
    if np.any(omega != 0):
        raise ValueError(f"{owner}: needs DSGD (a `compressor` with ω = 0); got ω = {omega[0]:.3g}.")
    if np.any(homogeneous != 0):
        raise ValueError(
            f"{owner}: needs additive `noise` (σ1 = 0); the floor with σ1 > 0 is not implemented."
        )
    if not isinstance(problem, Quadratic):
        raise ValueError(f"{owner}: `problem` must be a Quadratic.")
    lam = np.asarray(problem.eigenvalues, dtype=float)
    if not np.all(np.isfinite(constant)) or np.any(eta * lam >= 2) or np.any(lam <= 0):
        return math.inf
    with float64():
        offset = float(problem.loss(problem.minimizer()))
    variance = float(np.mean(constant))
    return offset + float(np.sum(eta * variance / (2 * algorithm.n_workers * (2 - eta * lam))))


def dsignsgd_loss_floor(algorithm, problem, noise, learning_rate) -> float:
    """H4: E f_∞ ≈ d η / (8 N avg_i(p_i(0)/σ_i)) for DSignSGD on a quadratic, small constant η.

    An approximation (leading order in η, near the optimum): there |∂_j f| ≪ σ_i, so worker i's
    sign mean is linear, m_i ≈ 2 p_i(0) ∇f/σ_i (docs/theory.md §5), the drift is
    −a ∇f with a = 2 avg_i(p_i(0)/σ_i) and each coordinate's vote variance is ≈ 1/N. The
    linear chain y' = y − η(a H y + ξ), Cov ξ = I/N, has E yᵀHy/2 → d η/(4 N a) as η → 0, for any
    positive definite H. For identical p this is d η σ_H/(8 N p(0)) with σ_H the **harmonic**
    mean of the σ_i (identical workers: d η σ/(8 N p(0)), linear in σ). σ_i is the noise scale
    at the optimum (Gaussian σ, Student-t scale, affine σ0); every σ_i must be > 0.

    Relative error O(η a λ_max) (the AR(1) factor 1/(1 − ηaλ/2)) plus the nonlinearity of the
    signs. Requires ``DSignSGD(vote="mean")`` and identical objectives (no ``shifts``).
    """
    owner = "dsignsgd_loss_floor"
    eta = _scalar_learning_rate(learning_rate, owner)
    if algorithm.family != "dsignsgd" or getattr(algorithm, "vote", None) != "mean":
        raise ValueError(f"{owner}: `algorithm` must be DSignSGD(vote='mean').")
    if not isinstance(problem, Quadratic) or problem.is_heterogeneous:
        raise ValueError(f"{owner}: `problem` must be a Quadratic with identical workers (no shifts).")
    algorithm.check(problem, noise)
    if np.any(np.asarray(problem.eigenvalues) <= 0):
        return math.inf
    n = algorithm.n_workers
    with float64():
        scale = np.asarray(noise.noise_scale(jnp.zeros(problem.dim), n)[:, 0], float)
        density = np.broadcast_to(np.asarray(noise.density_at_zero(), float), (n,))
    if np.any(scale <= 0):
        raise ValueError(
            f"{owner}: every worker needs a noise scale > 0 at the optimum (got {scale}); a noise-free "
            "worker's sign is not linear near the optimum."
        )
    return problem.dim * eta / (8.0 * n * float(np.mean(density / scale)))
