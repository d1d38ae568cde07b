"""Devices and processes: a 1-D mesh over work items, global arrays in, host numpy out.

The sweep's work items (one block of paths of one task each) are independent, so the program
is a ``jax.shard_map`` over a mesh axis ``"items"``: each device runs its share of the items
with no communication. With several processes (``jax.distributed.initialize``) the mesh holds
every process's devices; each process feeds its addressable shards of the (identical,
deterministically built) host inputs and gathers the outputs with
``multihost_utils.process_allgather``.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

AXIS = "items"


def make_mesh(devices=None) -> Mesh:
    """A 1-D mesh over ``devices`` (default: every device of every process, ``jax.devices()``)."""
    if devices is None:
        devices = jax.devices()
    elif isinstance(devices, Mesh):
        devices = list(devices.devices.flat)
    devices = list(devices)
    if not devices:
        raise ValueError("stability_sweep: `devices` must name at least one device.")
    return Mesh(np.asarray(devices), (AXIS,))


def n_shards(mesh: Mesh) -> int:
    return mesh.devices.size


def put_sharded(mesh: Mesh, host_tree):
    """Host arrays with a leading item axis -> global arrays split over the mesh."""
    sharding = NamedSharding(mesh, P(AXIS))
    return jax.tree_util.tree_map(lambda a: _global(np.asarray(a), sharding), host_tree)


def put_replicated(mesh: Mesh, host_tree):
    sharding = NamedSharding(mesh, P())
    return jax.tree_util.tree_map(lambda a: _global(np.asarray(a), sharding), host_tree)


def _global(array, sharding):
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def to_host(tree):
    """Global (possibly multi-process) arrays -> full numpy arrays on every process."""
    if jax.process_count() == 1:
        return jax.tree_util.tree_map(np.asarray, jax.device_get(tree))
    from jax.experimental import multihost_utils

    return jax.tree_util.tree_map(
        lambda a: np.asarray(multihost_utils.process_allgather(a, tiled=True)), tree
    )


def broadcast_from_first(value: np.ndarray) -> np.ndarray:
    """Process 0's ``value`` on every process (identity with one process)."""
    if jax.process_count() == 1:
        return value
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.broadcast_one_to_all(value))
