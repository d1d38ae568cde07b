"""Closed-form predictions of model.md §7 (H1, H2, H4), used as test oracles and plot overlays.

All are exact [derived] statements for the setting they name; each function raises a clear
error outside it rather than returning a number that does not apply.
"""

from __future__ import annotations

import math

import numpy as np

from ._algorithms import DCSGD, DSGD, DSignSGD
from ._compressors import BernoulliSparsifier, Identity, RandK
from ._noise import AffineGaussianNoise, GaussianNoise, StudentTNoise
from ._problems import Quadratic


def effective_noise(algorithm, problem, noise) -> float:
    """B_eff = ω + d σ1² (1 + ω) (model.md §7) for DCSGD/DSGD with homogeneous affine noise.

    ``GaussianNoise`` with σ = 0 counts as σ1 = 0. Requires σ0 = 0 (the H1 setting).
    """
    if not isinstance(algorithm, (DCSGD, DSGD)):
        raise ValueError("effective_noise: `algorithm` must be DSGD or DCSGD.")
    compressor = algorithm.compressor
    if not isinstance(compressor, (Identity, RandK, BernoulliSparsifier)):
        raise ValueError(
            "effective_noise: the H1 formula is exact for Identity, RandK and BernoulliSparsifier "
            f"only, got {type(compressor).__name__}."
        )
    d = problem.dim
    omega = float(compressor.omega(d))
    if isinstance(noise, AffineGaussianNoise):
        if np.any(np.asarray(noise.sigma0) != 0):
            raise ValueError("effective_noise: H1 needs sigma0 = 0 (purely multiplicative noise).")
        s1 = float(np.mean(np.asarray(noise.sigma1) ** 2))
    elif isinstance(noise, GaussianNoise) and np.all(np.asarray(noise.sigma) == 0):
        s1 = 0.0
    else:
        raise ValueError("effective_noise: `noise` must be AffineGaussianNoise(0, sigma1) or noise-free.")
    return omega + d * s1 * (1.0 + omega)


def _isotropic_curvature(problem) -> float:
    if not isinstance(problem, Quadratic):
        raise ValueError("ms_threshold: `problem` must be a Quadratic.")
    lam = np.asarray(problem.eigenvalues, dtype=float)
    if not np.allclose(lam, lam[0]) or lam[0] <= 0:
        raise ValueError("ms_threshold: the closed forms need an isotropic quadratic with λ > 0.")
    return float(lam[0])


def ms_growth_rate(model: str, algorithm, problem, noise, learning_rate):
    """Exact mean-square growth rate per unit time of H1 (model.md §7), vectorized over η.

    discrete: (1/η) log[(1 − ηλ)² + η²λ² B/N]; corrected: −2λ + ηλ²(1 + B/N);
    sme1: −2λ + ηλ² B/N; sme2: −2λ − ηλ² + ηλ² B/N.
    """
    lam = _isotropic_curvature(problem)
    b = effective_noise(algorithm, problem, noise) / algorithm.n_workers
    eta = np.asarray(learning_rate, dtype=float)
    if model == "discrete":
        return np.log((1 - eta * lam) ** 2 + eta**2 * lam**2 * b) / eta
    if model == "corrected":
        return -2 * lam + eta * lam**2 * (1 + b)
    if model == "sme1":
        return -2 * lam + eta * lam**2 * b
    if model == "sme2":
        return -2 * lam - eta * lam**2 + eta * lam**2 * b
    raise ValueError(f"ms_growth_rate: `model` must be discrete, corrected, sme1 or sme2, got {model!r}.")


def ms_threshold(model: str, algorithm, problem, noise) -> float:
    """The H1 mean-square threshold η of ``model`` (inf where the model predicts none).

    discrete and corrected: 2/(λ(1 + B/N)); sme1: 2N/(λB); sme2: 2/(λ(B/N − 1)) if B > N.
    With B = 0 (H2), corrected gives 2/λ and SME-1/SME-2 give no limit.
    """
    lam = _isotropic_curvature(problem)
    b = effective_noise(algorithm, problem, noise) / algorithm.n_workers
    if model in ("discrete", "corrected"):
        return 2.0 / (lam * (1.0 + b))
    if model == "sme1":
        return math.inf if b == 0 else 2.0 / (lam * b)
    if model == "sme2":
        return 2.0 / (lam * (b - 1.0)) if b > 1.0 else math.inf
    raise ValueError(f"ms_threshold: `model` must be discrete, corrected, sme1 or sme2, got {model!r}.")


def standard_density_at_zero(noise) -> float:
    """p(0) of the standard noise: 1/√(2π) (Gaussian), Γ((ν+1)/2)/(√(νπ)Γ(ν/2)) (Student-t)."""
    return float(np.asarray(noise.density_at_zero()).mean())


def dsignsgd_loss_floor(algorithm, problem, noise, learning_rate) -> float:
    """H4: E f_∞ ≈ Σ_j η σ/(8 N p(0)) for DSignSGD on a quadratic (any λ), small constant η.

    Per coordinate η σ/(8 N p(0)), so the total over d coordinates is d times that. The
    approximation is the small-η, near-optimum (linear sign-mean) regime of model.md §5.2.
    """
    if not isinstance(algorithm, DSignSGD) or algorithm.vote != "mean":
        raise ValueError("dsignsgd_loss_floor: `algorithm` must be DSignSGD(vote='mean').")
    if not isinstance(problem, Quadratic):
        raise ValueError("dsignsgd_loss_floor: `problem` must be a Quadratic.")
    if isinstance(noise, GaussianNoise):
        sigma = float(np.mean(np.asarray(noise.sigma)))
    elif isinstance(noise, StudentTNoise):
        sigma = float(np.mean(np.asarray(noise.scale)))
    else:
        raise ValueError("dsignsgd_loss_floor: `noise` must be GaussianNoise or StudentTNoise.")
    p0 = standard_density_at_zero(noise)
    return problem.dim * learning_rate * sigma / (8.0 * algorithm.n_workers * p0)


def dsgd_loss_floor(algorithm, problem, noise, learning_rate) -> float:
    """H4: the exact stationary loss of DSGD with Gaussian noise on a quadratic.

    Per coordinate with curvature λ: E f_∞ = η σ²/(2N(2 − ηλ)) (model.md §7), summed over j.
    """
    if not isinstance(algorithm, DSGD):
        raise ValueError("dsgd_loss_floor: `algorithm` must be DSGD.")
    if not isinstance(problem, Quadratic) or not isinstance(noise, GaussianNoise):
        raise ValueError("dsgd_loss_floor: needs a Quadratic and GaussianNoise.")
    lam = np.asarray(problem.eigenvalues, dtype=float)
    sigma = float(np.mean(np.asarray(noise.sigma)))
    eta = float(learning_rate)
    if np.any(eta * lam >= 2):
        return math.inf
    return float(np.sum(eta * sigma**2 / (2 * algorithm.n_workers * (2 - eta * lam))))
