"""Any JAX-traceable loss as a problem, optionally one loss per worker."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._validation import as_float_array, check_int_at_least, is_concrete
from ._base import AbstractProblem


class LossProblem(AbstractProblem):
    """Wrap a JAX-traceable loss.

    * ``LossProblem(loss_fn, dim)``: every worker sees f = ``loss_fn: R^d -> R``.
    * ``LossProblem(loss_fn, dim, n_workers=N)``: heterogeneous workers; ``loss_fn(x, i)`` is
      worker i's objective f_i (``i`` a traced int32 in 0..N−1, e.g. an index into data
      shards) and the problem's loss is the mean f = (1/N) Σ_i f_i. Worker i is fed its own
      gradient ∇f_i (the per-worker path); reported losses and gradient norms refer to the mean
      objective f, and growth statistics to ‖x − x*‖² around ``minimizer``: pass the mean
      objective's minimizer there (the default is the origin).

    Gradients by reverse mode, Hessian-vector products by forward-over-reverse; no dense
    Hessian is ever formed. ``smoothness=(L0, L1)`` if the user knows the constants;
    ``minimizer=x*`` sets the point stability is measured around (‖x − x*‖², default 0).

    ```python
    logistic = sdejax.LossProblem(lambda x: jnp.sum(jnp.logaddexp(0.0, -x)), dim=3,
                                  smoothness=(0.25, 0.0))
    ```
    """

    loss_fn: Callable = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    known_smoothness: tuple | None = eqx.field(static=True)
    n_workers: int | None = eqx.field(static=True)
    reference: jax.Array | None

    def __init__(
        self,
        loss_fn: Callable,
        dim: int,
        smoothness: tuple | None = None,
        *,
        n_workers: int | None = None,
        minimizer=None,
    ):
        if not callable(loss_fn):
            raise TypeError(f"LossProblem: `loss_fn` must be callable, got {loss_fn!r}.")
        check_int_at_least("dim", dim, 1, "LossProblem")
        if smoothness is not None and (not isinstance(smoothness, (tuple, list)) or len(smoothness) != 2):
            raise ValueError(
                f"LossProblem: `smoothness` must be a pair (L0, L1) or None, got {smoothness!r}."
            )
        if smoothness is not None and not all(np.isfinite(float(c)) and float(c) >= 0 for c in smoothness):
            raise ValueError(
                f"LossProblem: `smoothness` constants must be finite and >= 0, got {smoothness!r}."
            )
        if n_workers is not None:
            check_int_at_least("n_workers", n_workers, 1, "LossProblem")
        if minimizer is not None:
            if np.shape(minimizer) != (int(dim),):
                raise ValueError(
                    f"LossProblem: `minimizer` must have shape (dim,) = ({dim},), got {np.shape(minimizer)}."
                )
            if is_concrete(minimizer) and not np.all(np.isfinite(np.asarray(minimizer, float))):
                raise ValueError("LossProblem: `minimizer` must be finite.")
            minimizer = as_float_array(minimizer)
        self.loss_fn = loss_fn
        self.dim = int(dim)
        self.known_smoothness = None if smoothness is None else tuple(map(float, smoothness))
        self.n_workers = None if n_workers is None else int(n_workers)
        self.reference = minimizer

    def constructor_arguments(self) -> dict:
        """The arguments that rebuild this problem (grids rebuild cells through the constructor)."""
        return {
            "loss_fn": self.loss_fn,
            "dim": self.dim,
            "smoothness": self.known_smoothness,
            "n_workers": self.n_workers,
            "minimizer": self.reference,
        }

    def _worker_loss(self, x, i):
        return self.loss_fn(x, i)

    def loss(self, x):
        if self.n_workers is None:
            return self.loss_fn(x)
        index = jnp.arange(self.n_workers, dtype=jnp.int32)
        return jnp.mean(jax.vmap(self._worker_loss, in_axes=(None, 0))(x, index))

    @property
    def n_objectives(self):
        return self.n_workers

    def worker_gradients(self, x, n_workers):
        if self.n_workers is None:
            return super().worker_gradients(x, n_workers)
        index = jnp.arange(self.n_workers, dtype=jnp.int32)
        return jax.vmap(jax.grad(self._worker_loss), in_axes=(None, 0))(x, index)

    def minimizer(self):
        if self.reference is None:
            return super().minimizer()
        return self.reference

    def smoothness(self):
        return self.known_smoothness
