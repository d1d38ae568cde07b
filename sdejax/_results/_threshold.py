"""The learning rate where the mean-square growth rate crosses zero."""

from __future__ import annotations

import numpy as np
import xarray as xr


def _crossing(rates, etas):
    """First upward zero crossing of ``rates`` over increasing ``etas``, linearly interpolated."""
    rates = np.asarray(rates, dtype=float)
    for i in range(len(rates) - 1):
        low, high = rates[i], rates[i + 1]
        if np.isnan(low) or np.isnan(high):
            continue
        if low < 0 <= high:
            if np.isinf(high) or np.isinf(low):
                # No linear interpolation through ±inf (every path blew up, or the second
                # moment collapsed to 0): the crossing is placed at the bracket's midpoint.
                return 0.5 * (etas[i] + etas[i + 1])
            return etas[i] + (etas[i + 1] - etas[i]) * (-low) / (high - low)
    return np.nan


def threshold(ds: xr.Dataset, model: str = "discrete", *, variable: str = "ms_growth_rate"):
    """The learning rate where ``ds[variable]`` of ``model`` first crosses zero upwards.

    Linear interpolation between the two bracketing grid points; NaN when the growth rate does
    not cross zero inside the grid (e.g. SME-2 below its formula's range). With extra grid
    dimensions, returns a DataArray over them.
    """
    if "model" in ds.dims:
        if model not in ds["model"].values:
            raise ValueError(
                f"threshold: `model` must be one of {[str(m) for m in ds['model'].values]}, got {model!r}."
            )
        rates = ds[variable].sel(model=model)
    else:
        rates = ds[variable]
    etas = np.asarray(ds["learning_rate"].values, dtype=float)
    if rates.ndim == 1:
        return float(_crossing(rates.values, etas))
    return xr.apply_ufunc(
        _crossing,
        rates,
        kwargs={"etas": etas},
        input_core_dims=[["learning_rate"]],
        vectorize=True,
    )
