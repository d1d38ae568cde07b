"""Sweep configurations as TOML: components by class name, grids as lists or ranges."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

_ALGORITHMS = ("DSGD", "DCSGD", "DSignSGD", "NormalizedDCSGD")
_COMPRESSORS = (
    "Identity",
    "RandK",
    "BernoulliSparsifier",
    "NaturalCompression",
    "RandomDithering",
    "Sign",
    "TopK",
)
_NOISES = ("GaussianNoise", "AffineGaussianNoise", "StudentTNoise")
_PROBLEMS = ("Quadratic", "Quartic")

EXAMPLE = """\
# sdejax sweep configuration (TOML). Run: sdejax sweep this.toml --out map.nc --png map.png
[algorithm]
name = "DCSGD"             # DSGD | DCSGD | DSignSGD | NormalizedDCSGD
n_workers = 8
compressor = { name = "BernoulliSparsifier", p = 0.25 }

[problem]
name = "Quadratic"         # Quadratic (eigenvalues = [...] or dim + curvature) | Quartic (dim)
dim = 10
curvature = 1.0

[noise]
name = "AffineGaussianNoise"   # GaussianNoise | AffineGaussianNoise | StudentTNoise
sigma0 = 0.0
sigma1 = 0.1

[sweep]
learning_rates = { start = 0.2, stop = 3.0, num = 64, spacing = "log" }
steps = 300
n_paths = 256
models = ["discrete", "sme1", "sme2", "corrected"]
seed = 0
x0 = 1.0                   # every coordinate of the start

[grid]                     # each entry becomes a dimension of the result
"compressor.p" = { start = 0.1, stop = 1.0, num = 16 }
"""


def values(spec, name):
    """A list, or {start, stop, num, spacing = "linear" | "log"}, as a float array."""
    if isinstance(spec, dict):
        try:
            start, stop, num = float(spec["start"]), float(spec["stop"]), int(spec["num"])
        except KeyError as missing:
            raise ValueError(
                f"config: `{name}` range needs start, stop and num ({missing} missing)."
            ) from None
        spacing = spec.get("spacing", "linear")
        if spacing == "log":
            return np.geomspace(start, stop, num)
        if spacing == "linear":
            return np.linspace(start, stop, num)
        raise ValueError(f"config: `{name}.spacing` must be 'linear' or 'log', got {spacing!r}.")
    return np.asarray(spec, dtype=float)


def _build(section: dict, allowed: tuple, what: str):
    import sdejax

    spec = dict(section)
    name = spec.pop("name", None)
    if name not in allowed:
        raise ValueError(f"config: `{what}.name` must be one of {allowed}, got {name!r}.")
    return getattr(sdejax, name), spec


def build(config: dict):
    """(algorithm, problem, noise, sweep keyword arguments) from a parsed configuration."""
    import jax
    import jax.numpy as jnp

    for section in ("algorithm", "problem", "noise", "sweep"):
        if section not in config:
            raise ValueError(f"config: missing section [{section}].")
    cls, spec = _build(config["algorithm"], _ALGORITHMS, "algorithm")
    if "compressor" in spec:
        ccls, cspec = _build(spec.pop("compressor"), _COMPRESSORS, "algorithm.compressor")
        algorithm = cls(ccls(**cspec), **spec)
    else:
        algorithm = cls(**spec)
    pcls, pspec = _build(config["problem"], _PROBLEMS, "problem")
    if pcls.__name__ == "Quadratic" and "eigenvalues" not in pspec:
        dim = int(pspec.pop("dim", 10))
        pspec = {"eigenvalues": float(pspec.pop("curvature", 1.0)) * jnp.ones(dim), **pspec}
    problem = pcls(**pspec)
    ncls, nspec = _build(config["noise"], _NOISES, "noise")
    noise = ncls(**nspec)
    sweep = dict(config["sweep"])
    seed = int(sweep.pop("seed", 0))
    x0 = sweep.pop("x0", 1.0)
    kwargs = {
        "x0": jnp.broadcast_to(jnp.asarray(x0, dtype=float), (problem.dim,)),
        "learning_rates": values(sweep.pop("learning_rates"), "sweep.learning_rates"),
        "key": jax.random.key(seed),
        **sweep,
    }
    if "models" in kwargs:
        kwargs["models"] = tuple(kwargs["models"])
    grid = {path: values(spec, f"grid.{path}") for path, spec in config.get("grid", {}).items()}
    if grid:
        kwargs["grid"] = grid
    return algorithm, problem, noise, kwargs


def load(path) -> dict:
    with Path(path).open("rb") as handle:
        return tomllib.load(handle)
