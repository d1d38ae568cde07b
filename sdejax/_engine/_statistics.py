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


def usable_floor(dtype) -> float:
    """Smallest ‖x − x*‖² a one-step growth factor may divide by: tiny/eps of the dtype.

    Above it, the next state stays in the normal range unless the step contracts ‖x‖² by
    more than 1/eps, so a factor is not ruined by underflow (a fast-converging state otherwise
    yields spurious zero factors on the step where it flushes to 0).
    """
    info = np.finfo(dtype)
    return float(info.tiny / info.eps)
