"""The plan of a sweep: tasks, units, blocks, items and chunks, fixed before anything runs.

* **task**: one (model, grid cell, learning rate);
* **unit**: ``eta_block`` tasks of one (model, cell) with consecutive learning rates. They share
  their path keys (common random numbers), so one program runs them together: the model is
  vmapped over the unit's learning rates with the keys unbatched, and every random variate is
  drawn once per (path, step) for all of them;
* **block**: ``path_block`` paths of a task, whose clones (up to 4 independent populations of the
  mean-square estimator, ``clone_populations``) are resampled within the block;
* **item**: one block of one unit, what a device runs; items run in vmapped batches of
  ``item_batch`` and are sharded over devices and processes;
* **chunk**: a run of items that fits ``memory_budget``, the unit of progress and persistence.

Every size is a function of the configuration only (never of the memory budget or the
devices), so the numbers never depend on how the work is cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _config as cfg

# Paths per block when not given: all n_paths form one block (up to 4 clone populations of the
# mean-square estimator, whose bias grows as they shrink), unless one learning rate's block would exceed this
# size; never fewer than _MIN_PATH_BLOCK paths.
_BLOCK_TARGET_BYTES = 64 * 2**20
_MIN_PATH_BLOCK = 256
# Automatic eta_block: as many learning rates per item as keep one item's working set near
# this size (a fixed number, not the memory budget, so that the budget never changes a bit).
_ITEM_TARGET_BYTES = 128 * 2**20
_MAX_ETA_BLOCK = 64
# Default per-device memory budget: 512 MiB, small enough for a laptop next to other programs
# and large enough that chunk dispatch overhead is negligible.
DEFAULT_MEMORY_BUDGET = 512 * 2**20
# On an accelerator, items are vmapped in batches of about this many paths (fills a GPU).
_ACCELERATOR_BATCH_PATHS = 1 << 17


@dataclass(frozen=True)
class Chunk:
    group: int
    units: np.ndarray  # unit indices (rows of the unit -> task table)
    first_block: int  # > 0 only when one unit spans several chunks
    n_blocks: int
    last: bool  # whether the chunk finishes its units


def item_bytes(block: int, d: int, n_workers: int, steps: int, itemsize: int) -> int:
    """Heuristic device memory of one item at one learning rate.

    Two populations of ``block`` paths (free paths and clones); per path and step the models
    hold a few (n_workers, d) arrays (noise, compressor masks, compressed gradients) and a few
    (d,) vectors; ×2 for XLA temporaries and double buffering. Plus the per-step outputs.
    """
    per_path = itemsize * (d * (4 * n_workers + 16) + 16)
    return 2 * (2 * block * per_path + 4 * steps * itemsize)


def choose_path_block(
    path_block, n_paths: int, d: int, n_workers: int, steps: int, itemsize: int, owner: str
):
    """Paths per block: given, or all paths if one learning rate's block fits
    _BLOCK_TARGET_BYTES, else the largest count that fits (at least _MIN_PATH_BLOCK)."""
    if path_block is not None:
        cfg.check_counts(owner, path_block=path_block)
        return min(int(path_block), n_paths)
    per_path = item_bytes(1, d, n_workers, steps, itemsize) - item_bytes(0, d, n_workers, steps, itemsize)
    fit = (_BLOCK_TARGET_BYTES - item_bytes(0, d, n_workers, steps, itemsize)) // max(per_path, 1)
    return min(n_paths, max(_MIN_PATH_BLOCK, int(fit)))


def choose_eta_block(eta_block, n_etas: int, bytes_per_eta: int, owner: str) -> int:
    """Learning rates per unit: given, or automatic (fits _ITEM_TARGET_BYTES, balanced)."""
    if eta_block is not None:
        cfg.check_counts(owner, eta_block=eta_block)
        return min(int(eta_block), n_etas)
    fit = max(1, min(_MAX_ETA_BLOCK, _ITEM_TARGET_BYTES // max(bytes_per_eta, 1)))
    n_units = -(-n_etas // fit)
    return -(-n_etas // n_units)


def choose_item_batch(item_batch, paths_per_item: int, platform: str, owner: str) -> int:
    """Items per vmapped batch: given, or 1 on a CPU and ~2^17 paths' worth on an accelerator."""
    if item_batch is not None:
        cfg.check_counts(owner, item_batch=item_batch)
        return int(item_batch)
    if platform == "cpu":
        return 1
    return max(1, _ACCELERATOR_BATCH_PATHS // max(paths_per_item, 1))


def _round_up(value, multiple):
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class Plan:
    """Tasks, units and chunks of one sweep (task t = (model m, learning rate r, cell c),
    flattened row-major as ``(m * n_etas + r) * n_cells + c``)."""

    n_etas: int
    n_cells: int
    block: int
    n_blocks: int
    eta_block: int
    item_batch: int
    unit_tasks: np.ndarray  # (units, eta_block), -1 past the last learning rate
    unit_rates: np.ndarray  # (units, eta_block)
    chunks: tuple[Chunk, ...]
    sizes: tuple[int, ...]  # items per chunk of each group, padded

    @classmethod
    def build(
        cls,
        *,
        group_cells,
        group_models,
        models,
        etas,
        n_cells,
        n_paths,
        block,
        eta_block,
        item_batch,
        memory_budget,
        item_size,
        shards,
        dtype,
    ) -> Plan:
        """``group_cells``/``group_models``: the cells and model name of each compiled group."""
        n_etas = len(etas)
        n_blocks = -(-n_paths // block)
        n_eta_units = -(-n_etas // eta_block)
        unit_tasks, unit_rates, groups_units = [], [], []
        for cells, model in zip(group_cells, group_models, strict=True):
            units = []
            for cell in cells:
                for e in range(n_eta_units):
                    r = e * eta_block + np.arange(eta_block)
                    valid = r < n_etas
                    task = (models.index(model) * n_etas + r) * n_cells + cell
                    unit_tasks.append(np.where(valid, task, -1))
                    unit_rates.append(etas[np.minimum(r, n_etas - 1)])
                    units.append(len(unit_tasks) - 1)
            groups_units.append(np.asarray(units))
        multiple = shards * item_batch
        cap = max(1, memory_budget // max(item_size, 1)) * shards
        cap = max(multiple, cap - cap % multiple)
        chunks, sizes = [], []
        for g, units in enumerate(groups_units):
            if n_blocks <= cap:
                per_chunk = max(1, min(len(units), cap // n_blocks))
                sizes.append(_round_up(per_chunk * n_blocks, multiple))
                for start in range(0, len(units), per_chunk):
                    chunks.append(Chunk(g, units[start : start + per_chunk], 0, n_blocks, True))
            else:
                sizes.append(cap)
                for i in range(len(units)):
                    for start in range(0, n_blocks, cap):
                        count = min(cap, n_blocks - start)
                        chunks.append(Chunk(g, units[i : i + 1], start, count, start + count == n_blocks))
        return cls(
            n_etas,
            n_cells,
            block,
            n_blocks,
            eta_block,
            item_batch,
            np.asarray(unit_tasks),
            np.asarray(unit_rates, dtype),
            tuple(chunks),
            tuple(sizes),
        )

    def tasks_of(self, units) -> np.ndarray:
        tasks = self.unit_tasks[units].reshape(-1)
        return tasks[tasks >= 0]

    def items(self, chunk: Chunk, cell_rows: dict):
        """Per item: the cell's row in its group, learning rates, first path index; padded
        with copies of the first item up to the chunk size. Items are unit-major, block-minor."""
        n_units = len(chunk.units)
        first_tasks = self.unit_tasks[chunk.units, 0]
        row = np.asarray([cell_rows[t % self.n_cells] for t in first_tasks])
        item_row = np.repeat(row, chunk.n_blocks)
        item_lr = np.repeat(self.unit_rates[chunk.units], chunk.n_blocks, axis=0)
        item_offset = np.tile(self.block * (chunk.first_block + np.arange(chunk.n_blocks)), n_units)
        n_items = len(item_row)
        pad = self.sizes[chunk.group] - n_items
        item_row, item_lr, item_offset = (
            np.concatenate([a, np.repeat(a[:1], pad, axis=0)]) for a in (item_row, item_lr, item_offset)
        )
        return item_row.astype(np.int32), item_lr, item_offset.astype(np.int32), n_items

    def paths_in(self, chunk: Chunk, n_paths: int) -> int:
        """Real (unpadded) path-tasks of a chunk, for the progress bar."""
        starts = self.block * (chunk.first_block + np.arange(chunk.n_blocks))
        return len(self.tasks_of(chunk.units)) * int(np.sum(np.clip(n_paths - starts, 0, self.block)))
