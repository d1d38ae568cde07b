"""Fixed-size path blocks: the sweep's unit of work, reduced in an order that never changes.

A sweep task is one (model, grid cell, learning rate); its ``n_paths`` paths are cut into
blocks of ``path_block`` paths (the last one padded with masked paths). A block returns
sufficient statistics: per-step sums Σ_p ‖x_{k+1}‖², Σ_p ‖x_k‖² over the ratio window, and
(count, mean, M2) of the final loss and the number of diverged paths. Sums inside a block are
pairwise over a fixed binary tree (slices and adds, not an XLA reduction whose order may depend
on the batch shape); blocks are combined on the host in block order. How blocks are grouped
into chunks, devices or processes therefore never changes a single bit of the result.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ._kernel import advance_paths
from ._statistics import growth_rate_numpy, usable_floor


class BlockStats(NamedTuple):
    """Sufficient statistics of one block (leading axes: items)."""

    numerator: np.ndarray  # (W,) Σ_p ‖x_{k+1}‖² over paths used at step k, k in the window
    denominator: np.ndarray  # (W,) Σ_p ‖x_k‖² over the same paths
    loss_count: np.ndarray  # paths alive at the end with a finite loss
    loss_mean: np.ndarray
    loss_m2: np.ndarray  # Σ (loss − mean)² over those paths
    n_diverged: np.ndarray


def fixed_order_sum(values):
    """Σ over the last axis by a fixed binary tree of elementwise adds (zero-padded to 2^m).

    The result depends only on the values, never on the other (batch) axes' sizes.
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


def run_block(
    model, x0, learning_rate, keys, valid, divergence_bound, *, steps, ratio_start, schedule
) -> BlockStats:
    """Run one block of paths (x0 (B, d), keys (B,), valid (B,)) and reduce it."""
    dtype = x0.dtype
    learning_rate = jnp.asarray(learning_rate, dtype)
    step_fn = jax.vmap(model.step, in_axes=(0, 0, None, None))

    def advance(carry, k):
        x, norm_old, diverged = carry  # norm_old: ‖x_k‖² per path, carried between steps
        x, norm, diverged, norm_new, use = advance_paths(
            step_fn,
            x,
            norm_old,
            diverged,
            keys,
            k,
            learning_rate,
            schedule=schedule,
            divergence_bound=divergence_bound,
        )
        use = use & valid
        sums = (
            fixed_order_sum(jnp.where(use, norm_new, 0.0)),
            fixed_order_sum(jnp.where(use, norm_old, 0.0)),
        )
        return (x, norm, diverged), sums

    # Per-step sums for every step (not only the window k >= ratio_start): ``finalize`` falls
    # back to all steps when no window step is usable.
    del ratio_start
    carry = (x0, jnp.sum(x0 * x0, axis=-1), jnp.zeros(x0.shape[:1], bool))
    (x, _, diverged), (numerator, denominator) = jax.lax.scan(advance, carry, jnp.arange(steps))
    loss = jax.vmap(model.problem.loss)(x)
    alive = valid & (~diverged) & jnp.isfinite(loss)
    count = jnp.sum(alive.astype(jnp.int32))
    mean = fixed_order_sum(jnp.where(alive, loss, 0.0)) / jnp.maximum(count, 1).astype(dtype)
    m2 = fixed_order_sum(jnp.where(alive, (loss - mean) ** 2, 0.0))
    n_diverged = jnp.sum((valid & diverged).astype(jnp.int32))
    return BlockStats(numerator, denominator, count, mean, m2, n_diverged)


def block_inputs(key, offset, block, n_paths, x0_table, cell):
    """Keys (fold_in(key, global path index)), start points and validity of one block."""
    index = offset + jnp.arange(block)
    keys = jax.vmap(jr.fold_in, in_axes=(None, 0))(key, index)
    table = x0_table[cell]
    if table.shape[0] == 1:
        x0 = jnp.broadcast_to(table, (block, table.shape[-1]))
    else:
        x0 = jax.lax.dynamic_slice_in_dim(table, offset, block, axis=0)
    return keys, x0, index < n_paths


# ---------------------------------------------------------------------------- host side


def combine(left: BlockStats, right: BlockStats) -> BlockStats:
    """Combine the statistics of consecutive blocks (Chan et al.'s parallel variance)."""
    count = left.loss_count + right.loss_count
    safe = np.maximum(count, 1)
    delta = right.loss_mean - left.loss_mean
    mean = np.where(count > 0, left.loss_mean + delta * (right.loss_count / safe), 0.0)
    m2 = left.loss_m2 + right.loss_m2 + delta * delta * (left.loss_count * right.loss_count / safe)
    return BlockStats(
        left.numerator + right.numerator,
        left.denominator + right.denominator,
        count,
        mean.astype(left.loss_mean.dtype),
        np.where(count > 0, m2, 0.0).astype(left.loss_m2.dtype),
        left.n_diverged + right.n_diverged,
    )


def fold_blocks(stats: BlockStats, carry: BlockStats | None = None) -> BlockStats:
    """Fold stats with a block axis (T, nb, ...) into (T, ...), left to right in block order."""
    take = lambda b: BlockStats(*(np.asarray(leaf)[:, b] for leaf in stats))  # noqa: E731
    result = carry
    for b in range(np.shape(stats.loss_count)[1]):
        block = take(b)
        result = block if result is None else combine(result, block)
    return result


def finalize(stats: BlockStats, learning_rates, n_paths: int, ratio_start: int = 0) -> dict:
    """Per-task output variables from the combined statistics of all blocks (numpy, host).

    Growth rate: R_k = N_k / D_k over window steps k >= ``ratio_start`` with D_k > 0 and N_k
    finite, mean over k, then log(mean R)/η with its delta-method SE (model.md §7; as
    ``simulate``). A task with no usable window step (its state underflowed to 0 during the
    burn-in) uses every usable step instead.
    """
    numerator = np.asarray(stats.numerator)
    denominator = np.asarray(stats.denominator)
    dtype = numerator.dtype
    usable = (denominator >= usable_floor(dtype)) & np.isfinite(numerator)
    in_window = usable & (np.arange(usable.shape[-1]) >= ratio_start)
    use = np.where(np.any(in_window, axis=-1, keepdims=True), in_window, usable)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(use, numerator / np.where(use, denominator, 1.0), 0.0)
    total = np.sum(ratio, axis=-1)
    with np.errstate(over="ignore"):  # a blowing-up path: R_k² overflows to inf, SE inf
        total_sq = np.sum(ratio * ratio, axis=-1)
    count = np.sum(use, axis=-1)
    rate, rate_se, ratio_mean, ratio_se = growth_rate_numpy(
        total, total_sq, count, np.asarray(learning_rates, dtype), np.asarray(stats.n_diverged) > 0
    )
    n = np.asarray(stats.loss_count)
    mean = np.where(n > 0, stats.loss_mean, np.inf).astype(dtype)
    var = np.asarray(stats.loss_m2) / np.maximum(n - 1, 1)
    se = np.where(n > 1, np.sqrt(var / np.maximum(n, 1)), 0.0).astype(dtype)
    return {
        "ms_growth_rate": rate,
        "ms_growth_rate_se": rate_se,
        "ms_ratio_mean": ratio_mean,
        "ms_ratio_se": ratio_se,
        "diverged_fraction": (np.asarray(stats.n_diverged) / n_paths).astype(dtype),
        "final_loss_mean": mean,
        "final_loss_se": se,
    }
