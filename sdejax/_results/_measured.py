"""Measured thresholds as the plots draw them and the CLI tables list them:
:func:`sdejax.threshold` in every grid cell, kept only where the data support the crossing
(:func:`measured_thresholds`).

A threshold is drawn only where one is defined: the exact one (``theory_threshold``) where it
is finite, the measured one where the grid holds a crossing that the data support.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._cells import _grid_dims
from ._labels import Z95


def _supported(value, rates, ses, diverged, etas) -> bool:
    """Whether the data support a measured crossing at ``value``: above it some paths diverge,
    or the growth rate is significantly positive (by Z95 standard errors) and never
    significantly negative."""
    above = etas > value
    if np.any(diverged[above] > 0) or np.any(np.isposinf(rates[above])):
        return True
    with np.errstate(invalid="ignore"):
        positive = rates - Z95 * ses > 0
        negative = rates + Z95 * ses < 0
    return bool(np.any(positive & above) and not np.any(negative & above))


def measured_thresholds(ds: xr.Dataset, model: str, variable: str = "ms_growth_rate"):
    """``(values, ses, bounds)`` of :func:`sdejax.threshold` for ``model``, as NumPy arrays over
    the Dataset's grid dimensions (in their order; 0-d without grid dimensions).

    ``bounds`` is ``"inside"`` where a crossing is measured and drawn, or a reason where
    ``values`` is NaN: ``"above"``/``"below"`` (the grid holds no crossing: stable/unstable
    on all of it), ``"undefined"`` (no usable rate), or ``"unclear"``: threshold() found a
    crossing but the data do not support it (no path diverges above it and the rate is not
    significantly positive there, or is significantly negative again: noise around 0, as for
    DSignSGD; see ``UNCLEAR``).
    """
    from ._threshold import threshold

    value, se = threshold(ds, model, variable=variable, with_se=True)
    dims = _grid_dims(ds)
    if isinstance(value, xr.DataArray):
        bounds = np.asarray(value["bound"].transpose(*dims).values, dtype=object)
        value = np.array(value.transpose(*dims).values, dtype=float)
        se = np.array(se.transpose(*dims).values, dtype=float)
    else:
        bounds = np.array(value.bound, dtype=object)
        value, se = np.array(float(value)), np.array(float(se))
    order = ("learning_rate", *dims)
    select = {"model": model} if "model" in ds.dims else {}
    rates = np.asarray(ds[variable].sel(select).transpose(*order).values, dtype=float)
    se_name = variable + "_se"
    ses = (
        np.asarray(ds[se_name].sel(select).transpose(*order).values, dtype=float)
        if se_name in ds
        else np.full(rates.shape, np.nan)
    )
    diverged = (
        np.asarray(ds["diverged_fraction"].sel(select).transpose(*order).values, dtype=float)
        if "diverged_fraction" in ds
        else np.zeros(rates.shape)
    )
    etas = np.asarray(ds["learning_rate"].values, dtype=float)
    for index in np.ndindex(value.shape):
        column = (slice(None), *index)
        if bounds[index] == "inside" and not _supported(
            value[index], rates[column], ses[column], diverged[column], etas
        ):
            value[index], se[index], bounds[index] = np.nan, np.nan, "unclear"
    return value, se, bounds.astype(str)
