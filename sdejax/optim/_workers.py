"""Per-worker compression and aggregation over workers as optax transformations.

Two ways to hold workers:
* simulated workers: every leaf of the incoming updates has a leading worker axis of size N
  (``axis_name=None``); aggregation reduces that axis;
* real workers: inside ``shard_map``/``pmap`` with a named axis, each device holds one worker's
  updates (no worker axis) and aggregation is a collective over ``axis_name``.

With simulated workers every transformation checks, at trace time (shapes are static), that each
leaf of the updates has exactly one leading worker axis more than the matching leaf of
``params`` (the ``params`` passed to ``update``, or else the shapes recorded by ``init``), with
the same N for every leaf. Without this check an update with no worker axis would be silently
averaged over the first parameter axis and broadcast back by ``optax.apply_updates``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import optax
from jax.flatten_util import ravel_pytree

from .._compressors import AbstractCompressor, Identity, Sign, TopK

_VOTES = ("mean", "majority")
# Compressors whose output does not depend on the key: they need no `key` (a fixed placeholder
# key keeps the state's structure the same as for random compressors).
_DETERMINISTIC = (Identity, Sign, TopK)


class CompressWorkersState(NamedTuple):
    """State of :func:`compress_workers`: a step count, the PRNG key for the next step, and
    the parameter shapes recorded by ``init`` (see :func:`parameter_shapes`)."""

    count: jax.Array
    key: jax.Array
    param_shapes: Any


class AggregateWorkersState(NamedTuple):
    """State of :func:`aggregate_workers`: the parameter shapes recorded by ``init``."""

    param_shapes: Any


def parameter_shapes(params):
    """``params`` as a pytree of empty arrays of shape (0, *leaf.shape).

    This records the parameter shapes as array leaves, so a state holding it stays an ordinary
    pytree under ``jit``, ``vmap`` (a batch axis goes in front and is gone again inside the
    mapped function) and ``lax.cond``; it holds no data and costs nothing.
    """
    return jtu.tree_map(lambda leaf: jnp.zeros((0, *jnp.shape(leaf)), jnp.result_type(leaf)), params)


def _describe(path) -> str:
    return jtu.keystr(path) or "(root)"


def check_worker_axis(updates, params=None, recorded=None) -> int:
    """The number of simulated workers N; a clear ValueError unless every leaf of ``updates``
    has shape (N, *shape of the matching parameter leaf), with the same N for every leaf.

    The parameter shapes come from ``params`` when given, else from ``recorded`` (the
    :func:`parameter_shapes` stored by ``init``); with neither, only a common leading axis is
    required.
    """
    flat, tree = jtu.tree_flatten_with_path(updates)
    if not flat:
        raise ValueError("sdejax.optim: `updates` has no leaves.")
    if params is not None:
        reference, ref_tree = jtu.tree_flatten(params)
        expected = [tuple(jnp.shape(leaf)) for leaf in reference]
    elif recorded is not None:
        reference, ref_tree = jtu.tree_flatten(recorded)
        expected = [tuple(jnp.shape(leaf))[1:] for leaf in reference]
    else:
        ref_tree, expected = None, [None] * len(flat)
    if ref_tree is not None and ref_tree != tree:
        raise ValueError(
            "sdejax.optim: the per-worker updates do not have the tree structure of `params` "
            f"(updates: {tree}; params: {ref_tree})."
        )
    sizes, bad = {}, []
    for (path, leaf), shape in zip(flat, expected, strict=True):
        got = tuple(jnp.shape(leaf))
        if not got or (shape is not None and got[1:] != shape):
            bad.append((path, got, shape))
        else:
            sizes[_describe(path)] = got[0]
    if bad:
        path, got, shape = bad[0]
        where = f"leaf {_describe(path)}" if len(flat) > 1 else "the update"
        wanted = "(n_workers, ...)" if shape is None else str((-1, *shape)).replace("-1", "n_workers")
        raise ValueError(
            "sdejax.optim: per-worker gradients need exactly one leading worker axis more than "
            f"`params`: {where} has shape {got}, expected {wanted}"
            + (f" ({len(bad)} of {len(flat)} leaves wrong)" if len(flat) > 1 else "")
            + ". Stack the workers' gradients along a new leading axis (jax.vmap over workers), "
            "or pass axis_name=... inside shard_map."
        )
    if len(set(sizes.values())) != 1:
        raise ValueError(
            "sdejax.optim: every leaf of the per-worker updates needs the same leading worker "
            f"axis (n_workers); got sizes {sizes}."
        )
    return next(iter(sizes.values()))


def check_same_shapes(updates, params) -> None:
    """With ``axis_name`` (one worker per device) the updates have exactly ``params``' shapes."""
    if params is None:
        return
    got = jtu.tree_map(jnp.shape, updates)
    want = jtu.tree_map(jnp.shape, params)
    if jtu.tree_structure(updates) != jtu.tree_structure(params) or got != want:
        raise ValueError(
            "sdejax.optim: with `axis_name` each device holds one worker's update, which must "
            f"have the shapes of `params` (no worker axis); got {got}, params {want}."
        )


def _ravel_workers(updates):
    """(pytree with leading worker axis) -> (N, D) matrix and the single-worker unravel fn."""
    first = jtu.tree_map(lambda leaf: leaf[0], updates)
    _, unravel = ravel_pytree(first)
    flat = jax.vmap(lambda tree: ravel_pytree(tree)[0])(updates)
    return flat, unravel


def is_deterministic(compressor) -> bool:
    """True for compressors that ignore their key (``Identity``, ``Sign``, ``TopK``)."""
    return isinstance(compressor, _DETERMINISTIC)


def compress_workers(
    compressor: AbstractCompressor, *, key=None, axis_name: str | None = None
) -> optax.GradientTransformation:
    """Compress each worker's update with its own compressor randomness.

    Each worker flattens its update pytree into one vector of length D (so ``RandK(k)`` keeps k of
    the D coordinates of the whole model, as in docs/theory.md §3), compresses it and unflattens it.

    **Arguments:**
    - `compressor`: an :class:`sdejax.AbstractCompressor`.
    - `key`: PRNG key stored in the state and split at each update (optax ``add_noise`` style).
      Required for random compressors; optional for the deterministic ``Identity``, ``Sign``
      and ``TopK``.
    - `axis_name`: ``None`` for simulated workers (leading axis of the updates, checked against
      ``params`` or the shapes recorded by ``init``); a mapped axis name for real workers (each
      device folds its axis index into the key).
    """
    if not isinstance(compressor, AbstractCompressor):
        raise TypeError(f"compress_workers: `compressor` must be an AbstractCompressor, got {compressor!r}.")
    if key is None:
        if not is_deterministic(compressor):
            raise ValueError(
                f"compress_workers: `key` is required (a jax.random key) for the random compressor "
                f"{type(compressor).__name__}; only Identity, Sign and TopK need none."
            )
        key = jr.key(0)  # never used: the compressor ignores it

    def init_fn(params):
        size = sum(jnp.size(leaf) for leaf in jtu.tree_leaves(params))
        compressor.check_dim(int(size))
        return CompressWorkersState(
            count=jnp.zeros([], jnp.int32), key=key, param_shapes=parameter_shapes(params)
        )

    def update_fn(updates, state, params=None):
        key_next, key_step = jr.split(state.key)
        if axis_name is None:
            n_workers = check_worker_axis(updates, params, state.param_shapes)
            flat, unravel = _ravel_workers(updates)
            # worker i uses fold_in(key_step, i): the same stream as device i with an axis_name
            keys = jax.vmap(lambda i: jr.fold_in(key_step, i))(jnp.arange(n_workers))
            compressed = jax.vmap(compressor)(keys, flat)
            new_updates = jax.vmap(unravel)(compressed)
        else:
            check_same_shapes(updates, params)
            key_worker = jr.fold_in(key_step, jax.lax.axis_index(axis_name))
            flat, unravel = ravel_pytree(updates)
            new_updates = unravel(compressor(key_worker, flat))
        new_state = CompressWorkersState(
            count=optax.safe_increment(state.count), key=key_next, param_shapes=state.param_shapes
        )
        return new_updates, new_state

    return optax.GradientTransformation(init_fn, update_fn)


def sign_workers() -> optax.GradientTransformation:
    """Each worker sends sign(update) (sign(0) = 0, as optax's ``scale_by_sign``)."""
    return optax.scale_by_sign()


def aggregate_workers(*, vote: str = "mean", axis_name: str | None = None) -> optax.GradientTransformation:
    """Server aggregation over workers.

    ``vote="mean"`` averages the workers' updates (DCSGD, and DSignSGD as in the paper: signs are
    averaged); ``vote="majority"`` returns sign(Σ_i update_i), the majority vote of signSGD with
    majority vote (ties give 0). With simulated workers (``axis_name=None``) every leaf must
    have shape (N, *parameter shape), checked against ``params`` or the shapes recorded by
    ``init``.
    """
    if vote not in _VOTES:
        raise ValueError(f"aggregate_workers: `vote` must be one of {_VOTES}, got {vote!r}.")

    def reduce(leaf):
        if axis_name is None:
            total = jnp.mean(leaf, axis=0)
        else:
            total = jax.lax.pmean(leaf, axis_name)
        return jnp.sign(total) if vote == "majority" else total

    def init_fn(params):
        return AggregateWorkersState(param_shapes=parameter_shapes(params))

    def update_fn(updates, state, params=None):
        if axis_name is None:
            check_worker_axis(updates, params, state.param_shapes)
        else:
            check_same_shapes(updates, params)
        return jtu.tree_map(reduce, updates), state

    return optax.GradientTransformation(init_fn, update_fn)
