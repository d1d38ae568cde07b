"""The ``sdejax`` command line: ``demo``, ``sweep``, ``info``, ``plot``, ``example-config``.

A bad configuration, a bad option value or an unusable results file prints one line to stderr
(the file, the key, the value and what is allowed) and exits with status 2; ``--debug`` shows the
traceback instead. This module imports JAX only inside the commands that compute, so
``--help``, ``--version``, ``example-config``, ``info`` and ``plot`` start fast (the last two
read the file and never compile anything).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

USAGE_ERROR = 2  # exit status for a bad configuration or option, as argparse uses


class CommandError(ValueError):
    """A user-facing error of a command: printed as one line, exit status 2."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sdejax")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _demo(args) -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import sdejax

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    d, n_workers, sigma1 = 10, 8, 0.1
    algorithm = sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), n_workers)
    problem = sdejax.Quadratic(jnp.ones(d))
    noise = sdejax.AffineGaussianNoise(0.0, sigma1)
    n_rates, n_levels = (16, 6) if args.quick else (48, 12)
    keep = np.round(np.geomspace(0.08, 1.0, n_levels), 4)
    etas = np.geomspace(0.3, 3.0, n_rates)
    print(
        f"sdejax demo: DCSGD on f = ½‖x‖², d = {d}, N = {n_workers} workers, affine noise "
        f"σ1 = {sigma1}; grid {n_rates} learning rates × {n_levels} keep-probabilities p "
        f"(ω = 1/p − 1), {args.paths} paths per cell, {args.steps} steps."
    )
    start = time.perf_counter()
    netcdf = out_dir / "stability_map.nc"
    if netcdf.exists() and not args.resume:
        netcdf.unlink()  # a fresh demo; --resume continues an interrupted one instead
    ds = sdejax.stability_sweep(
        algorithm,
        problem,
        noise,
        x0=jnp.ones(d),
        learning_rates=etas,
        steps=args.steps,
        n_paths=args.paths,
        key=jax.random.key(args.seed),
        models=tuple(args.models),
        grid={"compressor.p": keep},
        out=str(netcdf),
        progress=not args.quiet,
    )
    elapsed = time.perf_counter() - start
    png = out_dir / "stability_map.png"
    fig = sdejax.plot_stability_map(ds, x="compressor.p")
    fig.suptitle(
        f"DCSGD on f = ½‖x‖², d = {d}, N = {n_workers}, Bernoulli sparsification, "
        f"affine noise σ1 = {sigma1}: {args.paths} paths × {args.steps} steps per cell",
        y=1.035,
        fontsize=10,
    )
    fig.savefig(png, dpi=120, bbox_inches="tight")
    print(f"done in {elapsed:.1f} s")
    from ._tables import threshold_tables

    print(threshold_tables(ds))
    print(f"wrote {png} and {netcdf}")
    return 0


def _grid_dims(ds) -> list:
    return [dim for dim in ds["ms_growth_rate"].dims if dim not in ("model", "learning_rate")]


def _open(path, command: str, advice: str):
    from sdejax._results._persist import open_results

    return open_results(path, f"sdejax {command}", advice=advice)


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

    if _needs_x64(config, ds.attrs):
        jax.config.update("jax_enable_x64", True)
    try:
        algorithm, problem, noise = (_spec.build(config[k], k) for k in ("algorithm", "problem", "noise"))
        sweep = _spec.build(config["sweep"], "sweep")
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


def _info(args) -> int:
    from ._tables import dumps_config, info

    ds = _open(args.netcdf, "info", "pass a results file written by sdejax")
    if args.json:
        if "config" not in ds.attrs:
            raise CommandError(f"{args.netcdf}: holds no configuration JSON.")
        print(dumps_config(ds))
    else:
        print(info(ds, args.netcdf))
    return 0


def _parse_select(items) -> dict:
    """``["compressor.p=0.5", ...]`` as {dimension: value} (numbers parsed, else strings)."""
    chosen = {}
    for item in items or ():
        name, sep, text = item.partition("=")
        if not sep or not name.strip() or not text.strip():
            raise CommandError(f"--select {item!r}: write DIMENSION=VALUE, e.g. --select noise.sigma1=0.1.")
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                value = text.strip()
        chosen[name.strip()] = value
    return chosen


def _plot(args) -> int:
    import matplotlib

    matplotlib.use("Agg")  # a file, never a window

    import numpy as np

    import sdejax
    from sdejax._results._persist import completion
    from sdejax._results._plots import select_cells

    from ._tables import _number, threshold_tables

    ds = _open(args.netcdf, "plot", "run the sweep again to rewrite it")
    select = _parse_select(args.select)
    if "time" in ds.dims:
        if select or args.models or args.variables or args.x:
            raise CommandError(
                f"{args.netcdf}: a simulation (sdejax.simulate); --select, --models, --variables "
                "and --x apply to sweep files."
            )
        fig = sdejax.plot_trajectories(ds)
        fig.savefig(args.png, dpi=120, bbox_inches="tight")
        print(f"wrote {args.png}")
        return 0
    done, total = completion(ds)
    if done < total:
        print(
            f"warning: {args.netcdf} is partial: {done} of {total} cells computed (the sweep was "
            "stopped or is still running); missing cells are hatched in the plot. Re-run "
            f"`sdejax sweep --from {args.netcdf}` to finish it.",
            file=sys.stderr,
        )
    options = {"select": select, "models": args.models, "x": args.x}
    if args.variables:
        options["variables"] = args.variables
    fig = sdejax.plot_stability_map(ds, **options)
    fig.savefig(args.png, dpi=120, bbox_inches="tight")
    view, fixed = select_cells(ds, select, "sdejax plot")
    rest = _grid_dims(view)
    for dim in rest[1:] if args.x is None else [d for d in rest if d != args.x]:
        print(
            f"note: {dim} has {view[dim].size} values; the plot shows {dim} = "
            f"{_number(view[dim].values[0].item())}; choose another with --select {dim}=VALUE.",
            file=sys.stderr,
        )
    if fixed:
        print("selected: " + ", ".join(f"{k} = {_number(np.asarray(v).item())}" for k, v in fixed.items()))
    print(threshold_tables(view, args.models))
    print(f"wrote {args.png}")
    return 0


def _example_config(args) -> int:
    from ._config import EXAMPLE

    sys.stdout.write(EXAMPLE)
    return 0


def parser() -> argparse.ArgumentParser:
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of an error instead of one line",
    )
    main = argparse.ArgumentParser(
        prog="sdejax",
        description="Simulate distributed compressed optimizers and their SDE models in JAX.",
        epilog="Configuration keys: docs/config.md. Errors print one line (exit status 2); "
        "--debug shows the traceback.",
    )
    main.add_argument("--version", action="version", version=f"sdejax {_version()}")
    main.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = main.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", parents=[debug], help="stability map of DCSGD: learning rate × compression level"
    )
    demo.add_argument(
        "--out-dir", default="outputs/demo", help="folder for the PNG and netCDF (default: outputs/demo)"
    )
    demo.add_argument("--paths", type=int, default=256, help="paths per grid cell (default: 256)")
    demo.add_argument("--steps", type=int, default=200, help="steps per path (default: 200)")
    demo.add_argument(
        "--models",
        nargs="+",
        default=["discrete"],
        help="models to map, e.g. discrete corrected sme1 (default: discrete)",
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quick", action="store_true", help="a small grid for a smoke test")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted demo from its netCDF file instead of starting over",
    )
    demo.set_defaults(run=_demo)
    sweep = sub.add_parser(
        "sweep",
        parents=[debug],
        help="run a stability sweep from a TOML configuration, or re-run (resume) a results file",
    )
    sweep.add_argument(
        "config", nargs="?", help="TOML file (keys: docs/config.md; example: sdejax example-config)"
    )
    sweep.add_argument(
        "--from",
        dest="source",
        metavar="RESULTS_NC",
        help="re-run the configuration stored in this results file (resumes it if partial)",
    )
    sweep.add_argument(
        "--out",
        help="netCDF output; re-running resumes finished chunks (default with --from: that file)",
    )
    sweep.add_argument("--png", help="also draw the stability map to this PNG")
    sweep.add_argument(
        "--memory-budget", help='bytes per chunk: an integer or a size such as "512MB" or "1GiB"'
    )
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(run=_sweep)
    info = sub.add_parser(
        "info",
        parents=[debug],
        help="show a results file: its configuration, how complete it is, and its thresholds",
    )
    info.add_argument("netcdf")
    info.add_argument("--json", action="store_true", help="print the stored configuration JSON instead")
    info.set_defaults(run=_info)
    plot = sub.add_parser("plot", parents=[debug], help="draw a saved sweep (or simulation) netCDF file")
    plot.add_argument("netcdf")
    plot.add_argument("--png", required=True)
    plot.add_argument(
        "--select",
        action="append",
        metavar="DIM=VALUE",
        help="a value for a grid dimension (repeatable); selecting every grid dimension draws curves",
    )
    plot.add_argument("--models", nargs="+", help="models to draw (default: all)")
    plot.add_argument(
        "--variables",
        nargs="+",
        help="one row per variable (default: ms_growth_rate diverged_fraction), "
        "e.g. as_growth_rate final_loss_mean",
    )
    plot.add_argument("--x", help="grid dimension on the horizontal axis (default: the first not selected)")
    plot.set_defaults(run=_plot)
    example = sub.add_parser(
        "example-config", parents=[debug], help="print an example sweep configuration (docs/config.md)"
    )
    example.set_defaults(run=_example_config)
    return main


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (CommandError, ValueError, TypeError) as error:
        if args.debug:
            raise
        message = " ".join(str(error).split())  # one line, whatever the library wrote
        message = message.removeprefix(f"sdejax {args.command}: ")
        print(f"sdejax {args.command}: error: {message} (--debug shows the traceback)", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"sdejax {args.command}: interrupted; run the same command again to resume.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`sdejax info map.nc | head`): no traceback, and none at exit
        # when Python flushes stdout (the recipe of the Python docs, "Note on SIGPIPE").
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
