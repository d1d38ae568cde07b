"""EF21 error feedback (Richtárik, Sokolov & Fatkhullin, NeurIPS 2021) as an optax transformation."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import optax

from .._validation import check_int_at_least
from ._workers import CompressWorkersState, check_worker_axis, compress_workers


class ErrorFeedbackState(NamedTuple):
    """State of :func:`error_feedback`: a step count, the workers' estimates g_i (a leading
    worker axis with simulated workers; this device's g_i with ``axis_name``) and the state of
    the workers' compressors (:func:`compress_workers`)."""

    count: jax.Array
    estimates: Any
    compressor_state: CompressWorkersState


def error_feedback(
    compressor, *, n_workers: int | None = None, key=None, axis_name: str | None = None
) -> optax.GradientTransformation:
    """EF21 error feedback: each worker keeps an estimate g_i of its gradient and sends only a
    compressed correction (Richtárik, Sokolov & Fatkhullin, "EF21: A New, Simpler,
    Theoretically Better, and Practically Faster Error Feedback", NeurIPS 2021).

    At each update, worker i with gradient ∇_i sends c_i = C_i(∇_i − g_i) and sets
    g_i ← g_i + c_i; the server's estimate is ĝ = (1/N) Σ_i g_i (it adds the mean of the c_i to
    its copy). The transformation returns the workers' g_i (per worker, like
    :func:`compress_workers`), so that ``aggregate_workers()`` after it gives ĝ.

    **Initialization:** g_i starts at the first gradient: at the first update every worker sends
    ∇_i(x⁰) uncompressed, once, as in the authors' experiments (then the term G⁰ of their
    Theorem 1 is 0). At a fixed point c_i = 0 forces g_i = ∇f_i(x), so with heterogeneous
    workers the iterates go to a stationary point of the mean objective, where compressing the
    gradients themselves with a biased compressor stalls at a biased point.

    Works with any compressor: EF21's analysis covers contractive ones (``TopK``: δ = k/d;
    unbiased ones scaled by 1/(1 + ω)); ``Sign`` (sign(0) = 0) runs but is not contractive
    (its corrections have size 1 per coordinate, so g_i keeps oscillating around ∇_i).

    **Arguments:**
    - `compressor`: an :class:`sdejax.AbstractCompressor` (biased or not).
    - `n_workers`: N, required with simulated workers (``axis_name=None``): the state holds one
      g_i per worker, so ``init`` needs N. Each leaf of the gradients then has shape
      (N, *parameter shape) (checked).
    - `key`: PRNG key of the compressors (required for random ones, as in
      :func:`compress_workers`; worker i draws from the same stream with or without
      ``axis_name``).
    - `axis_name`: a mapped axis name for real workers (one per device, inside ``shard_map``):
      the state is that device's g_i.

    ```python
    ef21_top_k = optax.chain(
        sdejax.optim.error_feedback(sdejax.TopK(2), n_workers=8),
        sdejax.optim.aggregate_workers(),
        optax.scale_by_learning_rate(0.1),
    )
    ```
    """
    compress = compress_workers(compressor, key=key, axis_name=axis_name)
    if axis_name is None:
        if n_workers is None:
            raise ValueError(
                "error_feedback: with simulated workers (axis_name=None) pass n_workers=N: the "
                "state holds one estimate g_i per worker, so init needs the number of workers."
            )
        check_int_at_least("n_workers", n_workers, 1, "error_feedback")
        n_workers = int(n_workers)

    def init_fn(params):
        if axis_name is None:
            estimates = jtu.tree_map(
                lambda leaf: jnp.zeros((n_workers, *jnp.shape(leaf)), jnp.result_type(leaf)), params
            )
        else:
            estimates = jtu.tree_map(jnp.zeros_like, params)
        return ErrorFeedbackState(jnp.zeros([], jnp.int32), estimates, compress.init(params))

    def update_fn(updates, state, params=None):
        if axis_name is None:
            got = check_worker_axis(updates, params, state.compressor_state.param_shapes)
            if got != n_workers:
                raise ValueError(
                    f"error_feedback: the gradients have {got} workers on their leading axis, but "
                    f"n_workers={n_workers}."
                )
        difference = jtu.tree_map(lambda g, e: g - e.astype(g.dtype), updates, state.estimates)
        corrections, compressor_state = compress.update(difference, state.compressor_state, params)
        first = state.count == 0
        estimates = jtu.tree_map(
            lambda e, c, g: jnp.where(first, g.astype(e.dtype), e + c.astype(e.dtype)),
            state.estimates,
            corrections,
            updates,
        )
        new_state = ErrorFeedbackState(optax.safe_increment(state.count), estimates, compressor_state)
        return estimates, new_state

    return optax.GradientTransformation(init_fn, update_fn)
