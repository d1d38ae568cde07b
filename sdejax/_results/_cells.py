"""Choosing cells of a sweep Dataset: its grid dimensions, the cells at given grid values
(:func:`select_cells`), and the text that names the values chosen.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr


def _grid_dims(ds: xr.Dataset) -> list:
    return [dim for dim in ds["ms_growth_rate"].dims if dim not in ("model", "learning_rate")]


def select_cells(ds: xr.Dataset, select: dict | None, owner: str = "plot_stability_map"):
    """``(view, fixed)``: ``ds`` at the grid values ``select`` = {dimension: value}, each value
    matched to the nearest coordinate (relative tolerance 1e-6, for values typed by hand);
    ``fixed`` holds the coordinates chosen. Unknown dimensions or values raise ValueError."""
    grid_dims = _grid_dims(ds)
    fixed = {}
    for dim, wanted in (select or {}).items():
        if dim not in grid_dims:
            raise ValueError(
                f"{owner}: `select` names {dim!r}, which is not a grid dimension; "
                f"grid dimensions: {grid_dims or 'none'}."
            )
        values = np.asarray(ds[dim].values)
        if np.issubdtype(values.dtype, np.number):
            try:
                target = float(wanted)
            except (TypeError, ValueError):
                target = math.nan
            close = np.isclose(values.astype(float), target, rtol=1e-6, atol=1e-12)
        else:
            close = values.astype(str) == str(wanted)
        if not np.any(close):
            shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values.tolist())
            raise ValueError(f"{owner}: {dim} = {wanted!r} is not on the grid; its values: {shown}.")
        fixed[dim] = values[int(np.argmax(close))]
    return (ds.sel(fixed) if fixed else ds), fixed


def _fixed_text(fixed: dict) -> str:
    def shown(v):
        v = np.asarray(v).item()
        return f"{v:g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k} = {shown(v)}" for k, v in fixed.items())
