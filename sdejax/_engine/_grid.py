"""Grids over component parameters: resolve paths, build one concrete model per cell, group cells.

A grid maps a parameter path to its values. Paths resolve against the root namespace
``{"algorithm", "compressor", "noise", "problem", "n_workers"}`` (``"compressor"`` is
``algorithm.compressor``, ``"n_workers"`` is ``algorithm.n_workers``); the attribute after the
dot is a constructor argument of that component (``"compressor.p"``, ``"noise.sigma1"``,
``"noise.df"``, ``"problem.eigenvalues"``, ``"algorithm.n_workers"``).

Every cell is built through the components' own constructors with concrete values, so a bad
value raises the component's own error before anything is traced. Cells are then grouped by
the static part of their model (``eqx.partition(model, eqx.is_array)``: the pytree structure,
the non-array leaves and the shapes and dtypes of the array leaves). Within a group only array
leaves differ, so they are stacked and vmapped in one compiled program: array-leaf parameters
(BernoulliSparsifier.p, GaussianNoise.sigma, AffineGaussianNoise.sigma0/sigma1,
StudentTNoise.scale, Quadratic.eigenvalues of one length) cost no recompilation; parameters that
change static fields or shapes (RandK.k, n_workers, d, StudentTNoise.df through its integer-ν
sampler choice) compile once per distinct value.
"""

from __future__ import annotations

import inspect
import itertools
from dataclasses import dataclass, field

import equinox as eqx
import jax.tree_util as jtu
import numpy as np

from .._models import make_model
from .._spec import constructor_arguments

_ROOTS = ("algorithm", "compressor", "noise", "problem")
_ALIASES = {"n_workers": ("algorithm", "n_workers")}


def _constructor_parameters(module) -> list[str]:
    """Constructor arguments of ``module`` that can be set by a grid path."""
    return list(constructor_arguments(module))


def rebuild(module, **changes):
    """A new ``module`` of the same class, built by its constructor with ``changes`` applied.

    Going through the constructor (rather than ``eqx.tree_at``) re-runs its checks and
    recomputes derived static fields (e.g. ``StudentTNoise.integer_df``).
    """
    if not changes:
        return module
    cls = type(module)
    signature = inspect.signature(cls.__init__)
    stored = constructor_arguments(module)
    kwargs = {}
    for name, parameter in signature.parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name in changes:
            kwargs[name] = changes[name]
        elif name in stored:
            kwargs[name] = stored[name]
        elif parameter.default is inspect.Parameter.empty:
            raise ValueError(
                f"stability_sweep: cannot rebuild {cls.__name__}: constructor argument "
                f"{name!r} is not stored on the module."
            )
    unknown = set(changes) - set(kwargs)
    if unknown:
        raise ValueError(f"stability_sweep: {cls.__name__} has no constructor argument {sorted(unknown)}.")
    return cls(**kwargs)


def allowed_paths(algorithm, problem, noise) -> list[str]:
    """Every grid path that resolves for these components."""
    components = {
        "algorithm": algorithm,
        "compressor": algorithm.compressor,
        "noise": noise,
        "problem": problem,
    }
    paths = list(_ALIASES)
    for root, module in components.items():
        for name in _constructor_parameters(module):
            if root == "algorithm" and name == "compressor":
                continue
            paths.append(f"{root}.{name}")
    return paths


def _resolve(path, algorithm, problem, noise) -> tuple[str, str]:
    allowed = allowed_paths(algorithm, problem, noise)
    if not isinstance(path, str) or path not in allowed:
        raise ValueError(
            f"stability_sweep: unknown grid path {path!r}; allowed paths for these components are {allowed}."
        )
    if path in _ALIASES:
        return _ALIASES[path]
    root, name = path.split(".", 1)
    return root, name


def _as_value(value):
    """Numpy scalars become Python scalars (ints stay ints: RandK(k) needs one)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value


def check_grid(grid, algorithm, problem, noise):
    """Normalize ``grid``: dict path -> (values list, coordinate array). Raises on bad keys."""
    if grid is None:
        return {}
    if not hasattr(grid, "items"):
        raise TypeError(
            f"stability_sweep: `grid` must be a mapping from parameter path to values, got {grid!r}."
        )
    seen = {}
    out = {}
    for path, values in grid.items():
        target = _resolve(path, algorithm, problem, noise)
        if target in seen:
            raise ValueError(
                f"stability_sweep: grid paths {seen[target]!r} and {path!r} name the same parameter."
            )
        seen[target] = path
        if isinstance(values, (list, tuple)):
            items = [_as_value(np.asarray(v)) if np.ndim(v) == 0 else np.asarray(v) for v in values]
        else:
            arr = np.asarray(values)
            if arr.ndim == 0:
                raise ValueError(
                    f"stability_sweep: grid values for {path!r} must be a 1-D array or a list, got a scalar."
                )
            items = [_as_value(v) if np.ndim(v) == 0 else np.asarray(v) for v in arr]
        if not items:
            raise ValueError(f"stability_sweep: grid values for {path!r} are empty.")
        if all(np.ndim(v) == 0 for v in items):
            coordinate = np.asarray(items)
            if len(set(coordinate.tolist())) != len(items):
                raise ValueError(f"stability_sweep: grid values for {path!r} repeat a value.")
        else:
            coordinate = np.arange(len(items))
        out[path] = (items, coordinate)
    return out


def build_cell(assignment, algorithm, problem, noise):
    """Concrete (algorithm, problem, noise) with the grid ``assignment`` {path: value} applied."""
    changes = {root: {} for root in _ROOTS}
    for path, value in assignment.items():
        root, name = _resolve(path, algorithm, problem, noise)
        changes[root][name] = value
    compressor = rebuild(algorithm.compressor, **changes["compressor"])
    if changes["compressor"]:
        if "compressor" not in _constructor_parameters(algorithm):
            raise ValueError(
                f"stability_sweep: {type(algorithm).__name__} has a fixed compressor; "
                "grid paths 'compressor.*' do not apply."
            )
        changes["algorithm"]["compressor"] = compressor
    return (
        rebuild(algorithm, **changes["algorithm"]),
        rebuild(problem, **changes["problem"]),
        rebuild(noise, **changes["noise"]),
    )


def _signature(model):
    params, static = eqx.partition(model, eqx.is_array)
    leaves = jtu.tree_leaves(params)
    return (
        jtu.tree_structure(static),
        tuple(jtu.tree_leaves(static)),
        tuple((leaf.shape, str(leaf.dtype)) for leaf in leaves),
    )


@dataclass
class Group:
    """Cells of one model that share a static signature: one compiled program."""

    model: str
    static: object
    cells: list[int] = field(default_factory=list)
    params: list = field(default_factory=list)


@dataclass
class Grid:
    """The resolved grid: cells (row-major over the grid dims), their components and groups."""

    dims: list[str]
    coordinates: dict
    shape: tuple[int, ...]
    cells: list  # (algorithm, problem, noise) per cell
    groups: list[Group]

    @property
    def n_cells(self) -> int:
        return len(self.cells)


def resolve_grid(grid, algorithm, problem, noise, models, model_options, check_components):
    """Build every cell and every model, validate, and group by static signature."""
    spec = check_grid(grid, algorithm, problem, noise)
    dims = list(spec)
    shape = tuple(len(spec[d][0]) for d in dims)
    cells = []
    for combo in itertools.product(*(spec[d][0] for d in dims)):
        cell = build_cell(dict(zip(dims, combo, strict=True)), algorithm, problem, noise)
        check_components(*cell)
        cells.append(cell)
    groups: list[Group] = []
    for name in models:
        signatures: list[tuple] = []
        mine: list[Group] = []
        for index, cell in enumerate(cells):
            model = make_model(name, *cell, **model_options(name))
            params, static = eqx.partition(model, eqx.is_array)
            signature = _signature(model)
            matches = [i for i, seen in enumerate(signatures) if seen == signature]
            if matches:
                group = mine[matches[0]]
            else:
                group = Group(name, static)
                signatures.append(signature)
                mine.append(group)
            group.cells.append(index)
            group.params.append(params)
        groups.extend(mine)
    coordinates = {d: spec[d][1] for d in dims}
    return Grid(dims, coordinates, shape, cells, groups)


def stack_params(params_list, rows):
    """Stack the array leaves of the cells ``rows`` (numpy, on the host)."""
    return jtu.tree_map(
        lambda *leaves: np.stack([np.asarray(leaf) for leaf in leaves]),
        *[params_list[r] for r in rows],
    )
