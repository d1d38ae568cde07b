"""The problem interface: a loss with gradient and Hessian-vector products, per worker."""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


class AbstractProblem(eqx.Module):
    """An objective f: R^d -> R, the mean f = (1/N) Σ_i f_i of the workers' objectives.

    Subclasses fill in ``loss`` and ``dim``; ``gradient`` and ``hvp`` default to autodiff
    (never a dense Hessian). ``smoothness`` returns the (L0, L1) pair of ``docs/theory.md`` §1
    where it is known, else ``None``.

    **Workers.** By default every worker sees the same objective (identical data: f_i = f), and
    ``worker_gradients`` repeats ∇f. A *heterogeneous* problem (``is_heterogeneous``) gives
    worker i its own f_i; it then fixes the number of workers (``n_objectives``), and
    ``worker_gradients(x)`` returns the N gradients ∇f_i(x). Losses, gradient norms and
    stability statistics always refer to the mean objective f and to its minimizer
    (``minimizer()``, the origin unless the problem says otherwise).
    """

    dim: eqx.AbstractVar[int]
    # Every worker's gradient is linear in x − x* once ``without_heterogeneity()`` is applied:
    # ∇f_i(x* + c v) = c ∇f_i(x* + v) for c > 0 (a quadratic). Declared, never inferred; with
    # it the mean-square estimator may rescale its clones (``AbstractModel.is_scale_free``).
    gradient_is_linear: ClassVar[bool] = False

    @abc.abstractmethod
    def loss(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        """f(x), the mean objective."""

    def gradient(self, x: Float[Array, " d"]) -> Float[Array, " d"]:
        """∇f(x)."""
        return jax.grad(self.loss)(x)

    def hvp(self, x: Float[Array, " d"], v: Float[Array, " d"]) -> Float[Array, " d"]:
        """∇²f(x) v by forward-over-reverse autodiff."""
        return jax.jvp(self.gradient, (x,), (v,))[1]

    def smoothness(self) -> tuple[float, float] | None:
        """(L0, L1) with ‖∇²f(x)‖ <= L0 + L1‖∇f(x)‖, or None when not known."""
        return None

    # ----------------------------------------------------------------- workers
    @property
    def is_heterogeneous(self) -> bool:
        """Whether workers have their own objectives f_i (then ``n_objectives`` is N)."""
        return self.n_objectives is not None

    @property
    def n_objectives(self) -> int | None:
        """The number of per-worker objectives, or None when every worker sees f."""
        return None

    def worker_gradients(self, x: Float[Array, " d"], n_workers: int) -> Float[Array, "n d"]:
        """The N workers' true gradients ∇f_i(x), shape (n_workers, d)."""
        gradient = self.gradient(x)
        return jnp.broadcast_to(gradient[None, :], (n_workers, gradient.shape[-1]))

    def minimizer(self) -> Float[Array, " d"]:
        """x*, the point stability is measured around: ‖x − x*‖² (the origin by default)."""
        return jnp.zeros((self.dim,), jnp.result_type(float))

    def without_heterogeneity(self) -> AbstractProblem | None:
        """The problem whose every worker holds the mean objective's curvature around x*, with the
        same structure (fields and shapes), or None where that is not defined.

        Heterogeneous minimizers force the dynamics with a constant term (∇f_i(x*) ≠ 0) that
        moves the stationary level, not the mean-square growth rate (``docs/theory.md`` §7);
        the growth-rate estimator follows the dynamics without it. A homogeneous problem is its
        own answer; a heterogeneous one must say (``Quadratic`` does, a per-worker
        ``LossProblem`` cannot).
        """
        return None if self.is_heterogeneous else self

    def check_workers(self, n_workers: int) -> None:
        """Raise a clear error when ``n_workers`` does not match the per-worker objectives."""
        if self.n_objectives is not None and self.n_objectives != n_workers:
            raise ValueError(
                f"{type(self).__name__} holds {self.n_objectives} per-worker objectives but the "
                f"algorithm has n_workers={n_workers}; they must agree."
            )
