"""The learning rate where a growth rate crosses zero, with its standard error.

The crossing lies between the two grid points that bracket the first upward sign change of
the growth rate r(η). It is the root, inside that bracket, of the quadratic q(η) = Σ_j r_j ℓ_j(η)
through the bracket and its nearest neighbour (Lagrange basis ℓ_j; the root is found by a fixed
number of bisections, exact to rounding): a straight line through the bracket alone is biased by
the curvature of r, by several standard errors on grids with 5–10 % spacing. Without a usable
neighbour (the edge of the grid, a non-finite rate) the line is used.

The standard error has two parts, added in quadrature:

* Monte Carlo, from the rates' standard errors by the delta method: ∂η*/∂r_j = −ℓ_j(η*)/q'(η*)
  and SE_MC = Σ_j |ℓ_j(η*)| SE_j / q'(η*), which treats the estimates as perfectly correlated.
  They nearly are: every learning rate uses the same paths (common random numbers);
  independent errors would give the smaller root of the sum of squares, so this is the
  conservative bound;
* interpolation: where the bracket has a neighbour on both sides, half the difference of the
  roots of the two quadratics (through the left or the right neighbour), an estimate of the
  grid's own error, which dominates on noise-free cells.

A crossing counts only if the rate is clearly positive somewhere at or above it (r_j > 3 SE_j
for some grid point at or above the bracket): a rate that only fluctuates around 0 (a
stationary process, e.g. DSignSGD, whose steps are bounded) crosses 0 by chance. Where the
grid holds no crossing the value is NaN and ``bound`` says why: ``"above"`` (stable on the
whole grid: η* > the largest η), ``"below"`` (unstable on the whole grid: η* < the smallest
η), ``"unclear"`` (sign changes, but never clearly positive), or ``"undefined"`` (no usable
growth rate).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

BOUNDS = ("inside", "above", "below", "unclear", "undefined")
# A rate counts as clearly positive above this many standard errors.
_CLEAR = 3.0
# Bisections of the bracket: 2^-60 of its width, below double rounding.
_BISECTIONS = 60


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
        if self.bound in ("above", "below"):
            return f"nan (the crossing lies {self.bound} the grid)"
        return f"nan ({self.bound})"


def _lagrange(x, t):
    """The Lagrange weights ℓ_j(t) of the three nodes x and their derivatives at t."""
    weights, slopes = [], []
    for j in range(3):
        a, b = [x[k] for k in range(3) if k != j]
        denominator = (x[j] - a) * (x[j] - b)
        weights.append((t - a) * (t - b) / denominator)
        slopes.append((2 * t - a - b) / denominator)
    return weights, slopes


def _quadratic_root(x, y, low, high):
    """The root in [low, high] of the quadratic through the points (x, y), which changes sign
    there from negative to non-negative, by bisection; with its Lagrange weights and q'(root).
    None where q' is not positive at the root (no clean upward crossing)."""
    value = lambda t: sum(w * v for w, v in zip(_lagrange(x, t)[0], y, strict=True))  # noqa: E731
    for _ in range(_BISECTIONS):
        middle = 0.5 * (low + high)
        if value(middle) < 0:
            low = middle
        else:
            high = middle
    t = 0.5 * (low + high)
    weights, slopes = _lagrange(x, t)
    slope = sum(s * v for s, v in zip(slopes, y, strict=True))
    return (t, weights, slope) if slope > 0 else None


def _crossing(rates, ses, etas):
    """(η*, SE, bound) of the first upward zero crossing of ``rates`` over increasing ``etas``."""
    rates = np.asarray(rates, dtype=float)
    ses = np.asarray(ses, dtype=float)
    etas = np.asarray(etas, dtype=float)
    clear = rates > _CLEAR * np.where(np.isfinite(ses), ses, 0.0)
    for i in range(len(rates) - 1):
        low, high = rates[i], rates[i + 1]
        if np.isnan(low) or np.isnan(high) or not (low < 0 <= high):
            continue
        if not np.any(clear[i + 1 :]):
            return np.nan, np.nan, "unclear"
        if np.isinf(high) or np.isinf(low):
            # No interpolation through ±inf (every path blew up, or the state collapsed to
            # 0): the crossing is the bracket's midpoint, ± half the bracket.
            return 0.5 * (etas[i] + etas[i + 1]), 0.5 * (etas[i + 1] - etas[i]), "inside"
        roots = []
        for j in _neighbours(i, len(rates)):
            points = sorted((i, i + 1, j))
            if not np.all(np.isfinite(rates[points])):
                continue
            found = _quadratic_root(etas[points], rates[points], etas[i], etas[i + 1])
            if found is not None:
                value, weights, slope = found
                se = sum(abs(w) * ses[k] for w, k in zip(weights, points, strict=True)) / slope
                roots.append((value, se))
        if roots:
            value, se = roots[0]
            grid_error = 0.5 * abs(roots[0][0] - roots[1][0]) if len(roots) == 2 else 0.0
            return value, math.hypot(se, grid_error), "inside"
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


def _neighbours(i, n):
    """Third points for the quadratic through the bracket (i, i + 1), nearest first."""
    return [j for j in (i - 1, i + 2) if 0 <= j < n]


def threshold(
    ds: xr.Dataset, model: str = "discrete", *, variable: str = "ms_growth_rate", with_se: bool = False
):
    """The learning rate where ``ds[variable]`` of ``model`` first crosses zero upwards.

    ``variable`` is ``"ms_growth_rate"`` (mean-square threshold, the default) or
    ``"as_growth_rate"`` (almost-sure: where typical paths start to grow); its standard error
    is read from ``variable + "_se"``. Quadratic interpolation through the bracketing grid
    points and their nearest neighbour, SE by the delta method (module docstring).

    **Returns:** for a single cell a :class:`Threshold` (a float with ``.se`` and ``.bound``);
    with extra grid dimensions a DataArray over them with a ``bound`` coordinate. ``bound`` is
    ``"inside"``, or, where the grid holds no crossing (the value is then NaN), ``"above"``
    (the whole grid is stable), ``"below"`` (the whole grid is unstable), ``"unclear"`` (the
    rate only fluctuates around 0) or ``"undefined"``. The SE includes an estimate of the
    interpolation error (module docstring).
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
