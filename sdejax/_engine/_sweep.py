"""``stability_sweep``: the whole learning-rate grid as one compiled batch, per model."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from .._models import make_model
from . import _config as cfg
from ._kernel import path_keys, run_paths
from ._metadata import provenance
from ._simulate import _as_key


@eqx.filter_jit
def _sweep_compiled(model, x0, learning_rates, keys, divergence_bound, *, steps, schedule, ratio_start):
    def one(eta):
        return run_paths(
            model, x0, eta, keys, steps=steps, save_every=steps, schedule=schedule,
            divergence_bound=divergence_bound, ratio_start=ratio_start,
        )

    return jax.vmap(one)(learning_rates)


def stability_sweep(
    algorithm,
    problem,
    noise,
    *,
    x0,
    learning_rates,
    steps: int,
    n_paths: int,
    key,
    models=("discrete",),
    schedule=None,
    sde_substeps: int = 10,
    divergence_bound: float | None = None,
    burn_in: float = 0.25,
    progress: bool | None = None,
    sampling: str = "auto",
    model_options: dict | None = None,
) -> xr.Dataset:
    """Mean-square stability of each model over a grid of learning rates.

    All learning rates run as one compiled, vmapped batch (they are arrays, never Python
    floats in the trace); every learning rate and every model uses the same path keys (common
    random numbers), which makes the growth-rate curve smooth in η.

    The mean-square growth rate per unit time is log(mean_k R_k)/η with
    R_k = Σ_p ‖x_{k+1,p}‖² / Σ_p ‖x_{k,p}‖² (model.md §7) over steps k >= burn_in·steps; it is
    exactly (1/η) log ρ(η) in expectation on isotropic quadratics, and comparable between the
    discrete model and the SDE models (whose "step" is SDE time η).

    **Returns:** an ``xarray.Dataset`` with dims (``model``, ``learning_rate``) and variables
    ``ms_growth_rate``, ``ms_growth_rate_se``, ``ms_ratio_mean``, ``ms_ratio_se``,
    ``diverged_fraction``, ``final_loss_mean``, ``final_loss_se``. Use :func:`sdejax.threshold`
    for the learning rate where the growth rate crosses zero.
    """
    owner = "stability_sweep"
    cfg.check_components(algorithm, problem, noise, owner)
    cfg.check_counts(owner, steps=steps, n_paths=n_paths)
    etas = cfg.check_learning_rates(learning_rates, owner)
    burn_in = cfg.check_fraction("burn_in", burn_in, owner)
    if isinstance(models, str):
        models = (models,)
    models = tuple(models)
    if not models:
        raise ValueError(f"{owner}: `models` must name at least one model.")
    x = cfg.check_x0(x0, problem, n_paths, owner)
    bound = cfg.divergence_bound_for(x, divergence_bound, owner)
    keys = path_keys(_as_key(key, owner), n_paths)
    built = {
        name: make_model(name, algorithm, problem, noise, **cfg.model_options(name, sde_substeps, sampling, model_options, owner))
        for name in models
    }
    names = ("ms_growth_rate", "ms_growth_rate_se", "ms_ratio_mean", "ms_ratio_se",
             "diverged_fraction", "final_loss_mean", "final_loss_se")
    columns = {name: [] for name in names}
    bar = tqdm(models, desc="stability_sweep", disable=_quiet(progress), unit="model")
    for name in bar:
        result = _sweep_compiled(
            built[name], x, jnp.asarray(etas, x.dtype), keys, jnp.asarray(bound, x.dtype),
            steps=steps, schedule=schedule, ratio_start=int(burn_in * steps),
        )
        result = jax.device_get(result)
        values = {
            "ms_growth_rate": result.ms_growth_rate,
            "ms_growth_rate_se": result.ms_growth_rate_se,
            "ms_ratio_mean": result.ms_ratio_mean,
            "ms_ratio_se": result.ms_ratio_se,
            "diverged_fraction": result.saves.diverged_fraction[:, -1],
            "final_loss_mean": result.saves.loss_mean[:, -1],
            "final_loss_se": result.saves.loss_se[:, -1],
        }
        for column, value in values.items():
            columns[column].append(np.asarray(value))
    data = {name: (("model", "learning_rate"), np.stack(col)) for name, col in columns.items()}
    attrs = provenance(
        algorithm=algorithm, problem=problem, noise=noise, steps=steps, n_paths=n_paths,
        schedule=schedule, divergence_bound=bound, burn_in=burn_in,
        sampling=getattr(built.get("discrete"), "sampling", "n/a"),
        sde_substeps=sde_substeps, dtype=str(x.dtype),
    )
    return xr.Dataset(data, coords={"model": list(models), "learning_rate": etas}, attrs=attrs)


def _quiet(progress):
    import sys

    if progress is None:
        return not sys.stderr.isatty()
    return not progress
