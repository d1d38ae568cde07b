"""Construction-time checks with error messages that name the parameter and its allowed range.

Checks run on concrete values only: inside a trace (e.g. when a sweep vmaps over a noise scale)
the value is abstract and the check is skipped, because it already ran on the concrete grid.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(value) -> bool:
    """True when ``value`` holds data (not a tracer)."""
    return not isinstance(value, jax.core.Tracer)


def _as_numpy(value, name: str, owner: str):
    """``value`` as a float64 array; a TypeError naming ``name`` unless it holds real numbers
    (a string, None, bool or complex value is refused, never converted)."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{owner}: `{name}` must be a number or an array of numbers, got {value!r}.")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: `{name}` must be numbers, got {value!r}.") from None
    if arr.dtype == np.bool_ or not (
        jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)
    ):
        raise TypeError(f"{owner}: `{name}` must hold real numbers, got {value!r} (dtype {arr.dtype}).")
    return arr.astype(np.float64)


def check_nonnegative(name: str, value, owner: str) -> None:
    if not is_concrete(value):
        return
    arr = _as_numpy(value, name, owner)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{owner}: `{name}` must be finite and >= 0, got {value!r}.")


def check_positive(name: str, value, owner: str) -> None:
    if not is_concrete(value):
        return
    arr = _as_numpy(value, name, owner)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{owner}: `{name}` must be finite and > 0, got {value!r}.")


def check_in_interval(
    name: str, value, low: float, high: float, owner: str, *, low_open: bool = True, high_open: bool = False
) -> None:
    """Check ``value`` in the interval (low, high], with open/closed ends as given."""
    if not is_concrete(value):
        return
    arr = _as_numpy(value, name, owner)
    ok_low = arr > low if low_open else arr >= low
    ok_high = arr < high if high_open else arr <= high
    if not np.all(np.isfinite(arr)) or not np.all(ok_low & ok_high):
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(f"{owner}: `{name}` must lie in {left}{low}, {high}{right}, got {value!r}.")


def check_int_at_least(name: str, value, low: int, owner: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: `{name}` must be an int >= {low}, got {value!r}.")
    if value < low:
        raise ValueError(f"{owner}: `{name}` must be an int >= {low}, got {value!r}.")


def check_worker_shape(name: str, value, owner: str) -> None:
    """Per-worker parameters are scalars or 1-D arrays of shape (n_workers,)."""
    shape = np.shape(value)
    if len(shape) > 1:
        raise ValueError(
            f"{owner}: `{name}` must be a scalar or a per-worker array of shape (n_workers,), "
            f"got shape {shape}."
        )


def check_workers_match(name: str, value, n_workers: int, owner: str) -> None:
    shape = np.shape(value)
    if len(shape) == 1 and shape[0] not in (1, n_workers):
        raise ValueError(f"{owner}: `{name}` has {shape[0]} per-worker values but n_workers={n_workers}.")


def as_float_array(value):
    """Store a hyperparameter as an array leaf so that new values do not recompile."""
    if isinstance(value, jax.Array):
        return value
    return jnp.asarray(value, dtype=jnp.result_type(float))


def cast_floating(tree, dtype):
    """Every floating array leaf of ``tree`` (a component, a model, stacked parameters) in
    ``dtype``; other leaves unchanged. Computation runs in one dtype (the engine's rule: that of
    x0; the exact analysis: float64)."""
    import jax.numpy as jnp

    def cast(leaf):
        if isinstance(leaf, (jax.Array, np.ndarray)) and jnp.issubdtype(leaf.dtype, jnp.floating):
            return leaf.astype(dtype)
        return leaf

    return jax.tree_util.tree_map(cast, tree)
