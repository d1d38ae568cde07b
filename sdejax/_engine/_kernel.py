"""The one path kernel: vmap over paths, scan over steps, reduce on the fly (blackjax style).

``simulate`` and ``stability_sweep`` both run :func:`run_block`: a block of P paths of one
model at one learning rate, started from x0, for ``steps`` steps. Two populations move side by
side, driven by the same random variates (path p of each uses the keys of path p):

* the **free paths**, P independent paths of the model: divergence flags, the final loss, the
  almost-sure growth rate (each path's own exponent, ``docs/theory.md`` §7) and, in
  ``simulate``, statistics over time;
* the **clones**, a population-dynamics estimator of the mean-square growth rate (Giardinà,
  Kurchan & Peliti 2006). The clones move freely for ``RESAMPLE_EVERY`` steps (an interval);
  at its end clone p's growth g_p = ‖x_p − x*‖²/‖x_p(start) − x*‖² (the product of its one-step
  factors, which telescopes), the interval's mean-square growth factor is estimated by
  W = mean_p g_p, and the clones are resampled in proportion to g_p (systematic resampling).
  Π W is an unbiased estimate of E‖x_K − x*‖²/‖x_0 − x*‖², and the population keeps following
  the rare directions that carry the second moment, which independent paths lose on
  anisotropic problems (the old pooled ratio Σ‖x_{k+1}‖²/Σ‖x_k‖² did). This is the same
  estimator as multiplying importance weights step by step and resampling every interval, in
  fewer operations: between resamplings a clone costs one model step and nothing else.
  A block's clones form up to 4 independent populations (:func:`clone_populations`), and
  where the dynamics they follow are scale-free each resampled clone is rescaled to unit
  distance from x* (:func:`scale_free_clones`), so that no lineage leaves the floating-point
  range.

A block runs C <= P clones (``n_clones``: all P in ``stability_sweep``; ``simulate``'s default
is ``_simulate.default_clones``). The first C free paths and the clones live in one
array with the population axis outermost, (2, C, …), stepped by one vmapped call whose keys
are not batched over that axis, so every random variate is drawn once for both; the other
P − C free paths (the tail) are stepped by a second, plain vmapped call. A path's numbers agree
between the two parts up to floating-point rounding. Memory is O(paths × state). Sums over
paths run over a fixed binary tree (``fixed_order_sum``) so that a block's numbers depend only
on its inputs, never on how blocks are grouped.

Longer than the 300-line guideline because it is one concept: :func:`run_block` is a single
traced function of about 200 lines whose scan body steps the free paths and the clones in one
vmapped call over a shared carry, which a split would cut apart.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu

from ._statistics import fixed_order_sum, masked_moments, usable_floor

# fold_in data reserved for a path's initial optimizer-state key (steps never reach it).
_INIT_TAG = 0xFFFFFFFF
# The clones are resampled every this many steps (an interval): the measurement, the search
# and the gather of the population's states run half as often as at every step. Longer
# intervals let the weights degenerate: at 4, a Bernoulli sparsifier with p = 0.3 biased the
# rate by about −2 SE at 2,000 clones (tests/test_estimators.py); at 1 and 2 it did not. The
# growth rate is measured over complete intervals: a final partial one is not counted.
RESAMPLE_EVERY = 2
# A block's clones form up to this many independent populations of at least _POPULATION_SIZE.
# The long-run variance of one population's log W series is estimated from ~75 correlated
# values at 200 steps, so its SE varied by 20-25 % and z-scores had t-like tails (|z| > 3 in
# 1-2 % of keys, rotated Bernoulli); 4 populations of 1,000 brought that to 0.25-0.75 % with
# the same SE. More populations of fewer clones grow the O(1/size) bias that the host
# corrects (``_estimators``), so the count is capped.
MAX_POPULATIONS = 4
_POPULATION_SIZE = 1000


def clone_populations(block: int) -> int:
    """How many independent clone populations a block of ``block`` paths holds:
    min(4, max(1, block // 1000)) (a function of the block size only)."""
    return min(MAX_POPULATIONS, max(1, int(block) // _POPULATION_SIZE))


class BlockStats(NamedTuple):
    """What one block returns (leading axes, if any: items, learning rates).

    Per resampling interval j (arrays of length ``steps // RESAMPLE_EVERY``): ``log_growth`` =
    log W_j of the clones and ``usable`` (W_j is a valid growth factor: no clone had
    underflowed at the interval's start, none overflowed). Per block: Chan statistics (count,
    mean, M2) of the free paths' almost-sure exponents and final losses, the number of diverged
    paths, and whether the clone population overflowed. ``pooled_*`` are the legacy pooled
    sums Σ_p‖x_{k+1}‖², Σ_p‖x_k‖² over live free paths (None unless requested).
    """

    log_growth: jax.Array
    usable: jax.Array
    clones_blown: jax.Array
    as_count: jax.Array
    as_mean: jax.Array
    as_m2: jax.Array
    loss_count: jax.Array
    loss_mean: jax.Array
    loss_m2: jax.Array
    n_diverged: jax.Array
    pooled_numerator: jax.Array
    pooled_denominator: jax.Array


class SaveInfo(NamedTuple):
    """Statistics over the free paths at a save point (``simulate``)."""

    loss_mean: jax.Array
    loss_se: jax.Array
    grad_norm_sq_mean: jax.Array
    grad_norm_sq_se: jax.Array
    x_norm_sq_mean: jax.Array
    x_norm_sq_se: jax.Array
    diverged_fraction: jax.Array
    loss_q10: jax.Array
    loss_median: jax.Array
    loss_q90: jax.Array


class _Free(NamedTuple):
    norm: jax.Array  # ‖x − x*‖² per path, carried so that no step recomputes it
    diverged: jax.Array
    anchor: jax.Array  # ‖x_{K0} − x*‖² (0: not usable at K0)
    last_norm: jax.Array  # ‖x − x*‖² at the last step where the path was usable
    last_step: jax.Array


class _Clones(NamedTuple):
    start: jax.Array  # ‖x − x*‖² per clone at the last resampling
    blown: jax.Array  # a clone overflowed: the population stops counting


def path_keys(key, n_paths: int, offset: int = 0):
    """Path p's key is fold_in(key, p): independent of how paths are chunked."""
    return jax.vmap(lambda i: jr.fold_in(key, i))(jnp.arange(offset, offset + n_paths))


def resample_key(key, block_index):
    """The key of the clones' resampling uniforms of one block (disjoint from path keys)."""
    return jr.fold_in(jr.fold_in(key, _INIT_TAG), block_index)


def _where(mask, new, old):
    """Select per path over a state pytree (mask has the leading shape of the leaves)."""
    return jtu.tree_map(
        lambda a, b: jnp.where(jnp.reshape(mask, mask.shape + (1,) * (a.ndim - mask.ndim)), a, b), new, old
    )


def clone_model(model):
    """The model the clones follow when the dynamics carry a forcing (``forcing_free=True``).

    Additive noise and heterogeneous minimizers add a constant forcing to E‖x − x*‖²: below
    the threshold it settles at a stationary level, so the process's own growth rate tends to
    0 there and says nothing about how far below the threshold η is. The mean-square growth
    rate that the theory computes (and whose zero is the threshold) is that of the dynamics
    without the forcing; where the algorithm declares that the two separate, the clones follow
    ``model.without_forcing()`` (same structure, other values), while the free paths follow the
    process itself. Raises where the model cannot drop its forcing.
    """
    stripped = model.without_forcing()
    if stripped is None:
        raise ValueError(f"{model.name}: the forcing of this model cannot be separated (see has_forcing).")
    return stripped


def separate_forcing(model) -> bool:
    """Whether the clones should follow ``model.without_forcing()`` (decided on the host, from
    concrete values: a model without forcing keeps the single-model program)."""
    return bool(model.has_forcing()) and model.without_forcing() is not None


def scale_free_clones(model) -> bool:
    """Whether the clones may be rescaled after each resampling (decided on the host, from
    declarations and concrete values): the dynamics they follow (``model.without_forcing()``
    where the model has a forcing, else the model itself) are scale-free
    (``AbstractModel.is_scale_free``)."""
    follower = model.without_forcing() if model.has_forcing() else model
    return follower is not None and follower.is_scale_free()


def _two_population_step(model, clones):
    """step(keys, both, η, η_k) over (2, paths) states: population 0 follows ``model``,
    population 1 follows ``clones`` (``model`` itself when None). The keys are mapped over the
    paths only, so every variate is drawn once for both populations."""
    paths = jax.vmap(model.step, in_axes=(0, 0, None, None))
    if clones is None:
        return jax.vmap(paths, in_axes=(None, 0, None, None))
    arrays, static = eqx.partition(model, eqx.is_array)
    clone_arrays, clone_static = eqx.partition(clones, eqx.is_array)
    if jtu.tree_structure(arrays) != jtu.tree_structure(clone_arrays) or static != clone_static:
        raise ValueError(f"{model.name}: without_forcing() must keep the model's structure.")
    stacked = jtu.tree_map(lambda a, b: jnp.stack([a, jnp.asarray(b, a.dtype)]), arrays, clone_arrays)

    def one(values, key, state, learning_rate, multiplier):
        return eqx.combine(values, static).step(key, state, learning_rate, multiplier)

    inner = jax.vmap(one, in_axes=(None, 0, 0, None, None))
    return lambda keys, both, lr, mult: jax.vmap(inner, in_axes=(0, None, 0, None, None))(
        stacked, keys, both, lr, mult
    )


def systematic_parents(weights, total, u, n_valid):
    """Systematic resampling: the parent of each of the first ``n_valid`` slots, in O(n).

    Slot i sits at (i + u)/n in the cumulative distribution C_p = Σ_{q<=p} w_q / total, and its
    parent is #{p : C_p <= (i + u)/n} (what a sorted search returns). Since i is an integer,
    C_p <= (i + u)/n ⇔ m_p := ⌈n C_p − u⌉ <= i, so the parents are the cumulative histogram of
    the m_p: one scatter-add of integers (exact, so independent of order) and one cumulative
    sum, instead of a binary search per slot. Slots past ``n_valid`` get garbage: the caller
    keeps their own index.
    """
    size = weights.shape[-1]
    n = n_valid.astype(weights.dtype)
    cumulative = jnp.cumsum(weights) / total
    first_slot = jnp.clip(jnp.ceil(cumulative * n - u), 0, size).astype(jnp.int32)
    histogram = jnp.zeros(size + 1, jnp.int32).at[first_slot].add(1)
    return jnp.minimum(jnp.cumsum(histogram[:size]), n_valid - 1)


def _take(tree, index):
    return jtu.tree_map(lambda a: a[index], tree)


def save_info(model, positions, diverged, valid) -> SaveInfo:
    """Means, SEs and quantiles over the live free paths (a diverged path counts as +inf in
    the quantiles: the typical path, meaningful under heavy tails where the mean is not)."""
    problem = model.problem
    alive = valid & ~diverged
    loss = jax.vmap(problem.loss)(positions)
    grad = jax.vmap(problem.gradient)(positions)
    grad_sq = jnp.sum(grad * grad, axis=-1)
    offset = positions - problem.minimizer().astype(positions.dtype)[None, :]
    x_sq = jnp.sum(offset * offset, axis=-1)
    loss_mean, loss_se = _mean_se(loss, alive & jnp.isfinite(loss))
    g_mean, g_se = _mean_se(grad_sq, alive & jnp.isfinite(grad_sq))
    x_mean, x_se = _mean_se(x_sq, alive)
    n_valid = jnp.sum(valid).astype(positions.dtype)
    fraction = jnp.sum((valid & diverged).astype(positions.dtype)) / n_valid
    typical = jnp.where(alive & jnp.isfinite(loss), loss, jnp.inf)
    typical = jnp.where(valid, typical, jnp.nan)  # padding sorts last
    q = jnp.asarray([0.1, 0.5, 0.9], loss.dtype)
    q10, median, q90 = jnp.nanquantile(typical, q, method="lower")
    return SaveInfo(loss_mean, loss_se, g_mean, g_se, x_mean, x_se, fraction, q10, median, q90)


def _mean_se(values, mask):
    count, mean, m2 = masked_moments(values, mask)
    n = jnp.maximum(count, 1).astype(values.dtype)
    se = jnp.sqrt(m2 / jnp.maximum(n - 1, 1) / n)
    return jnp.where(count > 0, mean, jnp.inf), jnp.where(count > 1, se, 0.0)


def run_block(
    model,
    x0,
    learning_rate,
    keys,
    valid,
    divergence_bound,
    window_start,
    resampling_key,
    *,
    steps: int,
    schedule=None,
    save_every: int | None = None,
    pooled: bool = False,
    resample_every: int = RESAMPLE_EVERY,
    forcing_free: bool = False,
    n_clones: int | None = None,
    scale_free: bool = False,
    populations: int = 1,
):
    """Run one block of paths and reduce it.

    **Arguments:** `model` (an sdejax model), `x0` (P, d), `learning_rate` (scalar, traced),
    `keys` (P,) path keys, `valid` (P,) which paths are real (the rest pad the block),
    `divergence_bound` (a free path is diverged once ‖x − x*‖ exceeds it or is non-finite),
    `window_start` K0 (traced int: the almost-sure exponent is measured from step K0, the
    host measures the mean-square one from the per-step values), `resampling_key`.
    Static: `steps`, `schedule` (k ↦ η_k), `save_every` (None: no statistics over time),
    `pooled` (also return the legacy pooled sums), `forcing_free` (the clones follow
    ``model.without_forcing()``: see :func:`clone_model`), `n_clones` C (the clones move with
    the variates of the first C paths; None: every path, 0: no clone population, so no
    mean-square estimate and every ``usable`` is False), `scale_free` (the
    clones' dynamics are positively homogeneous about x*: see :func:`scale_free_clones`; each
    resampled clone is rescaled to ‖x − x*‖ = 1), `populations` G (the block's clones form G
    independent populations of ⌈C/G⌉ consecutive clones, each resampled on its own: see
    :func:`clone_populations`).

    **Returns:** ``(BlockStats, saves)``; ``saves`` is a :class:`SaveInfo` of arrays over the
    save points 0, save_every, …, steps, or None.
    """
    dtype = x0.dtype
    learning_rate = jnp.asarray(learning_rate, dtype)
    window_start = jnp.asarray(window_start, jnp.int32)
    center = model.problem.minimizer().astype(dtype)
    floor = usable_floor(dtype, center)
    n_paths = x0.shape[0]
    n_clones = n_paths if n_clones is None else int(n_clones)
    if not 0 <= n_clones <= n_paths:
        raise ValueError(
            f"run_block: `n_clones` must be in [0, {n_paths}] (the block's paths), got {n_clones}."
        )
    # The first C paths and the clones, stacked as (2, C, …), move in one call whose keys are
    # not mapped over the population axis; the other P − C paths (the tail) in a second call.
    head_count, tail_count = n_clones, n_paths - n_clones

    def head_of(a):
        """The first C entries along the path axis (empty when C = 0)."""
        return a if not tail_count else a[:head_count]

    def split(a):
        """(first C, last P − C) along the path axis; None for an empty part."""
        tail = (a if not head_count else a[head_count:]) if tail_count else None
        return (head_of(a) if head_count else None), tail

    def split_tree(tree):
        parts = [split(a) for a in jtu.tree_leaves(tree)]
        structure = jtu.tree_structure(tree)
        head = jtu.tree_unflatten(structure, [h for h, _ in parts]) if head_count else None
        tail = jtu.tree_unflatten(structure, [t for _, t in parts]) if tail_count else None
        return head, tail

    def join(head, tail):
        """Concatenate the free paths' pieces along the path axis (one piece: as it is)."""
        pieces = [piece for piece in (head, tail) if piece is not None]
        return pieces[0] if len(pieces) == 1 else jnp.concatenate(pieces)

    # The clone populations: G rows of S consecutive clones (the valid paths are a prefix).
    clone_valid = head_of(valid)
    n_valid_clones = jnp.sum(clone_valid.astype(jnp.int32))
    index = jnp.arange(n_clones)
    size = max(1, -(-n_clones // populations))
    padded = populations * size
    group = index // size
    members = jnp.clip(n_valid_clones - jnp.arange(populations) * size, 0, size)

    def distance(state):
        offset = jax.vmap(model.position)(state) - center[None, :]
        return jnp.sum(offset * offset, axis=-1)

    def free_positions(parts):
        head, tail = parts
        return join(
            None if head is None else jax.vmap(model.position)(_take(head, 0)),
            None if tail is None else jax.vmap(model.position)(tail),
        )

    def free_distances(parts):
        head, tail = parts
        return join(
            None if head is None else distance(_take(head, 0)), None if tail is None else distance(tail)
        )

    step_head = _two_population_step(model, clone_model(model) if forcing_free and head_count else None)
    # The tail by a plain vmap over paths: a population axis of one there cost 25-33 % of the
    # paths' time at W2's shape (in-process, against d0fae89's kernel). A path's numbers agree
    # between the two parts up to floating-point rounding (XLA fuses the two calls differently).
    step_tail = jax.vmap(model.step, in_axes=(0, 0, None, None))

    init_keys = jax.vmap(jr.fold_in, in_axes=(0, None))(keys, _INIT_TAG)
    state0 = jax.vmap(model.init, in_axes=(0, 0, None))(init_keys, x0, learning_rate)
    norm0 = distance(state0)
    zeros = jnp.zeros_like(norm0)
    free0 = _Free(norm0, valid & ~jnp.isfinite(norm0), zeros, norm0, jnp.zeros(n_paths, jnp.int32))
    free_head0, tail0 = split_tree(state0)
    clone_state0, clone_norm0 = free_head0, head_of(norm0)
    if forcing_free and head_count:
        # The unforced dynamics are scale-free but stay put at x*: paths that start there (an
        # x0 at the minimizer, to measure a stationary level) give their clones x* + (1, …, 1).
        head_x0 = head_of(x0)
        at_center = (clone_norm0 < floor)[:, None]
        start = jnp.where(at_center, center[None, :] + jnp.ones_like(head_x0), head_x0)
        clone_state0 = jax.vmap(model.init, in_axes=(0, 0, None))(head_of(init_keys), start, learning_rate)
        clone_norm0 = distance(clone_state0)
    # The population axis of the head holds the first C free paths and their clones.
    head0 = jtu.tree_map(lambda a, b: jnp.stack([a, b]), free_head0, clone_state0) if head_count else None
    clones0 = _Clones(clone_norm0, jnp.zeros((populations,), bool))

    def end_interval(parts, clones, k):
        """Close a resampling interval: each clone's growth since the last resampling,
        g_p = ‖x_p − x*‖²/‖x_p(start) − x*‖² (the product of the interval's one-step factors,
        which telescopes), each population's factor W = mean_p g_p, and systematic resampling
        of every population's clones in proportion to g_p."""
        head, tail = parts
        norm = distance(_take(head, 1))
        finite = jnp.isfinite(norm)
        above = clones.start >= floor
        growth = jnp.where(clone_valid & finite & above, norm / jnp.where(above, clones.start, 1.0), 0.0)
        # Populations as rows: (G, S), the padding slots (and the block's padded paths) invalid.
        rows = lambda a, fill: jnp.pad(a, (0, padded - n_clones), constant_values=fill).reshape(  # noqa: E731
            populations, size
        )
        total = fixed_order_sum(rows(growth, 0.0))
        overflow = ~clones.blown & jnp.any(rows(clone_valid & ~finite, False), axis=-1)
        ok = (total > 0) & jnp.isfinite(total) & ~clones.blown & ~overflow
        all_above = jnp.all(rows(above | ~clone_valid, True), axis=-1)
        usable = ok & all_above & (k < steps) & (members > 0)
        factor = total / jnp.maximum(members, 1).astype(dtype)
        log_growth = jnp.where(usable, jnp.log(jnp.where(usable, factor, 1.0)), 0.0)
        u = jr.uniform(jr.fold_in(resampling_key, k), (populations,), dtype)
        local = jax.vmap(systematic_parents)(rows(growth, 0.0), jnp.where(ok, total, 1.0), u, members)
        parent = (local + (jnp.arange(populations) * size)[:, None]).reshape(-1)[:n_clones]
        parent = jnp.where(ok[group] & clone_valid, parent, index)
        start = norm[parent]
        move = lambda picked: picked  # noqa: E731
        if scale_free:
            # Only a clone's direction matters: rescale it to unit distance from x*. No growth
            # factor changes, but no lineage can drift out of the floating-point range (their
            # spread in ‖x − x*‖² grows like a random walk, past 1e38 within 100 steps on a
            # rotated problem with Bernoulli compression). The state is the position.
            rescale = ok[group] & (start > 0) & jnp.isfinite(start)
            shrink = jnp.where(rescale, jax.lax.rsqrt(jnp.where(rescale, start, 1.0)), 1.0)
            move = lambda picked: center[None, :] + shrink[:, None] * (picked - center[None, :])  # noqa: E731
            start = jnp.where(rescale, jnp.ones_like(start), start)
        head = jtu.tree_map(lambda a: a.at[1].set(move(a[1][parent])), head)
        return (head, tail), _Clones(start, clones.blown | overflow), (log_growth, usable)

    def advance(carry, k):
        """One step of both populations (k traced); returns the carry and the pooled sums."""
        (head, tail), free, clones = carry
        active = k < steps
        multiplier = jnp.asarray(1.0 if schedule is None else schedule(k), dtype)
        head_keys, tail_keys = split(jax.vmap(jr.fold_in, in_axes=(0, None))(keys, k))
        # The head's two populations in one call, clone p with path p's keys: the keys are not
        # mapped over the population axis, so every variate is drawn once for both.
        moved = (
            None if head is None else step_head(head_keys, head, learning_rate, multiplier),
            None if tail is None else step_tail(tail_keys, tail, learning_rate, multiplier),
        )

        # free paths: diverged ones stay frozen
        norm_new = free_distances(moved)
        finite = jnp.isfinite(norm_new)
        live = valid & ~free.diverged & active
        use = live & finite
        blown = live & (~finite | (norm_new > divergence_bound**2))
        at_start = (k == window_start) & live & (free.norm >= floor)
        good = use & (norm_new >= floor)
        new_free = _Free(
            jnp.where(use, norm_new, free.norm),
            free.diverged | blown,
            jnp.where(at_start, free.norm, free.anchor),
            jnp.where(good, norm_new, free.last_norm),
            jnp.where(good, (k + 1).astype(jnp.int32), free.last_step),
        )
        # the clones always move; a free path only while it is usable
        use_head, use_tail = split(use)
        if head is not None:
            head = _where(jnp.stack([use_head, jnp.ones_like(use_head)]), moved[0], head)
        if tail is not None:
            tail = _where(use_tail, moved[1], tail)
        if pooled:
            sums = (
                fixed_order_sum(jnp.where(use, norm_new, 0.0)),
                fixed_order_sum(jnp.where(use, free.norm, 0.0)),
            )
        else:
            sums = None
        return ((head, tail), new_free, clones), sums

    def no_end(parts, clones, k):
        return parts, clones, (jnp.zeros((populations,), dtype), jnp.zeros((populations,), bool))

    close = end_interval if head_count else no_end

    def interval(carry, j):
        """Steps j·r … j·r + r − 1 (unrolled), then the end of the interval: no conditional,
        so nothing is copied between the steps."""
        sums = []
        for i in range(resample_every):
            carry, pair = advance(carry, j * resample_every + i)
            sums.append(pair)
        sums = jtu.tree_map(lambda *v: jnp.stack(v), *sums)
        parts, free, clones = carry
        parts, clones, growth = close(parts, clones, j * resample_every + resample_every - 1)
        return (parts, free, clones), (growth, sums)

    def single(carry, k):
        """One step, closing the interval when k + 1 is a multiple of r (a conditional, whose
        predicate does not depend on the data, so it stays one under vmap): for save points
        that do not fall on interval ends."""
        carry, sums = advance(carry, k)
        parts, free, clones = carry
        parts, clones, growth = jax.lax.cond((k + 1) % resample_every == 0, close, no_end, parts, clones, k)
        return (parts, free, clones), (growth, jtu.tree_map(lambda v: v[None], sums))

    def run_steps(carry, first, count: int):
        """``count`` steps from step ``first`` (traced). Returns the carry, the growth factors
        (one per interval when ``count`` is a multiple of r, else one per step, valid at the
        interval ends) and the per-step pooled sums."""
        if count % resample_every == 0:
            first_interval = first // resample_every
            carry, (growth, sums) = jax.lax.scan(
                interval, carry, first_interval + jnp.arange(count // resample_every)
            )
        else:
            carry, (growth, sums) = jax.lax.scan(single, carry, first + jnp.arange(count))
        return carry, growth, jtu.tree_map(lambda a: jnp.reshape(a, (-1,)), sums)

    carry0 = ((head0, tail0), free0, clones0)
    if save_every is None:
        whole = (steps // resample_every) * resample_every
        carry, growth, sums = run_steps(carry0, 0, whole)
        for k in range(whole, steps):  # a final partial interval: moved, not measured
            carry, pair = advance(carry, jnp.asarray(k))
            sums = jtu.tree_map(lambda a, b: jnp.concatenate([a, b[None]]), sums, pair)
        saves = None
    else:
        n_saves = -(-steps // save_every)

        def block(carry, b):
            carry, growth, sums = run_steps(carry, b * save_every, save_every)
            parts, free = carry[0], carry[1]
            info = save_info(model, free_positions(parts), free.diverged, valid)
            return carry, (growth, sums, info)

        first = save_info(model, jax.vmap(model.position)(state0), free0.diverged, valid)
        carry, (growth, sums, infos) = jax.lax.scan(block, carry0, jnp.arange(n_saves))
        flat = lambda a: jnp.reshape(a, (a.shape[0] * a.shape[1],) + a.shape[2:])  # noqa: E731
        growth = jtu.tree_map(flat, growth)
        if save_every % resample_every:  # one value per step: keep the interval ends
            growth = jtu.tree_map(lambda a: a[resample_every - 1 :: resample_every], growth)
        growth = jtu.tree_map(lambda a: a[: steps // resample_every], growth)
        sums = jtu.tree_map(lambda a: flat(a)[:steps], sums)
        saves = jtu.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, infos)
    parts, free, clones = carry
    log_growth, usable = growth
    pooled_num, pooled_den = sums if pooled else (None, None)  # sums is None unless pooled

    # Almost-sure exponent of each free path: (log‖x_last − x*‖² − log‖x_start − x*‖²) per unit
    # time, from K0 when the path was usable there, else from step 0 (a path that underflowed
    # or diverged before the window).
    from_window = (free.anchor > 0) & (free.last_step > window_start)
    from_zero = (norm0 >= floor) & jnp.isfinite(norm0) & (free.last_step > 0)
    measured = valid & (from_window | from_zero)
    start_norm = jnp.where(from_window, free.anchor, norm0)
    start_step = jnp.where(from_window, window_start, 0)
    elapsed = jnp.maximum(free.last_step - start_step, 1).astype(dtype) * learning_rate
    safe = lambda v: jnp.where(measured, v, 1.0)  # noqa: E731
    exponent = (jnp.log(safe(free.last_norm)) - jnp.log(safe(start_norm))) / elapsed
    as_count, as_mean, as_m2 = masked_moments(exponent, measured)

    positions = free_positions(parts)
    loss = jax.vmap(model.problem.loss)(positions)
    alive = valid & ~free.diverged & jnp.isfinite(loss)
    loss_count, loss_mean, loss_m2 = masked_moments(loss, alive)
    n_diverged = jnp.sum((valid & free.diverged).astype(jnp.int32))
    stats = BlockStats(
        log_growth,
        usable,
        clones.blown,
        as_count,
        as_mean,
        as_m2,
        loss_count,
        loss_mean,
        loss_m2,
        n_diverged,
        pooled_num,
        pooled_den,
    )
    return stats, saves


def save_steps(steps: int, save_every: int):
    """Step indices of the saved statistics: 0, save_every, 2·save_every, …, steps."""
    n_blocks = -(-steps // save_every)
    return [min(b * save_every, steps) for b in range(n_blocks + 1)]
