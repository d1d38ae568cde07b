"""Apply any optax transformation to each simulated worker's update on its own."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import optax

from .._validation import check_int_at_least
from ._workers import check_worker_axis


class PerWorkerState(NamedTuple):
    """State of :func:`per_worker`: the inner transformation's state with a leading worker axis
    on every leaf."""

    inner_state: Any


def _distinct_keys(state, worker):
    """Fold the worker index into every typed PRNG key of ``state``: workers draw independently."""

    def fold(leaf):
        if hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            return jr.fold_in(leaf, worker)
        return leaf

    return jtu.tree_map(fold, state)


def per_worker(transform: optax.GradientTransformation, n_workers: int | None = None):
    """Run ``transform`` on each simulated worker's update independently, e.g. per-worker
    clipping ``per_worker(optax.clip_by_global_norm(1.0))`` before aggregation.

    The incoming updates have a leading worker axis (each leaf (N, *parameter shape), checked
    against ``params`` when given); ``init`` and ``update`` of ``transform`` are vmapped over it,
    so its state gets a worker axis (:class:`PerWorkerState`) and worker i's state only ever
    sees worker i's updates. ``params`` are shared by the workers. Typed PRNG keys in the inner
    state (``jax.random.key``) get the worker index folded in at ``init``, so workers draw
    independently (legacy uint32 keys are not recognizable and stay shared).

    **Arguments:**
    - `transform`: any ``optax.GradientTransformation``.
    - `n_workers`: N; required when ``transform`` has a state with array leaves (``init`` must
      give it a worker axis), optional for stateless ones such as ``clip_by_global_norm``.

    With real workers (one per device, ``axis_name``) use ``transform`` itself: each device
    already holds one worker.

    ```python
    opt = optax.chain(
        sdejax.optim.per_worker(optax.clip_by_global_norm(1.0)),   # each worker clips its own
        sdejax.optim.aggregate_workers(),
        optax.scale_by_learning_rate(0.1),
    )
    ```
    """
    if not (hasattr(transform, "init") and hasattr(transform, "update")):
        raise TypeError(
            f"per_worker: `transform` must be an optax.GradientTransformation, got {transform!r}."
        )
    if n_workers is not None:
        check_int_at_least("n_workers", n_workers, 1, "per_worker")
        n_workers = int(n_workers)

    def init_fn(params):
        if n_workers is None:
            state = transform.init(params)
            if jtu.tree_leaves(state):
                raise ValueError(
                    "per_worker: the transformation has a state with array leaves, which needs a "
                    "worker axis: pass n_workers=N."
                )
            return PerWorkerState(state)
        workers = jnp.arange(n_workers)
        return PerWorkerState(jax.vmap(lambda i: _distinct_keys(transform.init(params), i))(workers))

    def update_fn(updates, state, params=None):
        got = check_worker_axis(updates, params)
        if n_workers is not None and got != n_workers:
            raise ValueError(
                f"per_worker: the updates have {got} workers on their leading axis, but "
                f"n_workers={n_workers}."
            )
        new_updates, inner = jax.vmap(lambda u, s: transform.update(u, s, params))(updates, state.inner_state)
        return new_updates, PerWorkerState(inner)

    return optax.GradientTransformation(init_fn, update_fn)
