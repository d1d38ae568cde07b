"""Per-worker compression and aggregation over workers as optax transformations.

Two ways to hold workers:
* simulated workers: every leaf of the incoming updates has a leading worker axis of size N
  (``axis_name=None``); aggregation reduces that axis;
* real workers: inside ``shard_map``/``pmap`` with a named axis, each device holds one worker's
  updates (no worker axis) and aggregation is a collective over ``axis_name``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import optax
from jax.flatten_util import ravel_pytree

from .._compressors import AbstractCompressor

_VOTES = ("mean", "majority")


class CompressWorkersState(NamedTuple):
    """State of :func:`compress_workers`: a step count and the PRNG key for the next step."""

    count: jax.Array
    key: jax.Array


def _worker_count(updates) -> int:
    leaves = jtu.tree_leaves(updates)
    if not leaves:
        raise ValueError("compress_workers: `updates` has no leaves.")
    sizes = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            "simulated workers: every leaf of `updates` needs the same leading worker axis, "
            f"got leading sizes {sizes}."
        )
    return sizes.pop()


def _ravel_workers(updates):
    """(pytree with leading worker axis) -> (N, D) matrix and the single-worker unravel fn."""
    first = jtu.tree_map(lambda leaf: leaf[0], updates)
    _, unravel = ravel_pytree(first)
    flat = jax.vmap(lambda tree: ravel_pytree(tree)[0])(updates)
    return flat, unravel


def _check_key(key, owner):
    if key is None:
        raise ValueError(f"{owner}: `key` is required (a jax.random key) for a random compressor.")


def compress_workers(
    compressor: AbstractCompressor, *, key, axis_name: str | None = None
) -> optax.GradientTransformation:
    """Compress each worker's update with its own compressor randomness.

    Each worker flattens its update pytree into one vector of length D (so ``RandK(k)`` keeps k of
    the D coordinates of the whole model, as in model.md §3), compresses it and unflattens it.

    **Arguments:**
    - `compressor`: an :class:`sdejax.AbstractCompressor`.
    - `key`: PRNG key stored in the state and split at each update (optax ``add_noise`` style).
    - `axis_name`: ``None`` for simulated workers (leading axis of the updates); a mapped axis
      name for real workers (each device folds its axis index into the key).
    """
    if not isinstance(compressor, AbstractCompressor):
        raise TypeError(f"compress_workers: `compressor` must be an AbstractCompressor, got {compressor!r}.")
    _check_key(key, "compress_workers")

    def init_fn(params):
        size = sum(jnp.size(leaf) for leaf in jtu.tree_leaves(params))
        compressor.check_dim(int(size))
        return CompressWorkersState(count=jnp.zeros([], jnp.int32), key=key)

    def update_fn(updates, state, params=None):
        del params
        key_next, key_step = jr.split(state.key)
        if axis_name is None:
            flat, unravel = _ravel_workers(updates)
            # worker i uses fold_in(key_step, i): the same stream as device i with an axis_name
            keys = jax.vmap(lambda i: jr.fold_in(key_step, i))(jnp.arange(flat.shape[0]))
            compressed = jax.vmap(compressor)(keys, flat)
            new_updates = jax.vmap(unravel)(compressed)
        else:
            key_worker = jr.fold_in(key_step, jax.lax.axis_index(axis_name))
            flat, unravel = ravel_pytree(updates)
            new_updates = unravel(compressor(key_worker, flat))
        return new_updates, CompressWorkersState(count=optax.safe_increment(state.count), key=key_next)

    return optax.GradientTransformation(init_fn, update_fn)


def sign_workers() -> optax.GradientTransformation:
    """Each worker sends sign(update) (sign(0) = 0, as optax's ``scale_by_sign``)."""
    return optax.scale_by_sign()


def aggregate_workers(*, vote: str = "mean", axis_name: str | None = None) -> optax.GradientTransformation:
    """Server aggregation over workers.

    ``vote="mean"`` averages the workers' updates (DCSGD, and DSignSGD as in the paper: signs are
    averaged); ``vote="majority"`` returns sign(Σ_i update_i), the majority vote of signSGD with
    majority vote (ties give 0).
    """
    if vote not in _VOTES:
        raise ValueError(f"aggregate_workers: `vote` must be one of {_VOTES}, got {vote!r}.")

    def reduce(leaf):
        if axis_name is None:
            total = jnp.mean(leaf, axis=0)
        else:
            total = jax.lax.pmean(leaf, axis_name)
        return jnp.sign(total) if vote == "majority" else total

    def update_fn(updates, state, params=None):
        del params
        if axis_name is None:
            _worker_count(updates)
        return jtu.tree_map(reduce, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)
