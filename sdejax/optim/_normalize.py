"""Normalization of the aggregated update: plain and theory-scaled (docs/theory.md §4)."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import jax.tree_util as jtu
import optax

_SCALINGS = ("plain", "theory")


def _global_norm(updates):
    """‖updates‖ over the pytree without overflow: scaled by the largest |entry| first, so that
    float32 updates beyond 1.8e19 (whose squares overflow) still get their finite norm."""
    leaves = jtu.tree_leaves(updates)
    largest = jnp.max(jnp.stack([jnp.max(jnp.abs(leaf), initial=0.0) for leaf in leaves]))
    scale = jnp.where((largest > 0) & jnp.isfinite(largest), largest, 1.0)
    return scale * jnp.sqrt(sum(jnp.sum(jnp.square(leaf / scale.astype(leaf.dtype))) for leaf in leaves))


def _check_omega(omega, owner):
    if isinstance(omega, (int, float)) and not (0 <= omega < float("inf")):
        raise ValueError(
            f"{owner}: `omega` must be finite and >= 0, got {omega!r}: theory-scaled normalization "
            "needs an unbiased compressor (a biased one such as TopK or Sign has ω = inf, which "
            "would make every step 0); use scaling='plain' or pass a `denominator`."
        )


def _scale_tree(updates, factor):
    return jtu.tree_map(lambda leaf: leaf * factor.astype(leaf.dtype), updates)


def normalize_update(*, eps: float = 0.0) -> optax.GradientTransformation:
    """Plain normalization ĝ ↦ ĝ/‖ĝ‖ (global norm over the pytree); a zero update stays zero."""

    def update_fn(updates, state, params=None):
        del params
        norm = _global_norm(updates)
        factor = jnp.where(norm + eps > 0, 1.0 / jnp.where(norm + eps > 0, norm + eps, 1.0), 0.0)
        return _scale_tree(updates, factor), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def theory_step_denominator(norm, *, l0, l1, omega, n_workers, dim, sigma0=0.0, sigma1=0.0):
    """(L0 + L1‖ĝ‖)(1 + B̄/N) + L1 d s̄0/N of docs/theory.md §4 [reconstructed].

    B̄ = ω + d σ1²(1 + ω) and s̄0 = σ0²(1 + ω) for homogeneous workers. Per-worker arrays of
    σ0, σ1 are averaged as avg σ² + avg σ²ω.
    """
    s1 = jnp.mean(jnp.asarray(sigma1) ** 2)
    s0 = jnp.mean(jnp.asarray(sigma0) ** 2)
    b_bar = omega + dim * s1 * (1.0 + omega)
    s0_bar = s0 * (1.0 + omega)
    return (l0 + l1 * norm) * (1.0 + b_bar / n_workers) + l1 * dim * s0_bar / n_workers


def scale_by_theory_normalization(
    *,
    l0,
    l1,
    omega,
    n_workers: int,
    dim: int | None = None,
    sigma0=0.0,
    sigma1=0.0,
    denominator: Callable | None = None,
) -> optax.GradientTransformation:
    """Theory-scaled normalization [reconstructed]: ĝ ↦ ĝ / D(‖ĝ‖).

    D = (L0 + L1‖ĝ‖)(1 + B̄/N) + L1 d s̄0/N (:func:`theory_step_denominator`). With the
    learning rate η applied afterwards, η plays the role of 2ε in docs/theory.md §4, so the
    stable range is η ∈ (0, 2) whatever the compression and noise. What is [paper] is only that
    the step scales like 1/(L0 + L1‖∇f‖), more strongly with more compression and noise and
    fewer workers; the exact constants are our reconstruction, hence ``denominator`` lets the
    user plug in another rule ``denominator(norm) -> array``.

    ``dim`` defaults to the total size of the update pytree; ``omega`` is a number or a function
    of the dimension (e.g. ``compressor.omega``), finite and >= 0 (a biased compressor's ω = inf
    is an error: every step would be 0).
    """
    owner = "scale_by_theory_normalization"
    if denominator is None:
        _check_omega(omega, owner)

    def update_fn(updates, state, params=None):
        del params
        norm = _global_norm(updates)
        if denominator is not None:
            denom = denominator(norm)
        else:
            d = dim if dim is not None else sum(jnp.size(x) for x in jtu.tree_leaves(updates))
            om = omega(d) if callable(omega) else omega
            _check_omega(om, owner)
            denom = theory_step_denominator(
                norm,
                l0=l0,
                l1=l1,
                omega=om,
                n_workers=n_workers,
                dim=d,
                sigma0=sigma0,
                sigma1=sigma1,
            )
        return _scale_tree(updates, 1.0 / denom), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)
