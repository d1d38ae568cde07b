"""Any JAX-traceable loss as a problem."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx

from .._validation import check_int_at_least
from ._base import AbstractProblem


class LossProblem(AbstractProblem):
    """Wrap a JAX-traceable ``loss_fn: R^d -> R``.

    Gradient by reverse mode, Hessian-vector products by forward-over-reverse; no dense
    Hessian is ever formed. Optional ``smoothness=(L0, L1)`` if the user knows the constants.

    ```python
    logistic = sdejax.LossProblem(lambda x: jnp.sum(jnp.logaddexp(0.0, -x)), dim=3,
                                  smoothness=(0.25, 0.0))
    ```
    """

    loss_fn: Callable = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    known_smoothness: tuple | None = eqx.field(static=True)

    def __init__(self, loss_fn: Callable, dim: int, smoothness: tuple | None = None):
        if not callable(loss_fn):
            raise TypeError(f"LossProblem: `loss_fn` must be callable, got {loss_fn!r}.")
        check_int_at_least("dim", dim, 1, "LossProblem")
        if smoothness is not None and len(smoothness) != 2:
            raise ValueError("LossProblem: `smoothness` must be a pair (L0, L1) or None.")
        self.loss_fn = loss_fn
        self.dim = int(dim)
        self.known_smoothness = None if smoothness is None else tuple(map(float, smoothness))

    def loss(self, x):
        return self.loss_fn(x)

    def smoothness(self):
        return self.known_smoothness
