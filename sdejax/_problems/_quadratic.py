"""Quadratics f(x) = ½ (x − x*)ᵀ H (x − x*), diagonal or rotated, with per-worker minimizers."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._validation import as_float_array, is_concrete
from ._base import AbstractProblem


class Quadratic(AbstractProblem):
    """f_i(x) = ½ (x − b_i)ᵀ H (x − b_i) with H = Q diag(λ) Qᵀ; f = (1/N) Σ_i f_i.

    * ``Quadratic(eigenvalues)``: f(x) = ½ Σ_j λ_j x_j², a diagonal Hessian, every worker the
      same, minimizer 0.
    * ``basis=Q`` (an orthogonal d×d matrix) rotates the Hessian: H = Q diag(λ) Qᵀ.
    * ``shifts=B`` (an (N, d) array, one row per worker) gives worker i its own minimizer b_i:
      heterogeneous workers, as in federated learning. The mean objective is
      f(x) = ½ (x − b̄)ᵀ H (x − b̄) + (1/N) Σ_i ½ (b_i − b̄)ᵀ H (b_i − b̄), minimized at b̄, the
      mean of the shifts. ``loss`` and ``gradient`` are those of this mean objective and
      ``minimizer()`` is b̄, so reported losses and gradient norms refer to f and growth
      statistics to ‖x − b̄‖²; ``worker_gradients`` gives each worker's own H(x − b_i), which
      the discrete model feeds to worker i (the per-worker path: exact aggregate samplers need
      identical workers).

    Gradients H(x − b_i), Hessian H: exact, never autodiff. (L0, L1) = (max |λ|, 0)
    [derived, ``docs/theory.md`` §1].

    **Arguments:**
    - `eigenvalues`: array of shape (d,), the Hessian's eigenvalues (finite; stability
      analysis needs them > 0).
    - `shifts`: optional (N, d) per-worker minimizers.
    - `basis`: optional orthogonal (d, d) matrix whose columns are the eigenvectors.

    ```python
    problem = sdejax.Quadratic(jnp.ones(10))   # isotropic, λ = 1, d = 10
    ```
    """

    eigenvalues: Float[Array, " d"]
    shifts: Float[Array, "n d"] | None
    basis: Float[Array, "d d"] | None
    dim: int = eqx.field(static=True)
    gradient_is_linear: ClassVar[bool] = True

    def __init__(self, eigenvalues, shifts=None, basis=None):
        shape = np.shape(eigenvalues)
        if len(shape) != 1 or shape[0] < 1:
            raise ValueError(
                f"Quadratic: `eigenvalues` must be a 1-D array of length d >= 1, got shape {shape}."
            )
        d = int(shape[0])
        if is_concrete(eigenvalues) and not np.all(np.isfinite(np.asarray(eigenvalues, float))):
            raise ValueError("Quadratic: `eigenvalues` must be finite.")
        if shifts is not None:
            if np.ndim(shifts) != 2 or np.shape(shifts)[1] != d or np.shape(shifts)[0] < 1:
                raise ValueError(
                    f"Quadratic: `shifts` must have shape (n_workers, d) = (N, {d}), got {np.shape(shifts)}."
                )
            if is_concrete(shifts) and not np.all(np.isfinite(np.asarray(shifts, float))):
                raise ValueError("Quadratic: `shifts` must be finite.")
            shifts = as_float_array(shifts)
        if basis is not None:
            if np.shape(basis) != (d, d):
                raise ValueError(
                    f"Quadratic: `basis` must have shape (d, d) = ({d}, {d}), got {np.shape(basis)}."
                )
            if is_concrete(basis):
                q = np.asarray(basis, float)
                if not np.all(np.isfinite(q)) or not np.allclose(q.T @ q, np.eye(d), atol=1e-6):
                    raise ValueError("Quadratic: `basis` must be an orthogonal matrix (QᵀQ = I).")
            basis = as_float_array(basis)
        self.eigenvalues = as_float_array(eigenvalues)
        self.shifts = shifts
        self.basis = basis
        self.dim = d

    # H v, with H = Q diag(λ) Qᵀ
    def _apply(self, v):
        if self.basis is None:
            return self.eigenvalues * v
        return self.basis @ (self.eigenvalues * (self.basis.T @ v))

    def hessian(self):
        """The dense Hessian H (d, d): for checks and small-d analysis."""
        if self.basis is None:
            return jnp.diag(self.eigenvalues)
        return (self.basis * self.eigenvalues[None, :]) @ self.basis.T

    @property
    def n_objectives(self):
        return None if self.shifts is None else int(self.shifts.shape[0])

    def without_heterogeneity(self):
        """Every worker's minimizer moved to x* (the mean of the shifts); H is unchanged."""
        if self.shifts is None:
            return self
        return eqx.tree_at(
            lambda problem: problem.shifts, self, jnp.broadcast_to(self.minimizer(), self.shifts.shape)
        )

    def minimizer(self):
        if self.shifts is None:
            return jnp.zeros((self.dim,), self.eigenvalues.dtype)
        return jnp.mean(self.shifts, axis=0)

    def loss(self, x):
        if self.shifts is None:
            return 0.5 * jnp.dot(x, self._apply(x))
        y = x[None, :] - self.shifts
        return 0.5 * jnp.mean(jnp.sum(y * jnp.vectorize(self._apply, signature="(d)->(d)")(y), axis=-1))

    def gradient(self, x):
        return self._apply(x - self.minimizer()) if self.shifts is not None else self._apply(x)

    def hvp(self, x, v):
        return self._apply(v)

    def worker_gradients(self, x, n_workers):
        if self.shifts is None:
            return super().worker_gradients(x, n_workers)
        return jnp.vectorize(self._apply, signature="(d)->(d)")(x[None, :] - self.shifts)

    def smoothness(self):
        return (jnp.max(jnp.abs(self.eigenvalues)), jnp.zeros(()))
