"""The path kernel: vmap over paths, scan over steps, reduce on the fly (blackjax style).

Memory is O(paths × d): only the current state, divergence flags, running ratio sums and the
statistics at save points are kept, never the whole trajectory.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr

from ._statistics import RatioAccumulator, masked_mean_se


class PathState(NamedTuple):
    """What the next step needs: positions (P, d), divergence flags (P,), ratio sums.

    ``ratios`` covers the window k >= ratio_start; ``ratios_all`` every step, the fallback when
    no window step is usable (a fast-converging state that underflowed to 0 before the window).
    """

    x: jnp.ndarray
    diverged: jnp.ndarray
    norm_sq: jnp.ndarray  # ‖x‖² per path (P,), carried so that no step recomputes it
    ratios: RatioAccumulator
    ratios_all: RatioAccumulator


class SaveInfo(NamedTuple):
    """Statistics over the live paths at a save point."""

    loss_mean: jnp.ndarray
    loss_se: jnp.ndarray
    grad_norm_sq_mean: jnp.ndarray
    grad_norm_sq_se: jnp.ndarray
    x_norm_sq_mean: jnp.ndarray
    x_norm_sq_se: jnp.ndarray
    diverged_fraction: jnp.ndarray
    loss_q10: jnp.ndarray
    loss_median: jnp.ndarray
    loss_q90: jnp.ndarray


def path_keys(key, n_paths: int, offset: int = 0):
    """Path p's key is fold_in(key, p): independent of how paths are chunked."""
    return jax.vmap(lambda i: jr.fold_in(key, i))(jnp.arange(offset, offset + n_paths))


def save_info(problem, state: PathState) -> SaveInfo:
    alive = ~state.diverged
    loss = jax.vmap(problem.loss)(state.x)
    grad = jax.vmap(problem.gradient)(state.x)
    grad_sq = jnp.sum(grad * grad, axis=-1)
    x_sq = jnp.sum(state.x * state.x, axis=-1)
    loss_mean, loss_se = masked_mean_se(loss, alive & jnp.isfinite(loss))
    g_mean, g_se = masked_mean_se(grad_sq, alive & jnp.isfinite(grad_sq))
    x_mean, x_se = masked_mean_se(x_sq, alive)
    fraction = jnp.mean(state.diverged.astype(state.x.dtype))
    # Quantiles over *all* paths, a diverged one counting as +inf: the typical path, which
    # heavy tails (e.g. DSGD under Cauchy noise) leave meaningful when the mean is not.
    typical = jnp.where(alive & jnp.isfinite(loss), loss, jnp.inf)
    q10, median, q90 = jnp.quantile(typical, jnp.asarray([0.1, 0.5, 0.9], loss.dtype), method="lower")
    return SaveInfo(loss_mean, loss_se, g_mean, g_se, x_mean, x_se, fraction, q10, median, q90)


def advance_paths(
    step_fn, x, norm, diverged, keys, k, learning_rate, *, schedule, divergence_bound, active=True
):
    """One step of every path, shared by :func:`run_paths` and the sweep's block kernel.

    ``step_fn`` is ``model.step`` vmapped over paths; ``norm`` is ‖x_k‖² per path, carried
    from step to step (no step recomputes it). Returns ``(x, norm, diverged, norm_new, use)``:
    the new positions (diverged paths stay frozen) and their ‖x‖², the updated divergence
    flags, ‖x_{k+1}‖² of every path's proposed step, and ``use``, the paths alive at step k
    whose next state is finite (those entering the one-step ratio R_k with ``norm_new`` over
    the input ``norm``).
    """
    dtype = x.dtype
    multiplier = jnp.asarray(1.0 if schedule is None else schedule(k), dtype)
    step_keys = jax.vmap(jr.fold_in, in_axes=(0, None))(keys, k)
    x_new = step_fn(step_keys, x, learning_rate, multiplier)
    norm_new = jnp.sum(x_new * x_new, axis=-1)
    finite = jnp.isfinite(norm_new)
    live = (~diverged) & active
    use = live & finite
    blown = live & ((~finite) | (norm_new > divergence_bound**2))
    x = jnp.where(use[:, None], x_new, x)
    return x, jnp.where(use, norm_new, norm), diverged | blown, norm_new, use


class RunResult(NamedTuple):
    """Outputs of :func:`run_paths`: saved statistics (n_saves + 1, ...), the one-step ratio sums
    that enter the growth rate (window, or every step as fallback), and whether any path
    diverged. The growth rate itself is computed on the host by ``growth_rate_numpy``."""

    saves: SaveInfo
    ratios: RatioAccumulator
    any_diverged: jnp.ndarray


def run_paths(
    model,
    x0,
    learning_rate,
    keys,
    *,
    steps: int,
    save_every: int,
    schedule,
    divergence_bound,
    ratio_start: int,
) -> RunResult:
    """Run the paths with keys ``keys`` (P,) from ``x0`` (P, d) for ``steps`` steps.

    ``learning_rate`` is a traced scalar (vmapping over it runs a learning-rate grid in one
    program). Ratios R_k enter the growth rate for k >= ``ratio_start``.
    """
    dtype = x0.dtype
    learning_rate = jnp.asarray(learning_rate, dtype)
    n_blocks = -(-steps // save_every)
    step_fn = jax.vmap(model.step, in_axes=(0, 0, None, None))

    def one_step(state: PathState, k):
        norm_old = state.norm_sq
        x, norm_sq, diverged, norm_new, use = advance_paths(
            step_fn,
            state.x,
            norm_old,
            state.diverged,
            keys,
            k,
            learning_rate,
            schedule=schedule,
            divergence_bound=divergence_bound,
            active=k < steps,
        )
        in_window = k >= ratio_start
        numerator = jnp.sum(jnp.where(use, norm_new, 0.0))
        denominator = jnp.sum(jnp.where(use, norm_old, 0.0))
        ratios = state.ratios.add(numerator, denominator, in_window & (k < steps))
        ratios_all = state.ratios_all.add(numerator, denominator, k < steps)
        return PathState(x, diverged, norm_sq, ratios, ratios_all), None

    def block(state, b):
        ks = b * save_every + jnp.arange(save_every)
        state, _ = jax.lax.scan(one_step, state, ks)
        return state, save_info(model.problem, state)

    norm0 = jnp.sum(x0 * x0, axis=-1)
    init = PathState(
        x0,
        ~jnp.isfinite(norm0),
        norm0,
        RatioAccumulator.zeros(dtype),
        RatioAccumulator.zeros(dtype),
    )
    first = save_info(model.problem, init)
    state, saves = jax.lax.scan(block, init, jnp.arange(n_blocks))
    saves = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, saves)
    window = state.ratios.count > 0
    ratios = jax.tree_util.tree_map(lambda w, a: jnp.where(window, w, a), state.ratios, state.ratios_all)
    return RunResult(saves, ratios, jnp.any(state.diverged))


def save_steps(steps: int, save_every: int):
    """Step indices of the saved statistics: 0, save_every, 2·save_every, …, steps."""
    n_blocks = -(-steps // save_every)
    return [min(b * save_every, steps) for b in range(n_blocks + 1)]
