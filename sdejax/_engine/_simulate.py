"""``simulate``: many paths of one model at one learning rate, statistics over time.

It is a sweep of one cell with one learning rate and one block of all ``n_paths`` paths, run by
the same kernel (``_kernel.run_block``) and reduced by the same estimators
(``_estimators.TaskAccumulator``) as :func:`sdejax.stability_sweep`, with statistics saved
every ``save_every`` steps.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .._models import make_model
from .._results._assemble import describe_variables
from .._results._metadata import provenance
from .._validation import cast_floating
from . import _config as cfg
from ._estimators import TaskAccumulator
from ._kernel import (
    clone_populations,
    path_keys,
    resample_key,
    run_block,
    save_steps,
    scale_free_clones,
    separate_forcing,
)

# simulate's default clone population is never smaller than this (see default_clones).
_MIN_DEFAULT_CLONES = 512


@eqx.filter_jit
def _run(
    model,
    x0,
    learning_rate,
    keys,
    bound,
    window_start,
    resampling,
    *,
    steps,
    schedule,
    save_every,
    forcing_free,
    clones,
    scale_free,
):
    """One block of every path, the first ``clones`` of them with a clone beside them."""
    valid = jnp.ones(x0.shape[:1], bool)
    return run_block(
        model,
        x0,
        learning_rate,
        keys,
        valid,
        bound,
        window_start,
        resampling,
        steps=steps,
        schedule=schedule,
        save_every=save_every,
        forcing_free=forcing_free,
        n_clones=clones,
        scale_free=scale_free,
        populations=clone_populations(clones),
    )


def simulate(
    algorithm,
    problem,
    noise,
    *,
    x0,
    learning_rate,
    steps: int,
    n_paths: int,
    key,
    schedule=None,
    model: str = "discrete",
    save_every: int = 1,
    sde_substeps: int = 10,
    divergence_bound: float | None = None,
    burn_in: float = 0.25,
    sampling: str = "auto",
    model_options: dict | None = None,
    clones: bool | int = True,
) -> xr.Dataset:
    """Simulate ``n_paths`` independent paths of ``model`` and return statistics over time.

    The model is ``"discrete"`` (the algorithm itself) or an SDE model (``"sme1"``, ``"sme2"``,
    ``"corrected"``), all derived from the same ``algorithm``, ``problem`` and ``noise``.
    Paths are vmapped, steps scanned, and statistics reduced on the fly: memory is
    O(n_paths × state) whatever ``steps`` is.

    **Arguments:**
    - `algorithm`, `problem`, `noise`: sdejax values (e.g. ``DCSGD(RandK(2), 8)``,
      ``Quadratic(jnp.ones(10))``, ``AffineGaussianNoise(0.0, 0.1)``).
    - `x0`: start, shape (d,) for every path or (n_paths, d); finite. Computation runs in the
      floating dtype of x0 (the components' parameters are cast to it).
    - `learning_rate`: the base rate η > 0 (a traced value: a new η does not recompile).
    - `steps`: number of iterations k (SDE time kη).
    - `n_paths`: number of independent paths; path p uses ``fold_in(key, p)``.
    - `key`: a ``jax.random`` key.
    - `schedule`: optional dimensionless schedule k ↦ η_k >= 0 (any optax schedule); the step
      is η·η_k.
    - `save_every`: statistics are saved at steps 0, save_every, …, steps.
    - `sde_substeps`: SDE models integrate with dt = η / sde_substeps.
    - `divergence_bound`: a path is diverged (frozen, excluded from means) once ‖x − x*‖
      exceeds it or is non-finite; default 1e6 · max(1, max ‖x0‖), capped at √(largest
      float)/2 so that squared norms stay finite. A start at or beyond the bound is an error.
    - `burn_in`: fraction of the steps skipped before growth rates are measured.
    - `sampling`: discrete model only: ``"per_worker"``, ``"aggregate"`` (exact O(d) sampler of
      the workers' average) or ``"auto"``; the resolved choice is the ``sampling`` attribute.
    - `model_options`: extra keyword arguments for the model class.
    - `clones`: the size C of the clone population of the mean-square estimator, which moves
      beside the first C paths with their random variates. True (the default):
      C = min(n_paths, max(512, n_paths // 8)); an int: that many,
      1 <= C <= n_paths (n_paths gives the smallest standard error, as in
      :func:`sdejax.stability_sweep`); False: none, and ``ms_growth_rate``,
      ``ms_growth_rate_se``, ``ms_ratio_mean`` and ``ms_ratio_se`` are NaN (+inf where a path
      diverged), with a ``note`` attribute saying why. A clone costs about what the
      state-dependent work of a path costs (not its random variates, which it shares). The
      paths' statistics are the same whatever C is, up to floating-point rounding; C is the
      ``clones`` attribute.

    **Returns:** an ``xarray.Dataset`` over coordinate ``time`` (t = kη; ``step`` holds k) with
    ``loss_mean``, ``loss_se``, ``grad_norm_sq_mean``, ``grad_norm_sq_se``,
    ``x_norm_sq_mean``, ``x_norm_sq_se`` (‖x − x*‖², x* the problem's minimizer),
    ``diverged_fraction``, ``loss_q10``, ``loss_median``, ``loss_q90`` (quantiles over all
    paths, a diverged path counting as +inf), and the scalars ``ms_growth_rate``,
    ``ms_growth_rate_se``, ``ms_ratio_mean``, ``ms_ratio_se``, ``as_growth_rate``,
    ``as_growth_rate_se`` (``docs/theory.md`` §7; the C clones form
    min(4, max(1, C // 1000)) populations of the mean-square estimator), with CF
    ``long_name`` and ``units``. When every path has
    diverged the means are +inf, never NaN.

    ```python
    ds = sdejax.simulate(sdejax.DCSGD(sdejax.RandK(2), 8), sdejax.Quadratic(jnp.ones(10)),
                         sdejax.AffineGaussianNoise(0.0, 0.1), x0=jnp.ones(10),
                         learning_rate=0.5, steps=200, n_paths=1000, key=jax.random.key(0))
    ds.loss_mean.plot()
    ```
    """
    owner = "simulate"
    cfg.check_components(algorithm, problem, noise, owner)
    cfg.check_counts(owner, steps=steps, n_paths=n_paths, save_every=save_every)
    eta = cfg.check_learning_rate(learning_rate, owner)
    burn_in = cfg.check_fraction("burn_in", burn_in, owner)
    cfg.check_schedule(schedule, steps, owner)
    x = cfg.check_x0(x0, problem, n_paths, owner)
    dtype = x.dtype
    bound = cfg.divergence_bound_for(x, divergence_bound, owner)
    options = cfg.model_options(model, sde_substeps, sampling, model_options, owner)
    the_model = cast_floating(make_model(model, algorithm, problem, noise, **options), dtype)
    key = as_key(key, owner)
    window_start = int(burn_in * steps)
    n_clones = clone_count(clones, n_paths, owner)
    stats, saves = _run(
        the_model,
        x,
        jnp.asarray(eta, dtype),
        path_keys(key, n_paths),
        jnp.asarray(bound, dtype),
        jnp.asarray(window_start, jnp.int32),
        resample_key(key, 0),
        steps=steps,
        schedule=schedule,
        save_every=save_every,
        forcing_free=n_clones > 0 and separate_forcing(the_model),
        clones=n_clones,
        scale_free=n_clones > 0 and scale_free_clones(the_model),
    )
    accumulator = TaskAccumulator(1, window_start, dtype)
    accumulator.add(jax.tree_util.tree_map(lambda a: np.asarray(a)[None, None], stats))
    final = accumulator.finalize(np.asarray([eta]), n_paths)
    steps_saved = np.asarray(save_steps(steps, save_every))
    coords = {"time": steps_saved * eta, "step": ("time", steps_saved)}
    data = {name: ("time", np.asarray(value)) for name, value in saves._asdict().items()}
    for name in (
        "ms_growth_rate",
        "ms_growth_rate_se",
        "ms_ratio_mean",
        "ms_ratio_se",
        "as_growth_rate",
        "as_growth_rate_se",
    ):
        data[name] = ((), final[name][0])
    attrs = provenance(
        algorithm=algorithm,
        problem=problem,
        noise=noise,
        model=model,
        learning_rate=eta,
        steps=steps,
        n_paths=n_paths,
        save_every=save_every,
        schedule=schedule,
        divergence_bound=bound,
        burn_in=burn_in,
        clones=n_clones,
        dtype=str(dtype),
        **{**options, "sampling": getattr(the_model, "sampling", "n/a")},
    )
    ds = describe_variables(xr.Dataset(data, coords=coords, attrs=attrs))
    if not n_clones:
        for name in ("ms_growth_rate", "ms_growth_rate_se", "ms_ratio_mean", "ms_ratio_se"):
            ds[name].attrs["note"] = "not estimated: simulate(..., clones=False) runs no clone population"
    return ds


def default_clones(n_paths: int) -> int:
    """The clone population ``simulate`` runs by default: min(n_paths, max(512, n_paths // 8)).

    The clones cost about one path's state-dependent work each, so at most an eighth of the
    paths (and never fewer than 512, where the estimator's O(1/C) resampling bias is still far
    below its standard error) keeps them to a small share of a large run.
    """
    return min(int(n_paths), max(_MIN_DEFAULT_CLONES, int(n_paths) // 8))


def clone_count(clones, n_paths: int, owner: str) -> int:
    """Resolve ``simulate``'s ``clones`` (True, False or a count) to a number of clones."""
    if isinstance(clones, (bool, np.bool_)):
        return default_clones(n_paths) if clones else 0
    if isinstance(clones, (int, np.integer)):
        if 1 <= clones <= n_paths:
            return int(clones)
        raise ValueError(
            f"{owner}: `clones` must be True, False or a count in [1, n_paths = {n_paths}], got {clones}."
        )
    raise TypeError(f"{owner}: `clones` must be True, False or a count of clones (an int), got {clones!r}.")


def as_key(key, owner):
    """Accept a typed key (``jax.random.key``) or a legacy uint32 key (``PRNGKey``)."""
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if key.shape == ():
            return key
    elif dtype == jnp.uint32 and getattr(key, "shape", None) == (2,):
        return key
    raise TypeError(f"{owner}: `key` must be a single jax.random key (jax.random.key(seed)), got {key!r}.")
