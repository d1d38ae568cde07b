"""Reductions over paths on the device, in an order that never depends on batch shapes."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def fixed_order_sum(values):
    """Σ over the last axis by a fixed binary tree of elementwise adds (zero-padded to 2^m).

    The result depends only on the values, never on the other (batch) axes' sizes: an XLA
    reduction may pair additions differently for different batch shapes.
    """
    size = values.shape[-1]
    width = 1 << max(size - 1, 0).bit_length()
    if width != size:
        pad = jnp.zeros(values.shape[:-1] + (width - size,), values.dtype)
        values = jnp.concatenate([values, pad], axis=-1)
    while values.shape[-1] > 1:
        half = values.shape[-1] // 2
        values = values[..., :half] + values[..., half:]
    return values[..., 0]


def masked_moments(values, mask):
    """(count, mean, M2) of ``values`` over the paths where ``mask`` holds (fixed order).

    M2 = Σ (v − mean)², so blocks combine exactly with Chan's formula on the host. Masked-out
    paths never enter, so a diverged path cannot turn a mean into NaN.
    """
    count = jnp.sum(mask.astype(jnp.int32))
    n = jnp.maximum(count, 1).astype(values.dtype)
    mean = fixed_order_sum(jnp.where(mask, values, 0.0)) / n
    m2 = fixed_order_sum(jnp.where(mask, (values - mean) ** 2, 0.0))
    return count, mean, m2


# Below (PRECISION_MARGIN · eps · ‖x*‖)², ‖x − x*‖² measures rounding, not the dynamics.
PRECISION_MARGIN = 1e3


def usable_floor(dtype, center=None):
    """Smallest ‖x − x*‖² a growth factor may divide by (and a path's exponent may end at).

    tiny/eps of the dtype: above it, the next state stays in the normal range unless the step
    contracts ‖x‖² by more than 1/eps, so a factor is not ruined by underflow (a
    fast-converging state otherwise yields spurious zero factors on the step where it flushes
    to 0). With ``center`` (x*, possibly traced), at least (1e3 · eps · ‖x*‖)²: a path that
    converges to a minimizer away from the origin stops resolving its distance there, since
    x − x* then holds rounding errors of order eps · |x*| per coordinate (amplified by the
    step's own rounding), and the ratios of those are noise, not growth.
    """
    info = np.finfo(dtype)
    base = float(info.tiny / info.eps)
    if center is None:
        return base
    scale = (PRECISION_MARGIN * float(info.eps)) ** 2
    return jnp.maximum(base, scale * jnp.sum(center * center))
