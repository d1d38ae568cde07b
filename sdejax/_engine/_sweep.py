"""``stability_sweep``: stability maps over learning rate × any grid of component parameters.

Work is organised in four levels (see ``docs/scale.md``):

* **group**: the grid cells of one model that share a static signature (``_grid.py``); one
  compiled program each;
* **task**: one (model, cell, learning rate);
* **unit**: ``eta_block`` tasks of one (model, cell) with consecutive learning rates. They
  share their path keys (common random numbers), so one program runs them together: the model
  is vmapped over the unit's learning rates with the keys unbatched, and every random variate
  is drawn once per (path, step) for all of them;
* **item**: one block of ``path_block`` paths of one unit, the unit a device runs
  (``_blocks.py``); items are sharded over devices and processes (``_sharding.py``);
* **chunk**: a run of items that fits ``memory_budget``, the unit of progress and of
  persistence (``_persist.py``).

Items are reduced in a fixed order, so the numbers never depend on chunks, devices or
processes.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import equinox as eqx
import jax
import jax.random as jr
import numpy as np
import xarray as xr
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

from .. import theory
from . import _config as cfg
from ._blocks import BlockStats, block_inputs, finalize, fold_blocks, run_block
from ._grid import resolve_grid, stack_params
from .._results._metadata import describe, provenance
from .._results._persist import load_matching, write_atomic
from ._sharding import (
    AXIS,
    broadcast_from_first,
    make_mesh,
    n_shards,
    put_replicated,
    put_sharded,
    to_host,
)
from ._simulate import _as_key

VARIABLES = (
    "ms_growth_rate",
    "ms_growth_rate_se",
    "ms_ratio_mean",
    "ms_ratio_se",
    "diverged_fraction",
    "final_loss_mean",
    "final_loss_se",
)

# Default per-device memory budget: 512 MiB, small enough for a laptop next to other programs
# and large enough that chunk dispatch overhead is negligible.
DEFAULT_MEMORY_BUDGET = 512 * 2**20
DEFAULT_PATH_BLOCK = 64
# Automatic eta_block: as many learning rates per item as keep one item's working set near
# this size (a fixed number, not the memory budget, so that the budget never changes a bit).
_ITEM_TARGET_BYTES = 32 * 2**20
_MAX_ETA_BLOCK = 64

# Number of times the chunk program has been traced (= compiled), for tests and diagnostics.
TRACE_COUNT = {"value": 0}


class _Program(NamedTuple):
    """Static configuration of the compiled chunk program (hashable)."""

    steps: int
    ratio_start: int
    block: int
    n_paths: int
    schedule: object
    key_impl: object
    mesh: object


@partial(jax.jit, static_argnums=(0, 1))
def _run_items(static, program: _Program, params, learning_rates, offsets, cells, bounds, x0_table, key_data):
    TRACE_COUNT["value"] += 1

    def local(params, learning_rates, offsets, cells, bounds, x0_table, key_data):
        key = jr.wrap_key_data(key_data, impl=program.key_impl)

        def one(item):
            p, learning_rates, offset, cell, bound = item
            model = eqx.combine(p, static)
            keys, x0, valid = block_inputs(key, offset, program.block, program.n_paths, x0_table, cell)

            def for_rate(learning_rate):
                return run_block(
                    model,
                    x0,
                    learning_rate,
                    keys,
                    valid,
                    bound,
                    steps=program.steps,
                    ratio_start=program.ratio_start,
                    schedule=program.schedule,
                )

            # The unit's learning rates share the path keys: vmapped with the keys unbatched,
            # the random variates are drawn once per (path, step) and only the arithmetic that
            # depends on η is batched.
            return jax.vmap(for_rate)(learning_rates)

        # One item at a time (a loop, not a vmap over items): every item then runs the very
        # same compiled body with the same shapes, whatever the chunk size or the device. A
        # vmap over items lets XLA vectorize across items, and vectorized and scalar code may
        # round transcendental functions differently, which would tie the last bits of a
        # result to its position in the chunk. Paths inside the item are still vmapped.
        return jax.lax.map(one, (params, learning_rates, offsets, cells, bounds))

    sharded = (P(AXIS),) * 5
    return jax.shard_map(
        local, mesh=program.mesh, in_specs=sharded + (P(), P()), out_specs=P(AXIS), check_vma=False
    )(params, learning_rates, offsets, cells, bounds, x0_table, key_data)


class _Chunk(NamedTuple):
    group: int
    units: np.ndarray  # unit indices (rows of the unit -> task table)
    first_block: int  # > 0 or a partial block range only when one unit spans several chunks
    n_blocks: int
    last: bool  # whether the chunk finishes its units


def _item_bytes(block, d, n_workers, window, itemsize) -> int:
    """Heuristic device memory of one item: the path states and the step's temporaries.

    Per path and step the models hold a few (n_workers, d) arrays (noise, compressor masks,
    compressed gradients) and a few (d,) vectors; ×2 for XLA temporaries and double buffering.
    Plus the per-step ratio sums kept for every step.
    """
    per_path = itemsize * (d * (4 * n_workers + 16) + 16)
    return 2 * (block * per_path + 2 * window * itemsize)


def _plan(groups_units, n_blocks, items_cap, shards):
    """Chunks in a fixed order: group by group, units in order, blocks in order."""
    chunks, sizes = [], []
    for g, units in enumerate(groups_units):
        if n_blocks <= items_cap:
            per_chunk = max(1, min(len(units), items_cap // n_blocks))
            sizes.append(_round_up(per_chunk * n_blocks, shards))
            for start in range(0, len(units), per_chunk):
                chunks.append(_Chunk(g, units[start : start + per_chunk], 0, n_blocks, True))
        else:
            per_chunk = max(shards, items_cap - items_cap % shards)
            sizes.append(per_chunk)
            for i in range(len(units)):
                for start in range(0, n_blocks, per_chunk):
                    count = min(per_chunk, n_blocks - start)
                    chunks.append(_Chunk(g, units[i : i + 1], start, count, start + count == n_blocks))
    return chunks, sizes


def _eta_block(eta_block, n_etas: int, item_bytes_per_eta: int, owner: str) -> int:
    """Learning rates per unit: given, or automatic (fits _ITEM_TARGET_BYTES, balanced).

    Depends only on the configuration (never on the memory budget or the devices).
    """
    if eta_block is not None:
        cfg.check_counts(owner, eta_block=eta_block)
        return min(int(eta_block), n_etas)
    fit = max(1, min(_MAX_ETA_BLOCK, _ITEM_TARGET_BYTES // max(item_bytes_per_eta, 1)))
    n_units = -(-n_etas // fit)
    return -(-n_etas // n_units)


def _round_up(value, multiple):
    return -(-value // multiple) * multiple


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
    grid=None,
    schedule=None,
    sde_substeps: int = 10,
    divergence_bound: float | None = None,
    burn_in: float = 0.25,
    memory_budget: int | None = None,
    path_block: int = DEFAULT_PATH_BLOCK,
    eta_block: int | None = None,
    devices=None,
    out=None,
    progress: bool | None = None,
    callback: Callable | None = None,
    sampling: str = "auto",
    model_options: dict | None = None,
) -> xr.Dataset:
    """Mean-square stability of each model over learning rate × an optional parameter grid.

    For every model, grid cell and learning rate, ``n_paths`` paths run for ``steps`` steps and
    are reduced on the fly. The mean-square growth rate per unit time is log(mean_k R_k)/η with
    R_k = Σ_p ‖x_{k+1,p}‖² / Σ_p ‖x_{k,p}‖² (model.md §7) over steps k >= burn_in·steps; it is
    exactly (1/η) log ρ(η) in expectation on isotropic quadratics, and comparable between the
    discrete model and the SDE models (whose "step" is SDE time η). Every learning rate, cell
    and model uses the same path keys (common random numbers): path p's key is
    ``fold_in(key, p)``. Each cell's numbers are therefore exact Monte Carlo estimates, and
    neighbouring learning rates are positively correlated, which makes the map's threshold
    crossing smoother than independent draws would. The learning rates of a cell run together
    (``eta_block`` at a time), drawing each random variate once for all of them.

    **Arguments** (beyond those of :func:`sdejax.simulate`):

    - `learning_rates`: strictly increasing 1-D array of η > 0.
    - `models`: names from ``sdejax.MODELS`` (``"discrete"``, and the SDE models).
    - `grid`: mapping from a parameter path to a 1-D array (or list) of values; each entry
      becomes a dimension of the result, **named by the path itself** (e.g. ``"compressor.p"``).
      Paths: ``"compressor.<arg>"``, ``"noise.<arg>"``, ``"problem.<arg>"``,
      ``"algorithm.<arg>"`` and ``"n_workers"``, where ``<arg>`` is a constructor argument of
      that component; an unknown path raises an error that lists the allowed ones. Each cell is
      built by the components' constructors, so bad values raise their own errors. Array
      parameters (e.g. ``compressor.p``, ``noise.sigma1``, ``noise.scale``) are vmapped in one
      program; parameters that change static fields or shapes (``compressor.k``,
      ``n_workers``, a problem's dimension, and ``noise.df`` of ``StudentTNoise``, whose exact
      sampler differs for each integer ν <= 32 while all fractional ν share one) compile once
      per distinct value. Entries whose values are arrays (e.g. eigenvalue vectors) get an
      integer index coordinate.
    - `x0`: shape (d,) or (n_paths, d), or a callable ``problem -> array`` when the grid changes d.
    - `memory_budget`: bytes of device memory per device for one chunk (default 512 MiB). Work is
      cut into chunks of whole tasks (or, when one task's paths do not fit, of path blocks).
      The result does not depend on it: bitwise the same for any budget.
    - `path_block`: paths per block (default 64, or ``n_paths`` if smaller). Blocks are the unit
      of the fixed-order reduction: changing it changes the last bits (it is part of the
      configuration), chunking does not.
    - `eta_block`: learning rates run together in one vmapped program, sharing their random
      variates (default: automatic, up to 64, fewer when the model's per-path state is large;
      a function of the configuration only). Like `path_block` it is part of the
      configuration (it may change the last bits); the memory budget and devices never do.
    - `devices`: devices (or a 1-D ``Mesh``) to shard the work over; default every device of
      every process (``jax.devices()``). Results equal the single-device ones bitwise. With
      several processes (``jax.distributed.initialize``) every process makes the same call and
      gets the full result; only process 0 writes ``out`` and shows progress.
    - `out`: a netCDF path. The Dataset so far is written after every chunk, atomically
      (``out + ".tmp"`` then rename). Calling again with the same arguments resumes from the
      finished chunks (an interrupted run loses at most the chunk in flight); a file written
      with a different configuration raises an error.
    - `progress`: a tqdm bar over chunks with path-steps per second; default on only when
      stderr is a terminal. ``False`` silences it.
    - `callback`: called as ``callback(done, total)`` after each finished (and written) chunk.

    **Returns:** an ``xarray.Dataset`` with dims (``model``, ``learning_rate``, *grid paths*)
    and variables ``ms_growth_rate``, ``ms_growth_rate_se``, ``ms_ratio_mean``,
    ``ms_ratio_se``, ``diverged_fraction``, ``final_loss_mean``, ``final_loss_se``; and
    ``theory_threshold`` over (``model``, *grid paths*): the closed-form H1/H2 mean-square
    threshold (``sdejax.theory.ms_threshold``; ``inf`` where the model predicts none, NaN where
    model.md gives no closed form). Attributes: the resolved configuration, package version and
    git revision. Use :func:`sdejax.threshold` for the empirical threshold and
    :func:`sdejax.plot_stability_map` to draw it.

    ```python
    ds = sdejax.stability_sweep(
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 8), sdejax.Quadratic(jnp.ones(10)),
        sdejax.AffineGaussianNoise(0.0, 0.1), x0=jnp.ones(10),
        learning_rates=np.geomspace(0.1, 3, 64), steps=500, n_paths=256,
        key=jax.random.key(0), grid={"compressor.p": np.linspace(0.1, 1, 16)},
        out="map.nc")
    sdejax.plot_stability_map(ds, path="map.png")
    ```
    """
    owner = "stability_sweep"
    cfg.check_components(algorithm, problem, noise, owner)
    cfg.check_counts(owner, steps=steps, n_paths=n_paths, path_block=path_block)
    etas = cfg.check_learning_rates(learning_rates, owner)
    burn_in = cfg.check_fraction("burn_in", burn_in, owner)
    if isinstance(models, str):
        models = (models,)
    models = tuple(models)
    if not models:
        raise ValueError(f"{owner}: `models` must name at least one model.")
    if len(set(models)) != len(models):
        raise ValueError(f"{owner}: `models` repeats a name: {models}.")
    if memory_budget is None:
        memory_budget = DEFAULT_MEMORY_BUDGET
    cfg.check_counts(owner, memory_budget=memory_budget)
    key = _as_key(key, owner)

    def options(name):
        return cfg.model_options(name, sde_substeps, sampling, model_options, owner)

    resolved = resolve_grid(
        grid,
        algorithm,
        problem,
        noise,
        models,
        options,
        lambda *cell: cfg.check_components(*cell, owner),
    )
    starts, bounds = [], []
    for _, cell_problem, _ in resolved.cells:
        start = x0(cell_problem) if callable(x0) else x0
        x = cfg.check_x0(start, cell_problem, n_paths, owner)
        bounds.append(cfg.divergence_bound_for(x, divergence_bound, owner))
        starts.append(x[:1] if np.ndim(start) == 1 else x)
    dtype = starts[0].dtype
    itemsize = np.dtype(dtype).itemsize
    block = min(path_block, n_paths)
    n_blocks = -(-n_paths // block)
    ratio_start = int(burn_in * steps)
    window = steps  # per-step ratio sums are kept for every step
    mesh = make_mesh(devices)
    shards = n_shards(mesh)
    n_models, n_etas, n_cells = len(models), len(etas), resolved.n_cells

    # Task t = (model m, learning rate r, cell c), flattened row-major.
    def task_index(m, cell, r):
        return (m * n_etas + r) * n_cells + cell

    max_d = max(s.shape[-1] for s in starts)
    max_workers = max(alg.n_workers for alg, _, _ in resolved.cells)
    bytes_per_eta = _item_bytes(block, max_d, max_workers, window, itemsize)
    eta_per_item = _eta_block(eta_block, n_etas, bytes_per_eta, owner)
    n_eta_units = -(-n_etas // eta_per_item)
    item_bytes = eta_per_item * bytes_per_eta
    cap = max(1, memory_budget // item_bytes) * shards
    # Unit u = (model, cell, η block); its tasks are rows of unit_tasks, -1 past the last η.
    unit_tasks, unit_rates, groups_units = [], [], []
    for group in resolved.groups:
        units = []
        for cell in group.cells:
            for e in range(n_eta_units):
                r = e * eta_per_item + np.arange(eta_per_item)
                valid = r < n_etas
                unit_tasks.append(np.where(valid, task_index(models.index(group.model), cell, r), -1))
                unit_rates.append(etas[np.minimum(r, n_etas - 1)])
                units.append(len(unit_tasks) - 1)
        groups_units.append(np.asarray(units))
    unit_tasks = np.asarray(unit_tasks)
    unit_rates = np.asarray(unit_rates, dtype)
    chunks, sizes = _plan(groups_units, n_blocks, cap, shards)

    # ------------------------------------------------------------------ output skeleton
    coords = {"model": list(models), "learning_rate": etas, **resolved.coordinates}
    dims = ("model", "learning_rate", *resolved.dims)
    shape = (n_models, n_etas, *resolved.shape)
    theory_values = np.full((n_models, n_cells), np.nan)
    for m, name in enumerate(models):
        for c, cell in enumerate(resolved.cells):
            try:
                theory_values[m, c] = theory.ms_threshold(name, *cell)
            except (ValueError, TypeError, ZeroDivisionError):
                pass
    attrs = provenance(
        algorithm=algorithm,
        problem=problem,
        noise=noise,
        steps=steps,
        n_paths=n_paths,
        models=",".join(models),
        grid=_describe_grid(grid),
        schedule=schedule,
        divergence_bound=bounds[0] if len(set(bounds)) == 1 else json.dumps(bounds),
        burn_in=burn_in,
        path_block=block,
        eta_block=eta_per_item,
        key=str(np.asarray(jr.key_data(key)).tolist()),
        key_impl=str(jr.key_impl(key)),
        x0=_describe_x0(x0),
        sampling=",".join(
            sorted(
                {str(getattr(g.static, "sampling", "n/a")) for g in resolved.groups if g.model == "discrete"}
            )
        )
        or "n/a",
        sde_substeps=sde_substeps,
        model_options=describe(model_options) if model_options else "None",
        dtype=str(dtype),
    )
    values = np.full((len(VARIABLES), n_models * n_etas * n_cells), np.nan, dtype)
    completed = np.zeros(n_models * n_etas * n_cells, np.int8)

    def dataset(include_completed):
        data = {name: (dims, values[i].reshape(shape)) for i, name in enumerate(VARIABLES)}
        data["theory_threshold"] = (
            ("model", *resolved.dims),
            theory_values.reshape((n_models, *resolved.shape)),
        )
        if include_completed:
            data["completed"] = (dims, completed.reshape(shape))
        ds = xr.Dataset(data, coords=coords, attrs=dict(attrs))
        ds["theory_threshold"].attrs["description"] = (
            "closed-form mean-square threshold (model.md §7 H1/H2); inf: none predicted; "
            "NaN: no closed form for this setting"
        )
        return ds

    writer = out is not None and jax.process_index() == 0
    if out is not None:
        stored = None
        if jax.process_index() == 0:
            stored = load_matching(out, dataset(True))
        if stored is not None:
            for i, name in enumerate(VARIABLES):
                values[i] = np.asarray(stored[name].values, dtype).reshape(-1)
            completed[:] = np.asarray(stored["completed"].values).reshape(-1)
        values[:] = broadcast_from_first(values)
        completed[:] = broadcast_from_first(completed)

    def tasks_of(units):
        tasks = unit_tasks[units].reshape(-1)
        return tasks[tasks >= 0]

    # A unit split over several chunks is marked completed only by its last chunk, so an
    # interrupted split unit reruns from its first block.
    todo = [chunk for chunk in chunks if not np.all(completed[tasks_of(chunk.units)] == 1)]
    bar = tqdm(
        total=len(chunks),
        initial=len(chunks) - len(todo),
        desc=owner,
        unit="chunk",
        disable=_quiet(progress) or jax.process_index() != 0,
    )

    key_data = put_replicated(mesh, np.asarray(jr.key_data(key)))
    tables = {}
    carry: BlockStats | None = None
    for chunk in todo:
        tick = time.perf_counter()
        group = resolved.groups[chunk.group]
        if chunk.group not in tables:
            tables[chunk.group] = _group_inputs(group, starts, bounds, n_blocks * block, dtype, mesh)
        stacked, x0_table, cell_bounds, cell_rows = tables[chunk.group]
        # Items: unit-major, block-minor; padded with copies of the first item up to size.
        n_units = len(chunk.units)
        first_tasks = unit_tasks[chunk.units, 0]
        row = np.asarray([cell_rows[t % n_cells] for t in first_tasks])
        item_row = np.repeat(row, chunk.n_blocks)
        item_lr = np.repeat(unit_rates[chunk.units], chunk.n_blocks, axis=0)
        item_offset = np.tile(block * (chunk.first_block + np.arange(chunk.n_blocks)), n_units)
        n_items = len(item_row)
        pad = sizes[chunk.group] - n_items
        item_row, item_lr, item_offset = (
            np.concatenate([a, np.repeat(a[:1], pad, axis=0)]) for a in (item_row, item_lr, item_offset)
        )
        inputs = put_sharded(
            mesh,
            (
                jax.tree_util.tree_map(lambda leaf, rows=item_row: leaf[rows], stacked),
                item_lr,
                item_offset.astype(np.int32),
                item_row.astype(np.int32),
                cell_bounds[item_row],
            ),
        )
        result = _run_items(
            group.static,
            _Program(steps, ratio_start, block, n_paths, schedule, jr.key_impl(key), mesh),
            *inputs,
            x0_table,
            key_data,
        )
        result = to_host(result)
        # (items, η, ...) -> (units · η, blocks, ...): one row per task slot, blocks in order.
        stats = BlockStats(
            *(
                np.swapaxes(
                    np.asarray(leaf)[:n_items].reshape(n_units, chunk.n_blocks, *np.shape(leaf)[1:]), 1, 2
                ).reshape(n_units * eta_per_item, chunk.n_blocks, *np.shape(leaf)[2:])
                for leaf in result
            )
        )
        carry = fold_blocks(stats, carry if chunk.first_block > 0 else None)
        if chunk.last:
            slots = unit_tasks[chunk.units].reshape(-1)
            real = slots >= 0  # padded η slots are dropped
            final = finalize(carry, unit_rates[chunk.units].reshape(-1), n_paths, ratio_start)
            for i, name in enumerate(VARIABLES):
                values[i, slots[real]] = final[name][real]
            completed[slots[real]] = 1
            carry = None
            if writer:
                write_atomic(dataset(True), out)
        elapsed = time.perf_counter() - tick
        bar.update(1)
        starts_in_chunk = block * (chunk.first_block + np.arange(chunk.n_blocks))
        real_paths = len(tasks_of(chunk.units)) * int(np.sum(np.clip(n_paths - starts_in_chunk, 0, block)))
        bar.set_postfix_str(f"{real_paths * steps / max(elapsed, 1e-9):.3g} path-steps/s")
        if callback is not None:
            callback(bar.n, len(chunks))
    bar.close()
    return dataset(False)


def _group_inputs(group, starts, bounds, rows, dtype, mesh):
    """Stacked cell parameters, start points and divergence bounds of one group.

    Start points are one row per cell when shared by all paths, else ``rows`` rows per cell
    (n_paths rounded up to whole blocks; the padding rows belong to masked paths).
    """
    stacked = stack_params(group.params, range(len(group.cells)))
    first = [np.asarray(starts[c], dtype) for c in group.cells]
    if all(s.shape[0] == 1 for s in first):
        table = np.stack(first)
    else:
        table = np.zeros((len(first), rows, first[0].shape[-1]), dtype)
        for i, s in enumerate(first):
            table[i, : s.shape[0]] = s
    cell_bounds = np.asarray([bounds[c] for c in group.cells], dtype)
    cell_rows = {c: i for i, c in enumerate(group.cells)}
    return stacked, put_replicated(mesh, table), cell_bounds, cell_rows


def _describe_grid(grid) -> str:
    if not grid:
        return "None"
    return json.dumps(
        {
            path: np.asarray(v).tolist()
            if not isinstance(v, (list, tuple))
            else [np.asarray(x).tolist() for x in v]
            for path, v in grid.items()
        }
    )


def _describe_x0(x0) -> str:
    if callable(x0):
        return f"callable {getattr(x0, '__qualname__', repr(x0))}"
    return json.dumps(np.asarray(x0).tolist())


def _quiet(progress):
    if progress is None:
        return not sys.stderr.isatty()
    return not progress
