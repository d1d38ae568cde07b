"""Exact mean-square growth rates and thresholds from the second-moment operators."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from .._models._moments import CURVATURE, MODEL_NAMES, moment_operator
from .._validation import cast_floating
from ._spectral import DENSE_LIMIT, LinearMap, float64, largest_real_eigenvalue, rank_one_rightmost, rightmost

# The bracket search of the corrected/sme2 thresholds on large non-diagonal problems (below):
# start at η_d/8 (η_d the exact discrete threshold), grow by 2^(1/4) up to 8 η_d, then by 2;
# past η_far = max(8 η_d, 2^11/λ_min) stop with inf once the η → ∞ limit of the scaled map has
# spectral radius < 1, and in any case at 2^40 η_d (crossings beyond are reported as inf).
_FINE, _COARSE, _FINE_SPAN, _CAP = 2.0**0.25, 2.0, 8.0, 2.0**40
_XTOL = 1e-12  # relative tolerance of the root (brentq)

_DOC_SCOPE = """
    **Scope.** Exact for DSGD/DCSGD with a compressor whose second moment closes (identity,
    Bernoulli, rand-k) and noise of finite variance (Gaussian, affine Gaussian, Student-t with
    ν > 2), on every quadratic problem: a ``Quadratic`` with any positive eigenvalues, rotated
    (``basis=``) or not, heterogeneous minimizers (``shifts=``), or any problem whose loss is
    quadratic (e.g. a ``LossProblem`` with a dense Hessian). For other problems it is the exact
    answer for the dynamics linearized at ``at`` (default ``problem.minimizer()``): the linear
    mean-square stability of Wu, Ma & E (NeurIPS 2018), a local statement about that minimizer.
    Additive noise (σ0, Gaussian, Student-t) and heterogeneous minimizers add a constant forcing
    that moves the stationary level, not the growth rate or the threshold.

    Raises a ``ValueError`` where the second moments do not close (DSignSGD, NormalizedDCSGD,
    sign, top-k, natural compression, random dithering), are infinite (Student-t with ν <= 2),
    or the Hessian at ``at`` is not positive definite; use the Monte Carlo route,
    :func:`sdejax.stability_sweep`, there. ``DSGD(n)`` is ``DCSGD(Identity(), n)``.
"""


def _check_model(model, owner):
    if model not in MODEL_NAMES:
        raise ValueError(f"{owner}: `model` must be one of {MODEL_NAMES}, got {model!r}.")


def _learning_rates(learning_rate, owner):
    try:
        eta = np.asarray(learning_rate, dtype=float)
    except (TypeError, ValueError) as error:
        message = f"{owner}: `learning_rate` must be a positive number or array, got {learning_rate!r}."
        raise TypeError(message) from error
    if eta.size == 0 or not np.all(np.isfinite(eta)) or np.any(eta <= 0):
        raise ValueError(f"{owner}: `learning_rate` must be finite and > 0, got {learning_rate!r}.")
    return eta


def ms_growth_rate(model: str, algorithm, problem, noise, learning_rate, *, at=None):
    """The exact mean-square growth rate of E‖x − x*‖² per unit time, vectorized over η.

    With M = E[(x − x*)(x − x*)ᵀ] evolving by the linear operators of docs/theory.md §7:
    discrete, (1/η) log ρ(𝓛_η) with 𝓛_η(M) = (I − ηH) M (I − ηH) + η² Cov(ḡ | M); SDE models,
    the spectral abscissa of 𝓑_η(M) = −(K M + M K) + η Cov(ḡ | M), K = H (``"sme1"``),
    H − (η/2)H² (``"corrected"``), H + (η/2)H² (``"sme2"``). E‖x − x*‖² grows like e^{rate·t},
    t = kη. On an isotropic quadratic these are the closed forms of docs/theory.md §6 H1, e.g.
    discrete (1/η) log[(1 − ηλ)² + η²λ² B_eff/N]. Scope and refusals: see the end.

    **Returns:** an array shaped like ``learning_rate`` (a NumPy float for a scalar).

    ```python
    algorithm = sdejax.DCSGD(sdejax.BernoulliSparsifier(0.25), 8)
    problem, noise = sdejax.Quadratic(jnp.ones(10)), sdejax.AffineGaussianNoise(0.0, 0.1)
    sdejax.theory.ms_growth_rate("discrete", algorithm, problem, noise, 1.4035)  # ≈ 0
    ```
    """
    owner = "ms_growth_rate"
    _check_model(model, owner)
    eta = _learning_rates(learning_rate, owner)
    with float64():
        components = cast_floating((algorithm, problem, noise), jnp.float64)
        operator = moment_operator(*components, at=at, owner=owner)
        rates = np.array([growth_rate(operator, model, float(e)) for e in eta.reshape(-1)])
    return rates.reshape(eta.shape)[()]


def ms_threshold(model: str, algorithm, problem, noise, *, at=None) -> float:
    """The exact mean-square threshold η* of ``model``: the first η where E‖x − x*‖² stops
    contracting (``inf`` where the model predicts none).

    Discrete: where the spectral radius of 𝓛_η crosses 1; SDE models: where the spectral
    abscissa of 𝓑_η crosses 0 (see :func:`ms_growth_rate`). Writing 𝓛_η − I = η𝓡_η,
    𝓡_η = −T_H + η(𝓒 + 𝓓) with T_H(M) = HM + MH, 𝓒 = Cov(ḡ | ·) and 𝓓 = HMH (discrete),
    ½(H²M + MH²) (corrected), 0 (sme1), −½(H²M + MH²) (sme2); 𝓡_η generates a positive
    semigroup, so its abscissa is a real eigenvalue, negative for small η, and the first
    crossing is 1/μ* with μ* the largest real eigenvalue of T_H^{-1}(𝓒 + 𝓓) [derived]. For
    the discrete and SME-1 models, and for every model on diagonal Hessians, that operator is
    positive (or Metzler) and μ* is its Perron root: one eigenvalue problem, exact to rounding.
    On isotropic quadratics this is docs/theory.md §6 H1: 2/(λ(1 + B_eff/N)) (discrete and
    corrected), 2N/(λ B_eff) (sme1), 2/(λ(B_eff/N − 1)) if B_eff > N else inf (sme2).

    Corrected and SME-2 on non-diagonal Hessians beyond d = 20 (where that eigenvalue need not
    be a Perron root): the first η with ρ(η T_{K_η}^{-1} 𝓒) = 1 (K_η ≻ 0), bracketed on a
    geometric grid (ratio 2^(1/4) from η_d/8 to 8η_d, then 2, η_d the discrete threshold; past
    max(8η_d, 2^11/λ_min), where K_η/η is within 0.1% of its limit, the search stops with inf
    once the limit map η → ∞ has spectral radius < 1, and at 2^40 η_d in any case, so a
    crossing beyond reports inf; an unstable window narrower than one grid ratio below the
    first detected crossing could be missed) and refined by Brent's method to 1e-12 relative.
    For the corrected model the crossing is at most 2/λ_max, where K_η stops being positive
    definite. Scope and refusals: see the end.

    ```python
    sdejax.theory.ms_threshold("discrete", algorithm, problem, noise)  # 1.4035 (H1 example)
    ```
    """
    owner = "ms_threshold"
    _check_model(model, owner)
    with float64():
        components = cast_floating((algorithm, problem, noise), jnp.float64)
        operator = moment_operator(*components, at=at, owner=owner)
        return threshold(operator, model)


ms_growth_rate.__doc__ += _DOC_SCOPE
ms_threshold.__doc__ += _DOC_SCOPE


# ---------------------------------------------------------------------- on one operator


def _structured(operator, kind, model=None, eta=0.0):
    """(a, u, v) of the diagonal-representation map ``kind`` = diag(a) + u vᵀ."""
    a, u, v = (np.asarray(x, float) for x in operator.covariance_structure())
    lam = np.asarray(operator.eigenvalues, float)
    if kind == "discrete":  # 𝓛_η
        return (1.0 - eta * lam) ** 2 + eta**2 * a, eta**2 * u, v
    if kind == "rate":  # 𝓑_η
        return -2.0 * (lam + CURVATURE[model] * eta * lam**2) + eta * a, eta * u, v
    # T_H^{-1}(𝓒 + 𝓓)
    extra = lam**2 if model == "discrete" else -2.0 * CURVATURE[model] * lam**2
    return (a + extra) / (2.0 * lam), u / (2.0 * lam), v


def _rightmost(operator, kind, model, eta, method, start=None):
    """The rightmost eigenvalue: O(d) secular equation on diagonal problems (``method="auto"``),
    else the formed or matrix-free operator."""
    if operator.is_diagonal and method == "auto":
        return rank_one_rightmost(*_structured(operator, kind, model, eta)), None
    return rightmost(LinearMap(operator, kind, model, eta), method=method, start=start)


def growth_rate(operator, model: str, learning_rate: float, *, method: str = "auto") -> float:
    """The growth rate per unit time of ``model`` at η (float64 context required)."""
    if model == "discrete":
        rho, _ = _rightmost(operator, "discrete", None, learning_rate, method)
        return math.log(rho) / learning_rate if rho > 0 else -math.inf
    return _rightmost(operator, "rate", model, learning_rate, method)[0]


def threshold(operator, model: str, *, method: str = "auto") -> float:
    """The first crossing of ``model`` (float64 context required); see :func:`ms_threshold`.

    ``method="arnoldi"`` forces the matrix-free eigensolver and, for corrected/SME-2 on
    non-diagonal Hessians, the bracket search (test oracle: compare with ``"dense"``).
    """
    # 𝓛_η = I + η𝓡_η with 𝓡_η resolvent positive, so ρ(𝓛_η) = 1 + η α(𝓡_η) (both are
    # eigenvalues with PSD eigenvectors, Krein–Rutman); α(𝓡_η) is continuous, negative near 0
    # and 0 only where 𝓡_η is singular, i.e. at η = 1/μ for a real eigenvalue μ of
    # T_H^{-1}(𝓒 + 𝓓). The SDE models' 𝓑_η = 𝓡_η likewise (with their 𝓓).
    singular = LinearMap(operator, "singular", model)
    if model in ("discrete", "sme1") or operator.is_diagonal:
        mu, _ = _rightmost(operator, "singular", model, 0.0, method)
    elif method == "dense" or (method == "auto" and singular.n <= DENSE_LIMIT):
        mu = largest_real_eigenvalue(singular.matrix())
    else:
        return _bracket_search(operator, model, method)
    return 1.0 / mu if mu > 0 else math.inf


def _bracket_search(operator, model, method):
    from scipy.optimize import brentq

    reference = threshold(operator, "discrete", method=method)
    lam = np.asarray(operator.eigenvalues, float)
    upper = 2.0 / float(np.max(lam)) if model == "corrected" else math.inf
    # Beyond η_far = 2^11/λ_min, K_η/η = H/η + H²/2 is within 0.1% of H²/2, and the scaled map of
    # its limit, ρ_∞ = ρ(2 T_{H²}^{-1} 𝓒), decides whether a crossing remains.
    far = max(_FINE_SPAN * reference, 2.0**11 / float(np.min(lam)))
    start = [None]

    def excess(eta):
        """ρ(η T_{K_η}^{-1} 𝓒) − 1, sign of the abscissa of 𝓑_η while K_η ≻ 0."""
        rho, vector = _rightmost(operator, "scaled", model, eta, method, start[0])
        start[0] = vector if vector is not None and np.all(np.isfinite(vector)) and np.any(vector) else None
        return rho - 1.0

    low = reference / _FINE_SPAN
    for _ in range(60):
        if low < upper and excess(low) < 0:
            break
        low /= 2.0
    else:
        raise RuntimeError(
            f"ms_threshold: no stable learning rate found for {model!r}; please report this case."
        )
    limit_excess = None
    while low < _CAP * reference:
        high = low * (_FINE if low < _FINE_SPAN * reference else _COARSE)
        if high >= upper:
            # K_η loses definiteness at 2/λ_max: α(𝓑_η) >= 0 there, so the crossing is below it.
            edge = upper * (1.0 - _XTOL)
            if excess(edge) < 0:
                return upper
            return brentq(excess, low, edge, xtol=_XTOL * low, rtol=_XTOL)
        if excess(high) >= 0:
            return brentq(excess, low, high, xtol=_XTOL * low, rtol=_XTOL)
        if high > far:
            if limit_excess is None:
                limit_excess = excess(math.inf)
            if limit_excess < 0:
                return math.inf
        low = high
    return math.inf
