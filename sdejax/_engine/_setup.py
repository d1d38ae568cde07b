"""A sweep's inputs, checked and resolved before anything runs: the grid's cells and compiled
groups, start points and divergence bounds, the run's dtype, the devices and the plan; and the
resolved configuration as netCDF attributes."""

from __future__ import annotations

import json
from dataclasses import dataclass

import jax.random as jr
import numpy as np

from .._results._metadata import describe, describe_grid, describe_x0, provenance
from .._spec import dumps
from . import _config as cfg
from ._grid import resolve_grid
from ._plan import (
    DEFAULT_MEMORY_BUDGET,
    Plan,
    choose_eta_block,
    choose_item_batch,
    choose_path_block,
    item_bytes,
)
from ._sharding import make_mesh, n_shards
from ._simulate import as_key


@dataclass(frozen=True)
class SweepSetup:
    """Everything a sweep resolves before running: the grid's cells and groups, start points and
    divergence bounds per cell, the run's dtype, the devices and the plan."""

    key: object
    models: tuple
    etas: np.ndarray
    grid: object
    starts: list
    bounds: list
    dtype: object
    steps: int
    n_paths: int
    burn_in: float
    window_start: int
    mesh: object
    plan: Plan
    divergence_bound: float | None  # as given (None: the default per cell)
    sampling: str


def prepare(
    *,
    owner,
    algorithm,
    problem,
    noise,
    x0,
    learning_rates,
    steps,
    n_paths,
    key,
    models,
    grid,
    schedule,
    sde_substeps,
    divergence_bound,
    burn_in,
    memory_budget,
    path_block,
    eta_block,
    item_batch,
    devices,
    out,
    sampling,
    model_options,
    **_,
) -> SweepSetup:
    """Check every input (clear errors before anything is traced) and plan the work."""
    cfg.check_components(algorithm, problem, noise, owner)
    cfg.check_counts(owner, steps=steps, n_paths=n_paths)
    etas = cfg.check_learning_rates(learning_rates, owner)
    burn_in = cfg.check_fraction("burn_in", burn_in, owner)
    cfg.check_schedule(schedule, steps, owner)
    models = _check_models(models, owner)
    memory_budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else memory_budget
    cfg.check_counts(owner, memory_budget=memory_budget)
    cfg.check_output_path(out, owner)
    key = as_key(key, owner)

    def options(name):
        return cfg.model_options(name, sde_substeps, sampling, model_options, owner)

    resolved = resolve_grid(
        grid, algorithm, problem, noise, models, options, lambda *cell: cfg.check_components(*cell, owner)
    )
    starts, bounds = [], []
    for _, cell_problem, _ in resolved.cells:
        start = x0(cell_problem) if callable(x0) else x0
        x = cfg.check_x0(start, cell_problem, n_paths, owner)
        bounds.append(cfg.divergence_bound_for(x, divergence_bound, owner))
        starts.append(x[:1] if np.ndim(start) == 1 else x)
    dtype = starts[0].dtype
    itemsize = np.dtype(dtype).itemsize
    mesh = make_mesh(devices)
    max_d = max(s.shape[-1] for s in starts)
    max_workers = max(alg.n_workers for alg, _, _ in resolved.cells)
    block = choose_path_block(path_block, n_paths, max_d, max_workers, steps, itemsize, owner)
    bytes_per_eta = item_bytes(block, max_d, max_workers, steps, itemsize)
    eta_per_item = choose_eta_block(eta_block, len(etas), bytes_per_eta, owner)
    batch = choose_item_batch(item_batch, block * eta_per_item, mesh.devices.flat[0].platform, owner)
    plan = Plan.build(
        group_cells=[g.cells for g in resolved.groups],
        group_models=[g.model for g in resolved.groups],
        models=models,
        etas=etas,
        n_cells=resolved.n_cells,
        n_paths=n_paths,
        block=block,
        eta_block=eta_per_item,
        item_batch=batch,
        memory_budget=memory_budget,
        item_size=eta_per_item * bytes_per_eta * batch,
        shards=n_shards(mesh),
        dtype=dtype,
    )
    window_start = int(burn_in * steps)
    return SweepSetup(
        key,
        models,
        etas,
        resolved,
        starts,
        bounds,
        dtype,
        steps,
        n_paths,
        burn_in,
        window_start,
        mesh,
        plan,
        divergence_bound,
        sampling,
    )


def attributes(setup, algorithm, problem, noise, grid, x0, schedule, sde_substeps, model_options, pooled):
    """The resolved configuration, version and git revision, as netCDF attributes; ``config``
    holds it as JSON that rebuilds the run (``sdejax._spec``; ``sdejax sweep --from``)."""
    groups = setup.grid.groups
    sampling = {str(getattr(g.static, "sampling", "n/a")) for g in groups if g.model == "discrete"}
    bounds = setup.bounds
    return provenance(
        algorithm=algorithm,
        problem=problem,
        noise=noise,
        steps=setup.steps,
        n_paths=setup.n_paths,
        models=",".join(setup.models),
        grid=describe_grid(grid),
        schedule=schedule,
        divergence_bound=bounds[0] if len(set(bounds)) == 1 else json.dumps(bounds),
        burn_in=setup.burn_in,
        path_block=setup.plan.block,
        eta_block=setup.plan.eta_block,
        estimator="population dynamics (mean-square), path exponents (almost-sure)",
        key=str(np.asarray(jr.key_data(setup.key)).tolist()),
        key_impl=str(jr.key_impl(setup.key)),
        x0=describe_x0(x0),
        sampling=",".join(sorted(sampling)) or "n/a",
        sde_substeps=sde_substeps,
        model_options=describe(model_options) if model_options else "None",
        pooled=int(pooled),
        dtype=str(setup.dtype),
        config=dumps(
            {
                "algorithm": algorithm,
                "problem": problem,
                "noise": noise,
                "sweep": {
                    "x0": x0,
                    "learning_rates": np.asarray(setup.etas),
                    "steps": setup.steps,
                    "n_paths": setup.n_paths,
                    "key_data": np.asarray(jr.key_data(setup.key)),
                    "key_impl": str(jr.key_impl(setup.key)),
                    "models": list(setup.models),
                    "grid": None if not grid else {path: list(values) for path, values in grid.items()},
                    "schedule": schedule,
                    "sde_substeps": sde_substeps,
                    "divergence_bound": setup.divergence_bound,
                    "burn_in": setup.burn_in,
                    "path_block": setup.plan.block,
                    "eta_block": setup.plan.eta_block,
                    "sampling": setup.sampling,
                    "model_options": model_options,
                    "pooled": bool(pooled),
                },
            }
        ),
    )


def _check_models(models, owner):
    if isinstance(models, str):
        models = (models,)
    if not isinstance(models, (list, tuple)) or not all(isinstance(m, str) for m in models):
        raise TypeError(f"{owner}: `models` must be a model name or a sequence of names, got {models!r}.")
    models = tuple(models)
    if not models:
        raise ValueError(f"{owner}: `models` must name at least one model.")
    if len(set(models)) != len(models):
        raise ValueError(f"{owner}: `models` repeats a name: {models}.")
    return models
