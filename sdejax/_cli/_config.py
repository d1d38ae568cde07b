"""Sweep configurations as TOML: components by class name, grids as lists or ranges.

The schema (every section, key, type and default) is documented in ``docs/config.md``; the
tables below are its single source in code, and ``tests/test_cli.py`` checks them against the
constructors' signatures. Every problem raises :class:`ConfigError`, whose one-line message names
the file, the key, the value and what is allowed. Nothing here imports JAX at module level.

Longer than the 300-line guideline because it is one concept, the TOML schema and its reader:
the schema tables, the example, the checking ``_Reader`` and ``build`` are kept side by side
so that they stay in step with each other and with ``docs/config.md``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

# Keys of each component table besides ``name``: key -> kind. Kinds: "int" (an integer),
# "number" (int or float), "numbers" (a number, or a per-worker list of numbers), "str",
# "table" (the compressor).
ALGORITHMS = {
    "DSGD": {"n_workers": "int"},
    "DCSGD": {"compressor": "table", "n_workers": "int"},
    "DSignSGD": {"n_workers": "int", "vote": "str"},
    "NormalizedDCSGD": {"compressor": "table", "n_workers": "int", "scaling": "str"},
}
COMPRESSORS = {
    "Identity": {},
    "RandK": {"k": "int"},
    "BernoulliSparsifier": {"p": "number"},
    "NaturalCompression": {},
    "RandomDithering": {"levels": "int"},
    "Sign": {},
    "TopK": {"k": "int"},
}
NOISES = {
    "GaussianNoise": {"sigma": "numbers"},
    "AffineGaussianNoise": {"sigma0": "numbers", "sigma1": "numbers"},
    "StudentTNoise": {"df": "numbers", "scale": "numbers"},
}
PROBLEMS = {
    "Quadratic": {"eigenvalues": "numbers", "dim": "int", "curvature": "number"},
    "Quartic": {"dim": "int"},
}
# [sweep]: key -> (kind, required). "grid" kinds accept a list or a range table.
SWEEP = {
    "learning_rates": ("range", True),
    "steps": ("int", True),
    "n_paths": ("int", True),
    "models": ("models", False),
    "seed": ("int", False),
    "x0": ("numbers", False),
    "sde_substeps": ("int", False),
    "burn_in": ("number", False),
    "sampling": ("str", False),
    "path_block": ("int", False),
    "eta_block": ("int", False),
    "memory_budget": ("bytes", False),
    "divergence_bound": ("number", False),
}
SECTIONS = ("algorithm", "problem", "noise", "sweep", "grid")
_RANGE_KEYS = ("start", "stop", "num", "spacing")
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})

EXAMPLE = """\
# sdejax sweep configuration (TOML); every key is described in docs/config.md.
# Run: sdejax sweep this.toml --out map.nc --png map.png   (run it again to resume)
[algorithm]
name = "DCSGD"             # DSGD | DCSGD | DSignSGD | NormalizedDCSGD
n_workers = 8
compressor = { name = "BernoulliSparsifier", p = 0.25 }

[problem]
name = "Quadratic"         # Quadratic (eigenvalues = [...], or dim + curvature) | Quartic (dim)
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
x0 = 1.0                   # every coordinate of the start (or a list of dim numbers)
# optional: sde_substeps = 10, burn_in = 0.25, sampling = "auto", path_block = 256,
#           eta_block = 16, memory_budget = "512MiB", divergence_bound = 1e7

[grid]                     # each entry becomes a dimension of the result
"compressor.p" = { start = 0.1, stop = 1.0, num = 16 }
"""


class ConfigError(ValueError):
    """A bad configuration; ``str(error)`` is one line naming file, key, value and what is allowed."""


def _show(value) -> str:
    """A value as it would be written in TOML (strings quoted, compact lists and tables)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


class _Reader:
    """Raises ConfigError with the file name in front."""

    def __init__(self, source: str):
        self.source = source

    def error(self, key: str, value, allowed: str) -> ConfigError:
        shown = "" if value is _MISSING else f" = {_show(value)}"
        return ConfigError(f"{self.source}: {key}{shown}: {allowed}".replace("\n", " "))

    def table(self, config: dict, key: str, example: str):
        if key not in config:
            raise ConfigError(f"{self.source}: missing section [{key}]; {example}")
        value = config[key]
        if not isinstance(value, dict):
            raise self.error(key, value, f"must be a table, e.g. [{key}] {example}")
        return value

    def unknown(self, where: str, table: dict, allowed) -> None:
        extra = sorted(set(table) - set(allowed))
        if extra:
            raise ConfigError(
                f"{self.source}: [{where}] has unknown key{'s' if len(extra) > 1 else ''} "
                f"{', '.join(extra)}; allowed keys: {', '.join(sorted(allowed)) or '(none)'}."
            )

    def kind(self, key: str, value, kind: str):
        """``value`` checked against ``kind``; returns it (lists stay lists, ints stay ints)."""
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.error(key, value, "must be an integer.")
            return value
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.error(key, value, "must be a number.")
            return value
        if kind == "numbers":
            items = value if isinstance(value, list) else [value]
            if not items or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in items):
                raise self.error(key, value, "must be a number or a non-empty list of numbers.")
            return value
        if kind == "str":
            if not isinstance(value, str):
                raise self.error(key, value, 'must be a string (in quotes, e.g. "mean").')
            return value
        if kind == "bytes":
            return self.bytes(key, value)
        raise AssertionError(kind)

    def bytes(self, key: str, value) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise self.error(key, value, "must be a number of bytes >= 1.")
            return value
        if isinstance(value, str):
            match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", value)
            if match and match.group(2).lower() in _UNITS:
                count = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
                if count >= 1:
                    return count
        raise self.error(key, value, 'must be bytes (an integer) or a size such as "512MB", "512MiB", "2GB".')

    def values(self, key: str, spec):
        """A grid: a non-empty list (ints stay ints) or {start, stop, num, spacing}."""
        if isinstance(spec, dict):
            return self.range(key, spec)
        if isinstance(spec, list):
            if not spec:
                raise self.error(key, spec, "must not be empty.")
            return spec
        raise self.error(
            key, spec, "must be a list of values or a range { start = …, stop = …, num = …, spacing = … }."
        )

    def range(self, key: str, spec: dict):
        import numpy as np

        self.unknown(key, spec, _RANGE_KEYS)
        for name in ("start", "stop", "num"):
            if name not in spec:
                raise self.error(key, spec, f"a range needs start, stop and num ({name} is missing).")
        start = self.kind(f"{key}.start", spec["start"], "number")
        stop = self.kind(f"{key}.stop", spec["stop"], "number")
        num = self.kind(f"{key}.num", spec["num"], "int")
        if num < 1:
            raise self.error(f"{key}.num", num, "must be >= 1.")
        spacing = spec.get("spacing", "linear")
        if spacing == "log":
            if start <= 0 or stop <= 0:
                raise self.error(key, spec, 'spacing = "log" needs start > 0 and stop > 0.')
            grid = np.geomspace(start, stop, num)
        elif spacing == "linear":
            grid = np.linspace(start, stop, num)
        else:
            raise self.error(f"{key}.spacing", spacing, 'must be "linear" or "log".')
        if isinstance(start, int) and isinstance(stop, int) and np.all(grid == np.round(grid)):
            return [int(v) for v in np.round(grid)]  # an integer range stays integer (k, N)
        return [float(v) for v in grid]

    def component(self, section: dict, where: str, schema: dict):
        """(class name, keyword arguments) of a component table."""
        if "name" not in section:
            raise ConfigError(f"{self.source}: [{where}] needs name = one of {', '.join(schema)}.")
        name = section["name"]
        if not isinstance(name, str) or name not in schema:
            raise self.error(f"{where}.name", name, f"must be one of {', '.join(schema)}.")
        allowed = schema[name]
        self.unknown(where, section, ["name", *allowed])
        kwargs = {}
        for key, value in section.items():
            if key != "name" and allowed.get(key) not in ("table", None):
                kwargs[key] = self.kind(f"{where}.{key}", value, allowed[key])
        return name, kwargs


_MISSING = object()


def _construct(reader: _Reader, key: str, cls, kwargs: dict, shown):
    """``cls(**kwargs)``; the constructor's own error becomes a ConfigError naming ``key``."""
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise reader.error(key, shown, str(error)) from None


def build(config: dict, source: str = "config"):
    """(algorithm, problem, noise, sweep keyword arguments) from a parsed configuration.

    ``source`` (the file name) starts every error message.
    """
    import sdejax

    reader = _Reader(source)
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: the configuration must be a TOML document of tables.")
    reader.unknown("top level", config, SECTIONS)
    algorithm_table = reader.table(config, "algorithm", 'name = "DCSGD", n_workers = 8, compressor = {...}')
    problem_table = reader.table(config, "problem", 'name = "Quadratic", dim = 10')
    noise_table = reader.table(config, "noise", 'name = "GaussianNoise", sigma = 0.1')
    sweep_table = reader.table(config, "sweep", "learning_rates = [...], steps = 300, n_paths = 256")
    grid_table = config.get("grid", {})
    if not isinstance(grid_table, dict):
        raise reader.error("grid", grid_table, 'must be a table, e.g. [grid] "compressor.p" = [0.25, 0.5].')

    name, kwargs = reader.component(algorithm_table, "algorithm", ALGORITHMS)
    if "n_workers" not in algorithm_table:
        raise ConfigError(f"{source}: [algorithm] needs n_workers = an integer >= 1.")
    if "compressor" in ALGORITHMS[name]:
        spec = algorithm_table.get("compressor", _MISSING)
        if spec is _MISSING:
            raise ConfigError(
                f"{source}: [algorithm] {name} needs compressor = {{ name = …, … }} "
                f"(one of {', '.join(COMPRESSORS)})."
            )
        if isinstance(spec, str):  # shorthand for a compressor without arguments
            spec = {"name": spec}
        if not isinstance(spec, dict):
            raise reader.error(
                "algorithm.compressor", spec, 'must be a table such as { name = "RandK", k = 2 }.'
            )
        cname, ckwargs = reader.component(spec, "algorithm.compressor", COMPRESSORS)
        kwargs["compressor"] = _construct(
            reader, "algorithm.compressor", getattr(sdejax, cname), ckwargs, spec
        )
    algorithm = _construct(reader, "algorithm", getattr(sdejax, name), kwargs, algorithm_table)

    pname, pkwargs = reader.component(problem_table, "problem", PROBLEMS)
    if pname == "Quadratic":
        if "eigenvalues" in pkwargs:
            if "dim" in pkwargs or "curvature" in pkwargs:
                raise reader.error(
                    "problem",
                    problem_table,
                    "give either eigenvalues = [...] or dim and curvature, not both.",
                )
            values = pkwargs["eigenvalues"]
            pkwargs["eigenvalues"] = values if isinstance(values, list) else [values]
        else:
            dim = pkwargs.pop("dim", 10)
            pkwargs = {"eigenvalues": [float(pkwargs.pop("curvature", 1.0))] * max(dim, 0)}
            if dim < 1:
                raise reader.error("problem.dim", dim, "must be an integer >= 1.")
        import jax.numpy as jnp

        pkwargs["eigenvalues"] = jnp.asarray(pkwargs["eigenvalues"], dtype=float)
    problem = _construct(reader, "problem", getattr(sdejax, pname), pkwargs, problem_table)

    nname, nkwargs = reader.component(noise_table, "noise", NOISES)
    noise = _construct(reader, "noise", getattr(sdejax, nname), nkwargs, noise_table)

    return algorithm, problem, noise, _sweep_kwargs(reader, sweep_table, grid_table, problem.dim)


def _sweep_kwargs(reader: _Reader, sweep: dict, grid: dict, dim: int) -> dict:
    import jax
    import numpy as np

    import sdejax

    reader.unknown("sweep", sweep, SWEEP)
    for key, (_, required) in SWEEP.items():
        if required and key not in sweep:
            raise ConfigError(
                f"{reader.source}: [sweep] needs {key}"
                + (
                    ' = a list of learning rates or { start = …, stop = …, num = …, spacing = "log" }.'
                    if key == "learning_rates"
                    else " = an integer >= 1."
                )
            )
    kwargs = {}
    for key, value in sweep.items():
        kind = SWEEP[key][0]
        if kind == "range":
            rates = reader.kind(f"sweep.{key}", reader.values(f"sweep.{key}", value), "numbers")
            kwargs[key] = np.asarray(rates, dtype=float)
        elif kind == "models":
            models = [value] if isinstance(value, str) else value
            if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
                raise reader.error(
                    "sweep.models",
                    value,
                    f"must be a model name or a list of names from {', '.join(sdejax.MODELS)}.",
                )
            unknown = [m for m in models if m not in sdejax.MODELS]
            if unknown:
                raise reader.error(
                    "sweep.models",
                    value,
                    f"unknown model {unknown[0]!r}; allowed: {', '.join(sdejax.MODELS)}.",
                )
            kwargs[key] = tuple(models)
        else:
            kwargs[key] = reader.kind(f"sweep.{key}", value, kind)
    seed = kwargs.pop("seed", 0)
    if seed < 0:
        raise reader.error("sweep.seed", seed, "must be an integer >= 0.")
    kwargs["key"] = jax.random.key(seed)
    x0 = kwargs.pop("x0", 1.0)
    if isinstance(x0, list) and len(x0) != dim:
        raise reader.error(
            "sweep.x0",
            x0,
            f"must be one number or a list of {dim} numbers (the problem's dim), got {len(x0)}.",
        )
    kwargs["x0"] = np.broadcast_to(np.asarray(x0, dtype=float), (dim,))
    values = {path: reader.values(f"grid.{path}", spec) for path, spec in grid.items()}
    if values:
        kwargs["grid"] = values
    return kwargs


def load(path) -> dict:
    """The parsed TOML file; ConfigError naming the file (and line and column) otherwise."""
    import tomllib

    try:
        with Path(path).open("rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the configuration ({error.strerror or error}).") from None
    except tomllib.TOMLDecodeError as error:
        text = str(error)
        where = re.search(r"\(at line (\d+), column (\d+)\)", text)
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", text)
        position = f"line {where.group(1)}, column {where.group(2)}" if where else "end of file"
        raise ConfigError(f"{path}: TOML syntax error at {position}: {message}.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (TOML must be UTF-8).") from None
