"""Exact second-moment operators of DCSGD and its SDE models (docs/theory.md §7).

For f quadratic with Hessian H (or linearized at a minimizer x*, H = ∇²f(x*)), y = x − x*, and
M = E[y yᵀ], each worker's compressed noisy gradient has conditional mean H_i y (plus a constant)
and, from the components' declarations, E[C(g_i) C(g_i)ᵀ] = S_C(H_i M H_i + h_i tr(H_i M H_i) I)
+ (terms constant or linear in E y). Then M evolves linearly:

* discrete: 𝓛_η(M) = (I − ηH) M (I − ηH) + η² 𝓒(M);
* SDE models: 𝓑_η(M) = −(K M + M K) + η 𝓒(M), K = H (sme1), H − (η/2)H² (corrected),
  H + (η/2)H² (sme2);

with 𝓒(M) = Cov(ḡ | M) = (1/N²) Σ_i [S_C(G_i + h_i tr(G_i) I) − G_i], G_i = H_i M H_i: S_C the
compressor's ``second_moment`` and h_i the noise's homogeneous coefficient (σ1,i² for affine
noise). Workers are independent given x, so only noise and compression are random: the spread
of heterogeneous workers' true gradients does not enter 𝓒. The constant parts (σ0, Gaussian or
Student-t noise, heterogeneous minimizers b_i) and the terms driven by E y (which contracts by
I − ηH) add a forcing that moves the stationary level but not the threshold, so the operators
keep the homogeneous parts only.

Two representations: when H and every H_i are diagonal (and the compressor commutes with
coordinate sign flips, as every declared compressor does), the operators act on the diagonal of M,
d-vectors (``is_diagonal``); otherwise on d×d matrices, never on a d²×d² matrix. Why the diagonal
suffices: 𝓛_η maps PSD matrices to PSD matrices, so by Krein–Rutman its spectral radius is an
eigenvalue with a PSD eigenvector V (likewise the abscissa of 𝓑_η, which generates a positive
semigroup). Conjugating by D = Diag(±1) commutes with every operator here (H diagonal, S_C
sign-flip symmetric, tr invariant), so D V D is an eigenvector for the same eigenvalue, and so is
the average over all sign patterns, Diag(diag V), which is nonzero since tr V > 0. The
off-diagonal entries of M never feed the diagonal ones, so the top of the spectrum is that of the
map on diagonals. Everything here is traceable JAX; ``sdejax.theory`` runs it in float64.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._compressors import AbstractCompressor

# κ of K = H + κ η H² per SDE model; the discrete model has no K.
CURVATURE = {"sme1": 0.0, "corrected": -0.5, "sme2": 0.5}
MODEL_NAMES = ("discrete", "sme1", "sme2", "corrected")
MONTE_CARLO = "estimate its stability by Monte Carlo with sdejax.stability_sweep"


class MomentOperator(eqx.Module):
    """The operators 𝓛_η, 𝓑_η and 𝓒 of one (algorithm, problem, noise) at one minimizer.

    Build with :func:`moment_operator`. ``eigenvalues`` λ and ``basis`` Q give the mean Hessian
    H = Q diag(λ) Qᵀ (``basis`` None: diagonal, operators on d-vectors). ``worker_hessians`` holds
    the workers' own Hessians H_i ((N, d) diagonals or (N, d, d)) where they differ from H.
    """

    eigenvalues: Float[Array, " d"]
    basis: Float[Array, "d d"] | None
    worker_hessians: Array | None
    compressor: AbstractCompressor
    homogeneous: Float[Array, " n"]
    n_workers: int = eqx.field(static=True)

    @property
    def is_diagonal(self) -> bool:
        return self.basis is None

    @property
    def hessian(self):
        """H: the diagonal λ (diagonal representation) or the matrix Q diag(λ) Qᵀ."""
        if self.basis is None:
            return self.eigenvalues
        return (self.basis * self.eigenvalues[None, :]) @ self.basis.T

    # ------------------------------------------------------------------ 𝓒, 𝓛, 𝓑
    def covariance(self, moment):
        """𝓒(M) = Cov(ḡ | M), homogeneous part: (1/N) mean_i[S_C(G_i) − G_i + h_i tr(G_i) S_C(I)]."""
        n = self.n_workers
        if self.basis is None:
            s = self.compressor.second_moment_diagonal
            ones = s(jnp.ones_like(moment))
            if self.worker_hessians is None:
                q = self.eigenvalues**2 * moment
                return (s(q) - q + jnp.mean(self.homogeneous) * jnp.sum(q) * ones) / n
            q = self.worker_hessians**2 * moment[None, :]
            terms = jax.vmap(s)(q) - q + (self.homogeneous * jnp.sum(q, axis=1))[:, None] * ones[None, :]
            return jnp.mean(terms, axis=0) / n
        s = self.compressor.second_moment
        identity = s(jnp.eye(moment.shape[-1], dtype=moment.dtype))
        if self.worker_hessians is None:
            h = self.hessian
            g = h @ moment @ h
            return (s(g) - g + jnp.mean(self.homogeneous) * jnp.trace(g) * identity) / n
        g = jax.vmap(lambda h: h @ moment @ h)(self.worker_hessians)
        trace = jnp.trace(g, axis1=1, axis2=2)
        terms = jax.vmap(s)(g) - g + (self.homogeneous * trace)[:, None, None] * identity[None]
        return jnp.mean(terms, axis=0) / n

    def discrete(self, moment, learning_rate):
        """𝓛_η(M) = (I − ηH) M (I − ηH) + η² 𝓒(M): E[y' y'ᵀ] after one step."""
        eta = learning_rate
        if self.basis is None:
            return (1.0 - eta * self.eigenvalues) ** 2 * moment + eta**2 * self.covariance(moment)
        a = jnp.eye(moment.shape[-1], dtype=moment.dtype) - eta * self.hessian
        return a @ moment @ a + eta**2 * self.covariance(moment)

    def rate(self, moment, learning_rate, model: str):
        """𝓑_η(M) = −(K M + M K) + η 𝓒(M) = d/dt E[Y Yᵀ] for the SDE ``model``."""
        eta = learning_rate
        k = self.eigenvalues + CURVATURE[model] * eta * self.eigenvalues**2
        if self.basis is None:
            return -2.0 * k * moment + eta * self.covariance(moment)
        big_k = (self.basis * k[None, :]) @ self.basis.T
        return -(big_k @ moment + moment @ big_k) + eta * self.covariance(moment)

    def covariance_structure(self):
        """(a, u, v) with 𝓒 = diag(a) + u vᵀ on d-vectors (diagonal representation only).

        Declared compressors act coordinate-wise on diagonals, S_C(Diag(g)) = Diag(s ∘ g) with
        s = ``second_moment_diagonal(1)``, so 𝓒(m) = (1/N) mean_i[(s − 1) ∘ λ_i² ∘ m
        + h_i s (λ_i² · m)]: a = (s − 1) ∘ mean_i(λ_i²)/N, u = s/N, v = mean_i(h_i λ_i²), all >= 0.
        """
        gain = self.compressor.second_moment_diagonal(jnp.ones_like(self.eigenvalues))
        squares = self.eigenvalues[None] ** 2 if self.worker_hessians is None else self.worker_hessians**2
        n = self.n_workers
        homogeneous = jnp.broadcast_to(self.homogeneous[:, None], (n, squares.shape[1]))
        a = (gain - 1.0) * jnp.mean(squares, axis=0) / n
        return a, gain / n, jnp.mean(homogeneous * squares, axis=0)

    # ------------------------------------------------------------------ spectral forms
    def lyapunov_inverse(self, x, shift=None):
        """T_K^{-1}(X): the Y with K Y + Y K = X, K = Q diag(k) Qᵀ, k = λ (``shift`` None) or
        ``shift`` (eigenvalues of a K that shares H's eigenvectors; all > 0)."""
        k = self.eigenvalues if shift is None else shift
        if self.basis is None:
            return x / (2.0 * k)
        rotated = self.basis.T @ x @ self.basis
        return self.basis @ (rotated / (k[:, None] + k[None, :])) @ self.basis.T

    def curvature_term(self, moment, model: str):
        """𝓓(M) of 𝓛_η − I = η(−T_H + η(𝓒 + 𝓓)) (discrete: HMH) or 𝓑_η = −T_H + η(𝓒 + 𝓓)
        (SDE: −κ(H² M + M H²), κ the model's curvature coefficient)."""
        lam = self.eigenvalues
        if model == "discrete":
            if self.basis is None:
                return lam**2 * moment
            h = self.hessian
            return h @ moment @ h
        kappa = CURVATURE[model]
        if self.basis is None:
            return -2.0 * kappa * lam**2 * moment
        h2 = (self.basis * lam[None, :] ** 2) @ self.basis.T
        return -kappa * (h2 @ moment + moment @ h2)

    def singular_map(self, moment, model: str):
        """T_H^{-1}(𝓒 + 𝓓): 𝓡_η = −T_H + η(𝓒 + 𝓓) is singular exactly at η = 1/μ for its real
        eigenvalues μ, so the model's first crossing is 1/μ* with μ* its largest real eigenvalue."""
        return self.lyapunov_inverse(self.covariance(moment) + self.curvature_term(moment, model))

    def scaled_covariance_map(self, moment, learning_rate, model: str):
        """η T_{K_η}^{-1} 𝓒 = T_{K_η/η}^{-1} 𝓒 (a positive map while K_η ≻ 0): α(𝓑_η) < 0 iff its
        spectral radius < 1. K_η/η = H/η + κH² also gives the limit η = inf."""
        k = self.eigenvalues / learning_rate + CURVATURE[model] * self.eigenvalues**2
        return self.lyapunov_inverse(self.covariance(moment), shift=k)


def moment_operator(algorithm, problem, noise, *, at=None, diagonal=None, owner="sdejax.theory"):
    """The :class:`MomentOperator` of ``algorithm`` on ``problem`` with ``noise`` at ``at``.

    ``at`` is the point the dynamics are linearized at (default ``problem.minimizer()``); exact
    for quadratics, where the Hessian is constant. ``diagonal=False`` forces the d×d matrix
    representation even for diagonal Hessians (a test oracle). Raises a ``ValueError`` saying
    why where the second moments do not close, are infinite, or the Hessian at ``at`` is not
    positive definite. Call in float64 (``jax.enable_x64``) for exact answers.
    """
    if algorithm.family != "dcsgd":
        why = {
            "dsignsgd": "the sign of a noisy gradient is not linear in it",
            "normalized": "the step divides by the random norm of the compressed gradient",
        }.get(algorithm.family, "the algorithm is not an unbiased linear compression of SGD")
        raise ValueError(
            f"{owner}: the second moments of {type(algorithm).__name__} do not close ({why}), so no "
            f"exact mean-square analysis exists; {MONTE_CARLO}."
        )
    compressor = algorithm.compressor
    if not compressor.has_linear_second_moment:
        raise ValueError(
            f"{owner}: the second moments of the `compressor` {type(compressor).__name__} do not close "
            "(biased, or its variance is not quadratic in the input), so no exact mean-square "
            f"analysis exists; {MONTE_CARLO}."
        )
    algorithm.check(problem, noise)
    n = algorithm.n_workers
    d = problem.dim
    try:
        x_star = np.asarray(problem.minimizer() if at is None else at, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{owner}: `at` must be a point of shape (d,) = ({d},), got {at!r}.") from error
    if x_star.shape != (d,) or not np.all(np.isfinite(x_star)):
        raise ValueError(f"{owner}: `at` must be a finite point of shape (d,) = ({d},), got {at!r}.")
    # One compiled call extracts the Hessians and the noise coefficients (sweeps call this per cell).
    hessians, constant, homogeneous = (
        np.asarray(a, float) for a in _declarations(problem, noise, n, jnp.asarray(x_star))
    )
    if not (np.all(np.isfinite(constant)) and np.all(np.isfinite(homogeneous))):
        raise ValueError(
            f"{owner}: the `noise` {type(noise).__name__} has infinite second moments (Student-t needs "
            f"ν > 2), so E‖x‖² is infinite after one step and has no threshold; {MONTE_CARLO}."
        )
    hessians = 0.5 * (hessians + np.swapaxes(hessians, 1, 2))
    if hessians.shape[0] == 1 or np.all(hessians == hessians[:1]):
        mean_hessian, workers = hessians[0], None
    else:
        mean_hessian, workers = hessians.mean(axis=0), hessians
    offdiagonal = ~np.eye(problem.dim, dtype=bool)
    is_diagonal = not np.any(mean_hessian[offdiagonal]) and (
        workers is None or not np.any(workers[:, offdiagonal])
    )
    if diagonal is None:
        diagonal = is_diagonal
    elif diagonal and not is_diagonal:
        raise ValueError(f"{owner}: `diagonal=True` needs diagonal Hessians.")
    if diagonal:
        lam, basis = np.diagonal(mean_hessian).copy(), None
        if workers is not None:
            workers = np.diagonal(workers, axis1=1, axis2=2).copy()
    else:
        lam, basis = np.linalg.eigh(mean_hessian)
    if not np.all(np.isfinite(lam)) or np.min(lam) <= 1e-12 * np.max(np.abs(lam)):
        raise ValueError(
            f"{owner}: the Hessian at the minimizer (`at`) is not positive definite (smallest "
            f"eigenvalue {np.min(lam):.3g}); mean-square stability of the linearized dynamics needs "
            "H ≻ 0."
        )
    return MomentOperator(
        jnp.asarray(lam),
        None if basis is None else jnp.asarray(basis),
        None if workers is None else jnp.asarray(workers),
        compressor,
        jnp.asarray(homogeneous, dtype=jnp.asarray(lam).dtype),
        n,
    )


@eqx.filter_jit
def _declarations(problem, noise, n_workers, x_star):
    """(Hessians at x* ((1, d, d) shared, or (N, d, d) per worker), constant, homogeneous): the
    Hessians by d Hessian-vector products (or the Jacobian of the workers' gradients)."""
    if problem.is_heterogeneous:
        hessians = jax.jacfwd(lambda x: problem.worker_gradients(x, n_workers))(x_star)
    else:
        eye = jnp.eye(problem.dim, dtype=x_star.dtype)
        hessians = jax.vmap(lambda v: problem.hvp(x_star, v))(eye)[None]
    constant, homogeneous = noise.covariance_coefficients(n_workers)
    return hessians, constant, homogeneous
