"""The infinitesimal generator of an SDE model, by autodiff."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._base import AbstractSDEModel


def generator(model, fn, learning_rate=None, multiplier=1.0):
    """x ↦ (L fn)(x) = drift(x)·∇fn(x) + ½ Tr(S(x) ∇²fn(x)) for the SDE ``model``.

    drift = η_t b + η η_t² c and S = η η_t² L Lᵀ are the model's own coefficients at base rate
    η = ``learning_rate`` and schedule value η_t = ``multiplier``. ``learning_rate`` defaults to
    the one the model was built with (``make_model(..., learning_rate=η)``), so
    ``generator(model, fn)`` works for such a model. (L fn)(x0) is the model's
    prediction of d/dt E fn(X_t) at X_0 = x0; compare it with E[fn(x_1) − fn(x_0)]/η of the
    discrete algorithm (docs/theory.md §6 H7). "Does this model predict that the loss goes up here?"
    is ``generator(model, problem.loss, eta)(x) > 0``.

    The trace is Σ_k (L e_k)ᵀ ∇²fn (L e_k): d Hessian-vector products (forward-over-reverse),
    vmapped; no Hessian is formed, but the d columns of L are (O(d²) memory, for checking).

    ```python
    model = sdejax.make_model("corrected", sdejax.DSGD(4), sdejax.Quartic(1),
                              sdejax.GaussianNoise(0.1))
    rate = sdejax.generator(model, model.problem.loss, 0.1)(jnp.array([1.0]))
    ```
    """
    if not isinstance(model, AbstractSDEModel):
        raise TypeError(
            f"generator: `model` must be an SDE model (sme1, sme2, corrected), got {type(model).__name__}."
        )
    if not callable(fn):
        raise TypeError(f"generator: `fn` must be callable, got {fn!r}.")
    if learning_rate is None:
        learning_rate = model.learning_rate
    if learning_rate is None:
        raise ValueError(
            "generator: the generator depends on the learning rate η; pass `learning_rate` or "
            "build the model with make_model(..., learning_rate=η)."
        )
    gradient_fn = jax.grad(fn)

    def apply(x):
        eta = jnp.asarray(learning_rate, x.dtype)
        eta_t = jnp.asarray(multiplier, x.dtype)
        first = jnp.dot(model.drift(x, eta, eta_t), gradient_fn(x))
        operator = model.diffusion(x, eta, eta_t)
        columns = jax.vmap(operator.mv)(jnp.eye(x.shape[-1], dtype=x.dtype))
        curvature = jax.vmap(lambda v: jax.jvp(gradient_fn, (x,), (v,))[1])(columns)
        return first + 0.5 * jnp.sum(columns * curvature)

    return apply
