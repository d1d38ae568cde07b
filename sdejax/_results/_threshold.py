"""The learning rate where a growth rate crosses zero, with its standard error.

The crossing is found by linear interpolation between the two grid points that bracket the
first upward sign change of the growth rate r(η). Its standard error comes from the growth
rates' standard errors at those two points by the delta method: with interpolation weights
w_i = r_{i+1}/(r_{i+1} − r_i), w_{i+1} = 1 − w_i and slope s = (r_{i+1} − r_i)/(η_{i+1} − η_i),

    SE(η*) = (w_i SE_i + w_{i+1} SE_{i+1}) / s,

which treats the two estimates as perfectly correlated. They nearly are: every learning rate
uses the same paths (common random numbers), and independent errors would give the smaller
√(w_i² SE_i² + w_{i+1}² SE_{i+1}²)/s, so this is the conservative bound. Interpolation bias
(the curvature of r between grid points) is not included: use a grid fine enough near η*.

Where the grid holds no crossing, the value is NaN and ``bound`` says on which side it lies:
``"above"`` (stable on the whole grid: η* > the largest η), ``"below"`` (unstable on the whole
grid: η* < the smallest η), or ``"undefined"`` (no usable growth rate).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

BOUNDS = ("inside", "above", "below", "undefined")


class Threshold(float):
    """A measured threshold: a float with ``.se`` and ``.bound`` (see :func:`threshold`)."""

    se: float
    bound: str

    def __new__(cls, value, se=math.nan, bound="inside"):
        self = super().__new__(cls, value)
        self.se = float(se)
        self.bound = bound
        return self

    def __repr__(self):
        if self.bound == "inside":
            return f"{float(self):.6g} ± {self.se:.2g}"
        return f"nan (crossing {self.bound} the grid)"


def _crossing(rates, ses, etas):
    """(η*, SE, bound) of the first upward zero crossing of ``rates`` over increasing ``etas``."""
    rates = np.asarray(rates, dtype=float)
    ses = np.asarray(ses, dtype=float)
    for i in range(len(rates) - 1):
        low, high = rates[i], rates[i + 1]
        if np.isnan(low) or np.isnan(high):
            continue
        if low < 0 <= high:
            if np.isinf(high) or np.isinf(low):
                # No interpolation through ±inf (every path blew up, or the state collapsed to
                # 0): the crossing is the bracket's midpoint, ± half the bracket.
                return 0.5 * (etas[i] + etas[i + 1]), 0.5 * (etas[i + 1] - etas[i]), "inside"
            width = etas[i + 1] - etas[i]
            slope = (high - low) / width
            weight = high / (high - low)
            value = etas[i] + width * (-low) / (high - low)
            se = (weight * ses[i] + (1.0 - weight) * ses[i + 1]) / slope
            return value, se, "inside"
    finite = rates[~np.isnan(rates)]
    if finite.size == 0:
        return np.nan, np.nan, "undefined"
    if np.all(finite < 0):
        return np.nan, np.nan, "above"
    return np.nan, np.nan, "below"


def threshold(
    ds: xr.Dataset, model: str = "discrete", *, variable: str = "ms_growth_rate", with_se: bool = False
):
    """The learning rate where ``ds[variable]`` of ``model`` first crosses zero upwards.

    ``variable`` is ``"ms_growth_rate"`` (mean-square threshold, the default) or
    ``"as_growth_rate"`` (almost-sure: where typical paths start to grow); its standard error
    is read from ``variable + "_se"``. Linear interpolation between the two bracketing grid
    points, SE by the delta method (module docstring).

    **Returns:** for a single cell a :class:`Threshold` (a float with ``.se`` and ``.bound``);
    with extra grid dimensions a DataArray over them with a ``bound`` coordinate. ``bound`` is
    ``"inside"``, or, where the grid holds no crossing (the value is then NaN), ``"above"``
    (the whole grid is stable), ``"below"`` (the whole grid is unstable) or ``"undefined"``.
    With ``with_se=True`` returns ``(value, se)`` (floats or DataArrays).
    """
    if "model" in ds.dims:
        names = [str(m) for m in ds["model"].values]
        if model not in names:
            raise ValueError(f"threshold: `model` must be one of {names}, got {model!r}.")
        select = {"model": model}
    else:
        select = {}
    if variable not in ds:
        raise ValueError(
            f"threshold: `variable` {variable!r} is not in the dataset; it has {sorted(ds.data_vars)}."
        )
    rates = ds[variable].sel(select)
    se_name = variable + "_se"
    ses = ds[se_name].sel(select) if se_name in ds else xr.full_like(rates, np.nan)
    etas = np.asarray(ds["learning_rate"].values, dtype=float)
    if rates.ndim == 1:
        value, se, bound = _crossing(rates.values, ses.values, etas)
        result = Threshold(value, se, bound)
        return (result, result.se) if with_se else result
    value, se, bound = xr.apply_ufunc(
        _crossing,
        rates,
        ses,
        kwargs={"etas": etas},
        input_core_dims=[["learning_rate"], ["learning_rate"]],
        output_core_dims=[[], [], []],
        vectorize=True,
        output_dtypes=[float, float, object],
    )
    value = value.assign_coords(bound=bound.astype(str))
    value.name = f"{variable.replace('_growth_rate', '')}_threshold"
    value.attrs = {"long_name": f"measured threshold learning rate ({variable} crosses 0)", "units": "1"}
    se = se.assign_coords(bound=bound.astype(str))
    se.name = value.name + "_se"
    se.attrs = {"long_name": f"standard error of the measured threshold ({variable})", "units": "1"}
    return (value, se) if with_se else value
