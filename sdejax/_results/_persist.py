"""Sweep results on disk: netCDF written atomically after every chunk, resumed on the next call.

The file holds the Dataset so far (unfinished cells are NaN) plus a ``completed`` mask over
(model, learning_rate, grid dims): an int8 flag per cell, 1 when the cell's numbers are final,
0 when the cell has not been computed yet (CF attributes ``flag_values = [0, 1]``,
``flag_meanings = "pending finished"``). A file with some 0 flags is *partial* (the sweep was
killed, or is still running); its NaN cells mean "not computed", never "rate undefined".

Each write goes to ``<out>.tmp`` and is then renamed over ``<out>`` (``os.replace`` is atomic on
POSIX), so a kill at any moment leaves either the previous or the new file, never a torn one. A
later call with the same configuration resumes: it skips every chunk whose cells are all
completed. A different configuration, or a file that is not a readable sdejax sweep (empty,
truncated, damaged, another program's), raises :class:`ResultsFileError` and is never
overwritten.
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

# Attributes that may change between a run and its resumption without changing the numbers.
_VOLATILE = ("sdejax_version", "git_revision", "chunks_total", "chunks_done")
# Defaults for the `completed` attributes (the Dataset's own, set when it is assembled, win).
COMPLETED_ATTRS = {
    "long_name": "whether the cell's task has finished (resumable sweeps)",
    "flag_values": np.array([0, 1], np.int8),
    "flag_meanings": "pending finished",
    "comment": "Cells with 0 hold NaN because they were not computed (a stopped or running "
    "sweep); re-running the same stability_sweep call with this `out` computes them.",
}


class ResultsFileError(ValueError):
    """A results file that cannot be used: unreadable, not an sdejax sweep, or another sweep's."""


def _advice(out) -> str:
    return f"delete {out!r} or pass another `out` to start afresh"


def write_atomic(ds: xr.Dataset, out) -> None:
    out = os.fspath(out)
    tmp = out + ".tmp"
    if "completed" in ds:
        ds = ds.copy()
        for name, value in COMPLETED_ATTRS.items():
            ds["completed"].attrs.setdefault(name, value)
    ds.to_netcdf(tmp, engine="netcdf4")
    os.replace(tmp, out)


def open_results(path, owner: str, advice: str | None = None) -> xr.Dataset:
    """The Dataset stored at ``path``, loaded into memory; a one-line :class:`ResultsFileError`
    when the file is missing, empty, truncated or not netCDF. ``advice`` ends the message
    (default: delete the file or pass another `out`)."""
    path = os.fspath(path)
    advice = _advice(path) if advice is None else advice
    if not os.path.exists(path):
        raise ResultsFileError(f"{owner}: {path!r} does not exist.")
    if os.path.getsize(path) == 0:
        raise ResultsFileError(f"{owner}: {path!r} is empty (0 bytes), not a results file; {advice}.")
    try:
        with xr.open_dataset(path, engine="netcdf4") as stored:
            return stored.load()
    except Exception as error:  # noqa: BLE001 - netCDF4/HDF5 raise OSError, KeyError, ValueError, …
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ResultsFileError(
            f"{owner}: {path!r} is not a readable netCDF results file (truncated or damaged?): "
            f"{reason}; {advice}."
        ) from None


def completion(ds: xr.Dataset) -> tuple[int, int]:
    """(computed cells, all cells) of a sweep Dataset; a Dataset without ``completed`` (a
    finished in-memory sweep, or a simulation) counts as complete."""
    if "completed" not in ds:
        return 1, 1
    flags = np.asarray(ds["completed"].values)
    return int(np.sum(flags == 1)), int(flags.size)


def _fixed(attrs: dict) -> dict:
    return {k: v for k, v in attrs.items() if k not in _VOLATILE}


def _same(a, b) -> bool:
    if isinstance(a, (np.ndarray, np.generic)) or isinstance(b, (np.ndarray, np.generic)):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


def load_matching(out, template: xr.Dataset):
    """The stored Dataset at ``out`` if it exists; raise if it is unreadable or its
    configuration differs (the file is left untouched)."""
    out = os.fspath(out)
    if not os.path.exists(out):
        return None
    stored = open_results(out, "stability_sweep")
    if "completed" in template and (
        "completed" not in stored or stored["completed"].shape != template["completed"].shape
    ):
        raise ResultsFileError(
            f"stability_sweep: {out!r} is not an sdejax sweep file of this shape (no matching "
            f"`completed` mask); {_advice(out)}."
        )
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
        raise ResultsFileError(
            f"stability_sweep: {out!r} holds a sweep with a different configuration "
            f"(differs in: {differ}); {_advice(out)}."
        )
    return stored
