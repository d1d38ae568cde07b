"""Spectra of the second-moment operators: dense for small problems, Arnoldi otherwise.

Every operator here maps PSD matrices to PSD matrices (𝓛_η, T_H^{-1}(𝓗 + 𝓒), η T_K^{-1} 𝓒) or
generates a positive semigroup (𝓑_η, T_H^{-1}(𝓒 ± ½T_{H²}) on diagonals): by Krein–Rutman its
spectral radius (resp. abscissa) is an eigenvalue with a PSD eigenvector, and it is the eigenvalue
of largest real part. So one rightmost eigenvalue answers each question: ``numpy.linalg.eig`` of
the formed matrix up to ``DENSE_LIMIT`` unknowns, else ARPACK (``scipy.sparse.linalg.eigs``,
``which="LR"``) on the matrix-free map, never a d²×d² matrix.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

# Unknowns up to which the operator is formed and diagonalised densely (d <= 20 for operators
# on d×d matrices; d <= 400 for operators on d-vectors).
DENSE_LIMIT = 400
# Operators on d-vectors are formed as d×d matrices (one batched call) up to this d, then
# handed to ARPACK as matrices; beyond it ARPACK calls the jitted map.
FORM_LIMIT = 4000


def float64():
    """A context in which JAX computes in float64 (the analysis is exact to rounding)."""
    enable = getattr(jax, "enable_x64", None)
    if enable is not None:
        return enable(True)
    from jax.experimental import enable_x64  # JAX < 0.5

    return enable_x64()


@eqx.filter_jit
def _apply(operator, kind: str, model, learning_rate, flats):
    """The map ``kind`` of ``operator`` on a batch of flattened moments (b, n)."""
    d = operator.eigenvalues.shape[0]
    shape = (d,) if operator.is_diagonal else (d, d)

    def one(flat):
        moment = jnp.reshape(flat, shape)
        if kind == "discrete":
            out = operator.discrete(moment, learning_rate)
        elif kind == "rate":
            out = operator.rate(moment, learning_rate, model)
        elif kind == "singular":
            out = operator.singular_map(moment, model)
        else:  # "scaled"
            out = operator.scaled_covariance_map(moment, learning_rate, model)
        return jnp.reshape(out, (-1,))

    return jax.vmap(one)(flats)


class LinearMap:
    """One linear map of a :class:`MomentOperator` on flattened moments (n unknowns)."""

    def __init__(self, operator, kind: str, model=None, learning_rate=0.0):
        self.operator, self.kind, self.model = operator, kind, model
        self.learning_rate = jnp.asarray(learning_rate, jnp.float64)
        d = int(operator.eigenvalues.shape[0])
        self.n = d if operator.is_diagonal else d * d

    def apply(self, flats) -> np.ndarray:
        out = _apply(self.operator, self.kind, self.model, self.learning_rate, jnp.asarray(flats))
        return np.asarray(out, dtype=np.float64)

    def matvec(self, vector) -> np.ndarray:
        return self.apply(np.real(np.asarray(vector, np.float64))[None, :])[0]

    def matrix(self) -> np.ndarray:
        """The n×n matrix (columns: the map applied to the unit vectors)."""
        return self.apply(np.eye(self.n)).T

    def start(self) -> np.ndarray:
        """A deterministic start inside the PSD cone: vec(I) (or ones), slightly perturbed so
        that it is not an exact eigenvector (which would stall Arnoldi)."""
        d = int(self.operator.eigenvalues.shape[0])
        base = np.ones(d) if self.operator.is_diagonal else np.eye(d).reshape(-1)
        return base + 1e-3 * np.random.default_rng(0).uniform(size=self.n)


def rightmost(linear_map: LinearMap, *, method: str = "auto", start=None):
    """(λ, v): the eigenvalue of largest real part and its eigenvector (real parts).

    ``method``: ``"dense"`` (form and diagonalise), ``"arnoldi"`` (ARPACK), or ``"auto"``
    (dense up to ``DENSE_LIMIT`` unknowns).
    """
    n = linear_map.n
    if method == "dense" or (method == "auto" and n <= DENSE_LIMIT) or n < 4:
        values, vectors = np.linalg.eig(linear_map.matrix())
        i = int(np.argmax(values.real))
        return float(values[i].real), vectors[:, i].real
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs

    if linear_map.operator.is_diagonal and n <= FORM_LIMIT:
        matrix = linear_map.matrix()
        operator = LinearOperator((n, n), matvec=lambda v: matrix @ v, dtype=np.float64)
    else:
        operator = LinearOperator((n, n), matvec=linear_map.matvec, dtype=np.float64)
    v0 = linear_map.start() if start is None else np.real(start)
    for ncv in (min(n - 1, 32), min(n - 1, 96)):
        try:
            values, vectors = eigs(operator, k=1, which="LR", v0=v0, ncv=ncv, tol=1e-14, maxiter=50 * n)
            return float(values[0].real), vectors[:, 0].real
        except ArpackNoConvergence:
            continue
    if n <= 8 * DENSE_LIMIT:
        return rightmost(linear_map, method="dense")
    raise RuntimeError(
        f"sdejax.theory: the Arnoldi iteration did not converge on {n} unknowns; please report this case."
    )


def largest_real_eigenvalue(matrix) -> float:
    """The largest real eigenvalue of a (dense) matrix; ``-inf`` if it has none."""
    values = np.linalg.eigvals(matrix)
    scale = max(1.0, float(np.max(np.abs(values)))) if values.size else 1.0
    real = values.real[np.abs(values.imag) <= 1e-9 * scale]
    return float(np.max(real)) if real.size else -np.inf


def rank_one_rightmost(a, u, v) -> float:
    """The rightmost eigenvalue of diag(a) + u vᵀ with u, v >= 0, in O(d) (exact to rounding).

    Its eigenvalues off the diagonal solve the secular equation 1 = Σ_j w_j/(μ − a_j),
    w = u ∘ v >= 0, whose left side decreases from +∞ to 0 on (max{a_j : w_j > 0}, ∞): one root
    there, found by Brent's method in (top, top + 2Σw] (the sum is <= 1/2 at its right end). The
    rightmost eigenvalue is the larger of that root and max a (uncoupled coordinates keep a_j).
    """
    from scipy.optimize import brentq

    a, w = np.asarray(a, float), np.asarray(u, float) * np.asarray(v, float)
    coupled = w > 0
    if not np.any(coupled):
        return float(np.max(a))
    a_c, w_c = a[coupled], w[coupled]
    top = float(np.max(a_c))
    total = float(np.sum(w_c))

    def secular(mu):
        return 1.0 - float(np.sum(w_c / (mu - a_c)))

    # At top + w_top/2 the term of the top coordinate alone exceeds 1: a negative start.
    low = top + 0.5 * float(np.max(w_c[a_c == top]))
    high = top + 2.0 * total
    if secular(low) >= 0:  # rounding: the root is within w_top/2 of top
        root = low
    else:
        root = brentq(secular, low, high, xtol=1e-15 * max(abs(top), total), rtol=4 * np.finfo(float).eps)
    return max(root, float(np.max(a)))
