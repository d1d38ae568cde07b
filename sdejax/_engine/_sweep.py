"""``stability_sweep``: stability maps over learning rate × any grid of component parameters.

The work is planned once (``_plan.py``: tasks, units, blocks, items, chunks), then run chunk by
chunk: each chunk is one compiled program per group of cells sharing a static signature
(``_grid.py``), sharded over devices and processes (``_sharding.py``), whose items run the one
path kernel (``_kernel.py``). Blocks are reduced on the host in a fixed order
(``_estimators.py``), so the numbers never depend on chunks, devices or processes. Results are
assembled and persisted by ``sdejax._results``.

Longer than the 300-line guideline because it is one concept, ``stability_sweep`` with the
compiled chunk program and the host loop that runs it; about 100 of its lines are the public
docstring of ``stability_sweep``, the reference for every argument and output variable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import xarray as xr
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

from .._results._assemble import SweepResults
from .._results._overlay import theory_thresholds
from .._results._persist import load_matching, write_atomic
from .._validation import cast_floating
from ._estimators import TaskAccumulator
from ._grid import stack_params
from ._kernel import clone_populations, resample_key, run_block, scale_free_clones, separate_forcing
from ._setup import SweepSetup, attributes, prepare
from ._sharding import AXIS, broadcast_from_first, put_replicated, put_sharded, to_host

VARIABLES = (
    "ms_growth_rate",
    "ms_growth_rate_se",
    "ms_ratio_mean",
    "ms_ratio_se",
    "as_growth_rate",
    "as_growth_rate_se",
    "diverged_fraction",
    "final_loss_mean",
    "final_loss_se",
)
POOLED_VARIABLES = ("ms_pooled_growth_rate", "ms_pooled_growth_rate_se")

# Number of times the chunk program has been traced (= compiled), for tests and diagnostics.
TRACE_COUNT = {"value": 0}


class _Program(NamedTuple):
    """Static configuration of the compiled chunk program (hashable)."""

    steps: int
    block: int
    n_paths: int
    schedule: object
    key_impl: object
    mesh: object
    item_batch: int
    pooled: bool
    forcing_free: bool = False
    scale_free: bool = False


@partial(jax.jit, static_argnums=(0, 1))
def _run_items(
    static, program: _Program, params, rates, offsets, cells, bounds, x0_table, window_start, key_data
):
    TRACE_COUNT["value"] += 1

    def local(params, rates, offsets, cells, bounds, x0_table, window_start, key_data):
        key = jr.wrap_key_data(key_data, impl=program.key_impl)

        def one(item):
            p, rates, offset, cell, bound = item
            model = eqx.combine(p, static)
            index = offset + jnp.arange(program.block)
            keys = jax.vmap(jr.fold_in, in_axes=(None, 0))(key, index)
            table = x0_table[cell]
            if table.shape[0] == 1:
                x0 = jnp.broadcast_to(table, (program.block, table.shape[-1]))
            else:
                x0 = jax.lax.dynamic_slice_in_dim(table, offset, program.block, axis=0)
            resampling = resample_key(key, offset // program.block)

            def for_rate(learning_rate):
                stats, _ = run_block(
                    model,
                    x0,
                    learning_rate,
                    keys,
                    index < program.n_paths,
                    bound,
                    window_start,
                    resampling,
                    steps=program.steps,
                    schedule=program.schedule,
                    pooled=program.pooled,
                    forcing_free=program.forcing_free,
                    scale_free=program.scale_free,
                    populations=clone_populations(program.block),
                )
                return stats

            # The unit's learning rates share the path keys: vmapped with the keys unbatched,
            # the random variates are drawn once per (path, step) for all of them.
            return jax.vmap(for_rate)(rates)

        # Items in fixed-size vmapped batches (``item_batch``; 1 on a CPU): every batch runs the
        # same compiled body on the same shapes, whatever the chunk or the device.
        return jax.lax.map(one, (params, rates, offsets, cells, bounds), batch_size=program.item_batch)

    sharded = (P(AXIS),) * 5
    return jax.shard_map(
        local, mesh=program.mesh, in_specs=sharded + (P(), P(), P()), out_specs=P(AXIS), check_vma=False
    )(params, rates, offsets, cells, bounds, x0_table, window_start, key_data)


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
    path_block: int | None = None,
    eta_block: int | None = None,
    item_batch: int | None = None,
    devices=None,
    out=None,
    progress: bool | None = None,
    callback: Callable | None = None,
    sampling: str = "auto",
    model_options: dict | None = None,
    pooled: bool = False,
) -> xr.Dataset:
    """Mean-square and almost-sure stability of each model over learning rate × a parameter grid.

    For every model, grid cell and learning rate, ``n_paths`` paths run for ``steps`` steps and
    are reduced on the fly (``docs/theory.md`` §7):

    * ``ms_growth_rate``: the **mean-square** growth rate per unit time t = kη,
      lim (1/t) log E‖x_k − x*‖², estimated by population dynamics: beside the free paths,
      clones move with the same random variates, in min(4, max(1, path_block // 1000))
      independent populations per block; every 2 steps each clone's growth
      ‖x_{k+2} − x*‖²/‖x_k − x*‖² is measured, a population's growth factor W is their mean,
      and its clones are resampled in proportion to their growths (and, where the dynamics are
      scale-free, rescaled to unit distance from x*). The rate is the mean of log W over the
      intervals that start at k >= burn_in·steps, plus the log-normal correction σ̂²/2 for the
      bias of a logarithm, divided by 2η. Consistent on any problem (anisotropic, rotated,
      heterogeneous workers). The correction removes the first-order bias; what it leaves
      shrinks with the population size and was measured above the SE only on ill-conditioned
      problems (condition number 100: thresholds 0.2-0.56 % high, z up to +3.3, with populations
      of 1,000; more paths per block shrink it). The clones need a few multiples of
      1/(η λ_min) steps to forget their start. ``ms_growth_rate_se`` is the long-run standard
      error of that mean (Geyer's initial monotone sequence over the pooled autocovariances).
      Where additive noise or heterogeneous minimizers force the dynamics and the algorithm
      separates that forcing (DCSGD, DSGD), the clones follow ``model.without_forcing()``: the
      rate is then that of the unforced dynamics, the one ``sdejax.theory`` computes, negative
      below the threshold rather than 0 at the stationary level (``docs/theory.md`` §7d).
    * ``as_growth_rate``: the **almost-sure** growth rate, the top Lyapunov exponent of
      ‖x − x*‖² per unit time of typical paths: each free path's (log‖x_end − x*‖² −
      log‖x_start − x*‖²)/t from step burn_in·steps (or 0) to its last usable step (before it
      diverged or underflowed), averaged over paths; ``as_growth_rate_se`` = sd/√n.
    * ``diverged_fraction``, ``final_loss_mean``, ``final_loss_se`` over the free paths.

    The mean-square rate is the larger: E‖x‖² grows before typical paths do. Every learning
    rate, cell and model uses the same path keys (common random numbers): path p's key is
    ``fold_in(key, p)``, so neighbouring learning rates are positively correlated and the
    map's threshold crossing is smooth. The learning rates of a cell run together
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
    - `burn_in`: fraction of the steps skipped before growth is measured (not compiled in: a
      new value does not recompile).
    - `memory_budget`: bytes of device memory per device for one chunk (default 512 MiB). Work is
      cut into chunks of whole tasks (or, when one task's paths do not fit, of path blocks).
      The result does not depend on it: bitwise the same for any budget.
    - `path_block`: paths per block, whose clones are resampled within the block in
      min(4, max(1, path_block // 1000)) populations (a block is never split over devices or
      chunks). Default: all ``n_paths`` in one block, unless one
      learning rate's block would need more than 64 MiB, then the largest block that fits
      (at least 256 paths). Part of the configuration: changing it changes the numbers; the
      chosen value is the ``path_block`` attribute.
    - `eta_block`: learning rates run together in one vmapped program, sharing their random
      variates (default: automatic, up to 64, fewer when the model's per-path state is large;
      a function of the configuration only). Part of the configuration (it may change the
      last bits); the memory budget and devices never do.
    - `item_batch`: items (blocks of a unit) vmapped together on a device (default 1 on a CPU;
      about 2^17 paths' worth on an accelerator, to fill it).
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
    - `pooled`: also return the legacy pooled estimate ``ms_pooled_growth_rate`` (the one-step
      ratio Σ_p‖x_{k+1}‖²/Σ_p‖x_k‖² of the free paths), which is biased on anisotropic
      problems; for comparisons only.

    **Returns:** an ``xarray.Dataset`` with dims (``model``, ``learning_rate``, *grid paths*)
    and variables ``ms_growth_rate``, ``ms_growth_rate_se``, ``ms_ratio_mean``,
    ``ms_ratio_se`` (the per-step growth factor exp(η·rate)), ``as_growth_rate``,
    ``as_growth_rate_se``, ``diverged_fraction``, ``final_loss_mean``, ``final_loss_se``; and
    ``theory_threshold`` over (``model``, *grid paths*): the exact mean-square threshold
    (``sdejax.theory.ms_threshold``; ``inf`` where the model has none, NaN where the second
    moments do not close, with the reason in its ``note`` attribute). Every variable has CF
    ``long_name`` and ``units``. Attributes: the resolved configuration, package version and
    git revision. Use :func:`sdejax.threshold` for the measured threshold with its standard
    error and :func:`sdejax.plot_stability_map` to draw it.

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
    setup = prepare(**locals())
    results = SweepResults(
        VARIABLES + (POOLED_VARIABLES if pooled else ()),
        setup.models,
        setup.etas,
        setup.grid,
        *theory_thresholds(setup.models, setup.grid.cells),
        attributes(setup, algorithm, problem, noise, grid, x0, schedule, sde_substeps, model_options, pooled),
        setup.dtype,
    )
    if out is not None:
        stored = load_matching(out, results.dataset(True)) if jax.process_index() == 0 else None
        if stored is not None:
            results.restore(stored)
        results.values[:] = broadcast_from_first(results.values)
        results.completed[:] = broadcast_from_first(results.completed)
    _run(setup, results, schedule=schedule, pooled=pooled, out=out, progress=progress, callback=callback)
    return results.dataset(False)


def _run(setup: SweepSetup, results, *, schedule, pooled, out, progress, callback):
    """Run the plan's chunks that are not finished yet, writing ``out`` after each."""
    plan, mesh, dtype = setup.plan, setup.mesh, setup.dtype
    writer = out is not None and jax.process_index() == 0
    # A unit split over several chunks is marked completed only by its last chunk, so an
    # interrupted split unit reruns from its first block.
    todo = [chunk for chunk in plan.chunks if not results.finished(plan.tasks_of(chunk.units))]
    bar = tqdm(
        total=len(plan.chunks),
        initial=len(plan.chunks) - len(todo),
        desc="stability_sweep",
        unit="chunk",
        disable=_quiet(progress) or jax.process_index() != 0,
    )
    key_data = put_replicated(mesh, np.asarray(jr.key_data(setup.key)))
    window = put_replicated(mesh, np.asarray(setup.window_start, np.int32))
    program = _Program(
        setup.steps,
        plan.block,
        setup.n_paths,
        schedule,
        jr.key_impl(setup.key),
        mesh,
        plan.item_batch,
        pooled,
    )
    tables, programs = {}, {}
    accumulator: TaskAccumulator | None = None
    for chunk in todo:
        tick = time.perf_counter()
        group = setup.grid.groups[chunk.group]
        if chunk.group not in tables:
            rows = plan.n_blocks * plan.block
            tables[chunk.group] = _group_inputs(group, setup.starts, setup.bounds, rows, dtype, mesh)
            # The clones drop the forcing, and are rescaled, for the whole group or not at all
            # (decided once, on the host, from declarations and the group's concrete values).
            group_model = eqx.combine(tables[chunk.group][0], group.static)
            programs[chunk.group] = program._replace(
                forcing_free=separate_forcing(group_model), scale_free=scale_free_clones(group_model)
            )
        stacked, x0_table, cell_bounds, cell_rows = tables[chunk.group]
        item_row, item_lr, item_offset, n_items = plan.items(chunk, cell_rows)
        params = jax.tree_util.tree_map(lambda leaf, rows=item_row: leaf[rows], stacked)
        inputs = put_sharded(mesh, (params, item_lr, item_offset, item_row, cell_bounds[item_row]))
        result = to_host(_run_items(group.static, programs[chunk.group], *inputs, x0_table, window, key_data))
        n_units = len(chunk.units)
        if chunk.first_block == 0:
            accumulator = TaskAccumulator(n_units * plan.eta_block, setup.window_start, dtype)
        accumulator.add(_per_task(result, n_items, n_units, chunk.n_blocks, plan.eta_block))
        if chunk.last:
            slots = plan.unit_tasks[chunk.units].reshape(-1)
            real = slots >= 0  # padded η slots are dropped
            final = accumulator.finalize(plan.unit_rates[chunk.units].reshape(-1), setup.n_paths)
            results.store(slots[real], {name: value[real] for name, value in final.items()})
            accumulator = None
            if writer:
                write_atomic(results.dataset(True), out)
        elapsed = time.perf_counter() - tick
        bar.update(1)
        rate = plan.paths_in(chunk, setup.n_paths) * setup.steps / max(elapsed, 1e-9)
        bar.set_postfix_str(f"{rate:.3g} path-steps/s")
        if callback is not None:
            callback(bar.n, len(plan.chunks))
    bar.close()


def _per_task(result, n_items, n_units, n_blocks, eta_per_item):
    """(items, η, ...) -> (units · η, blocks, ...): one row per task slot, blocks in order."""

    def reshape(leaf):
        leaf = np.asarray(leaf)[:n_items].reshape(n_units, n_blocks, *np.shape(leaf)[1:])
        return np.swapaxes(leaf, 1, 2).reshape(n_units * eta_per_item, n_blocks, *leaf.shape[3:])

    return jax.tree_util.tree_map(reshape, result)


def _group_inputs(group, starts, bounds, rows, dtype, mesh):
    """Stacked cell parameters (in the run's dtype), start points and divergence bounds of one
    group. Start points are one row per cell when shared by all paths, else ``rows`` rows per
    cell (n_paths rounded up to whole blocks; the padding rows belong to masked paths)."""
    stacked = cast_floating(stack_params(group.params, range(len(group.cells))), dtype)
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


def _quiet(progress):
    if progress is None:
        return not sys.stderr.isatty()
    return not progress
