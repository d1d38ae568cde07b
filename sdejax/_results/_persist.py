"""Sweep results on disk: netCDF written atomically after every chunk, resumed on the next call.

The file holds the Dataset so far (unfinished cells are NaN) plus a ``completed`` mask over
(model, learning_rate, grid dims). Each write goes to ``<out>.tmp`` and is then renamed over
``<out>`` (``os.replace`` is atomic on POSIX), so a kill at any moment leaves either the previous
or the new file, never a torn one. A later call with the same configuration resumes: it skips
every chunk whose cells are all completed. A different configuration raises instead of mixing
results.
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

# Attributes that may change between a run and its resumption without changing the numbers.
_VOLATILE = ("sdejax_version", "git_revision", "chunks_total", "chunks_done")


def write_atomic(ds: xr.Dataset, out) -> None:
    out = os.fspath(out)
    tmp = out + ".tmp"
    ds.to_netcdf(tmp, engine="netcdf4")
    os.replace(tmp, out)


def _fixed(attrs: dict) -> dict:
    return {k: v for k, v in attrs.items() if k not in _VOLATILE}


def _same(a, b) -> bool:
    if isinstance(a, (np.ndarray, np.generic)) or isinstance(b, (np.ndarray, np.generic)):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


def load_matching(out, template: xr.Dataset):
    """The stored Dataset at ``out`` if it exists; raise if its configuration differs."""
    out = os.fspath(out)
    if not os.path.exists(out):
        return None
    with xr.open_dataset(out, engine="netcdf4") as stored:
        stored = stored.load()
    mine, theirs = _fixed(template.attrs), _fixed(stored.attrs)
    differ = sorted(
        k
        for k in set(mine) | set(theirs)
        if k not in mine or k not in theirs or not _same(mine[k], theirs[k])
    )
    for name, coord in template.coords.items():
        if name not in stored.coords or not np.array_equal(
            np.asarray(stored[name].values), np.asarray(coord.values)
        ):
            differ.append(f"coordinate {name!r}")
    if differ:
        raise ValueError(
            f"stability_sweep: {out!r} holds a sweep with a different configuration "
            f"(differs in: {differ}); remove the file or choose another `out` to start afresh."
        )
    return stored
