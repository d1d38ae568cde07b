"""``sdejax sweep`` and ``sdejax example-config``: run a stability sweep from a TOML
configuration, or rebuild one from the configuration JSON of a results file and re-run
(resume) it; print the example configuration. JAX is imported only when a sweep runs.
"""

from __future__ import annotations

import sys

from ._errors import CommandError
from ._read_commands import _open


def _needs_x64(config: dict, attrs: dict) -> bool:
    """Whether the stored run computed with 64-bit JAX types: its dtype is float64, or its
    components hold 64-bit arrays (they take JAX's default types when they are built)."""

    def wide(description) -> bool:
        if isinstance(description, list):
            return any(wide(v) for v in description)
        if not isinstance(description, dict):
            return False
        if "array" in description:
            return str(description.get("dtype")) in ("float64", "int64", "uint64", "complex128")
        return any(wide(v) for v in description.get("args", {}).values())

    return str(attrs.get("dtype")) == "float64" or any(
        wide(config[name]) for name in ("algorithm", "problem", "noise")
    )


def _rebuild(path):
    """(algorithm, problem, noise, sweep keyword arguments, stored Dataset) of a results file,
    from its ``config`` attribute (JSON written by stability_sweep)."""
    from .. import _spec
    from ._tables import callables

    ds = _open(path, "sweep", "pass a results file written by stability_sweep or `sdejax sweep`")
    if "time" in ds.dims:
        raise CommandError(
            f"{path}: a simulation (sdejax.simulate), not a sweep; --from re-runs stability sweeps only."
        )
    if "config" not in ds.attrs:
        raise CommandError(
            f"{path}: holds no configuration JSON (written by an older sdejax), so it cannot be "
            "rebuilt; run the sweep again from its TOML file or script."
        )
    try:
        config = _spec.loads(ds.attrs["config"])
    except ValueError as error:
        raise CommandError(f"{path}: its configuration is not valid JSON ({error}).") from None
    found = list(callables(config))
    if found:
        where = ", ".join(f"{w} holds a Python callable ({name})" for w, name in found)
        raise CommandError(
            f"{path}: cannot be rebuilt from the file: {where}, which a results file cannot store; "
            "re-run the script that made it."
        )
    import jax
    import jax.random as jr
    import numpy as np

    import sdejax

    if _needs_x64(config, ds.attrs):
        jax.config.update("jax_enable_x64", True)
    try:
        algorithm, problem, noise = (
            _spec.build(config[k], k, classes=sdejax) for k in ("algorithm", "problem", "noise")
        )
        sweep = _spec.build(config["sweep"], "sweep", classes=sdejax)
        key = jr.wrap_key_data(np.asarray(sweep.pop("key_data"), np.uint32), impl=sweep.pop("key_impl"))
    except (KeyError, TypeError, ValueError) as error:
        raise CommandError(f"{path}: cannot be rebuilt from the file: {error}") from None
    return algorithm, problem, noise, {**sweep, "key": key}, ds


def _sweep(args) -> int:
    from ._config import ConfigError, _Reader, build, load

    if args.source is not None:
        if args.config is not None:
            raise CommandError(
                f"give a configuration file or --from {args.source}, not both (got {args.config})."
            )
        out = args.out or args.source
        algorithm, problem, noise, kwargs, stored = _rebuild(args.source)
        source = str(args.source)
        from sdejax._results._persist import completion

        done, total = completion(stored)
        if out != args.source:
            print(f"re-running the configuration of {args.source} into {out}")
        elif done < total:
            print(f"resuming {out}: {done} of {total} tasks already computed")
        else:
            print(f"{out} is complete ({done} of {total} tasks); nothing to compute")
    else:
        if args.config is None:
            raise CommandError("give a TOML configuration file, or --from results.nc to re-run a file.")
        if args.out is None:
            raise CommandError(f"{args.config}: pass --out results.nc (where the results go).")
        out, source = args.out, str(args.config)
        algorithm, problem, noise, kwargs = build(load(args.config), source=source)
    if args.memory_budget is not None:
        kwargs["memory_budget"] = _Reader("--memory-budget").bytes("value", args.memory_budget)

    import sdejax
    from sdejax._engine._config import check_output_path
    from sdejax._results._persist import ResultsFileError

    from ._tables import threshold_tables

    check_output_path(out, "sdejax sweep")
    try:
        ds = sdejax.stability_sweep(algorithm, problem, noise, out=out, progress=not args.quiet, **kwargs)
    except ResultsFileError:
        raise
    except (TypeError, ValueError) as error:
        # The library's messages name the parameter; the file is what the user edits.
        raise ConfigError(f"{source}: {error}") from error
    if args.png:
        fig = sdejax.plot_stability_map(ds)
        fig.savefig(args.png, dpi=120, bbox_inches="tight")
    print(threshold_tables(ds))
    print(f"wrote {out}" + (f" and {args.png}" if args.png else ""))
    return 0


def _example_config(args) -> int:
    from ._config import EXAMPLE

    sys.stdout.write(EXAMPLE)
    return 0
