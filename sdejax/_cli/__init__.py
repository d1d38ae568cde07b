"""The ``sdejax`` command line: ``demo``, ``sweep``, ``plot``, ``example-config``.

A bad configuration, a bad option value or an unusable results file prints one line to stderr
(the file, the key, the value and what is allowed) and exits with status 2; ``--debug`` shows the
traceback instead. This module imports JAX only inside the commands that compute, so
``--help``, ``--version`` and ``example-config`` start fast.
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
    for model in ds["model"].values:
        thresholds, errors = sdejax.threshold(ds, str(model), with_se=True)
        exact = ds["theory_threshold"].sel(model=model)
        print(f"{model}: measured mean-square threshold η* ± SE against the exact value, per p:")
        print("       p   measured η* ± SE     exact η*   (measured − exact)/SE")
        for p in keep:
            cell = {"compressor.p": p}
            measured, se, truth = (float(a.sel(cell)) for a in (thresholds, errors, exact))
            if thresholds.sel(cell)["bound"] != "inside":
                text = f"crossing {str(thresholds.sel(cell)['bound'].values)} the grid"
                print(f"  {p:6.3f}   {text:>18}   {truth:9.4f}")
                continue
            z = (measured - truth) / se if se > 0 else float("nan")
            print(f"  {p:6.3f}   {measured:7.4f} ± {se:6.4f}   {truth:9.4f}   {z:+6.2f}")
    print(f"wrote {png} and {netcdf}")
    return 0


def _grid_dims(ds) -> list:
    return [dim for dim in ds["ms_growth_rate"].dims if dim not in ("model", "learning_rate")]


def _sweep(args) -> int:
    from ._config import ConfigError, _Reader, build, load

    config = load(args.config)
    algorithm, problem, noise, kwargs = build(config, source=str(args.config))
    if args.memory_budget is not None:
        kwargs["memory_budget"] = _Reader("--memory-budget").bytes("value", args.memory_budget)

    import sdejax
    from sdejax._engine._config import check_output_path
    from sdejax._results._persist import ResultsFileError

    check_output_path(args.out, "sdejax sweep")
    try:
        ds = sdejax.stability_sweep(
            algorithm, problem, noise, out=args.out, progress=not args.quiet, **kwargs
        )
    except ResultsFileError:
        raise
    except (TypeError, ValueError) as error:
        # The library's messages name the parameter; the file is what the user edits.
        raise ConfigError(f"{args.config}: {error}") from error
    if args.png:
        grid_dims = _grid_dims(ds)
        fig = sdejax.plot_stability_map(ds, x=grid_dims[0] if grid_dims else None)
        fig.savefig(args.png, dpi=120, bbox_inches="tight")
    for model in ds["model"].values:
        print(f"{model}: threshold {sdejax.threshold(ds, str(model))}")
    print(f"wrote {args.out}" + (f" and {args.png}" if args.png else ""))
    return 0


def _plot(args) -> int:
    import sdejax
    from sdejax._results._persist import completion, open_results

    ds = open_results(args.netcdf, "sdejax plot", advice="run the sweep again to rewrite it")
    done, total = completion(ds)
    if done < total:
        print(
            f"warning: {args.netcdf} is partial: {done} of {total} cells computed (the sweep was "
            "stopped or is still running); missing cells are hatched in the plot. Re-run the same "
            "`sdejax sweep` command to finish it.",
            file=sys.stderr,
        )
    if "time" in ds.dims:
        fig = sdejax.plot_trajectories(ds)
    else:
        grid_dims = _grid_dims(ds)
        fig = sdejax.plot_stability_map(ds, x=grid_dims[0] if grid_dims else None)
    fig.savefig(args.png, dpi=120, bbox_inches="tight")
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
    sweep = sub.add_parser("sweep", parents=[debug], help="run a stability sweep from a TOML configuration")
    sweep.add_argument("config", help="TOML file (keys: docs/config.md; example: sdejax example-config)")
    sweep.add_argument("--out", required=True, help="netCDF output; re-running resumes finished chunks")
    sweep.add_argument("--png", help="also draw the stability map to this PNG")
    sweep.add_argument(
        "--memory-budget", help='bytes per chunk: an integer or a size such as "512MB" or "1GiB"'
    )
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(run=_sweep)
    plot = sub.add_parser("plot", parents=[debug], help="draw a saved sweep (or simulation) netCDF file")
    plot.add_argument("netcdf")
    plot.add_argument("--png", required=True)
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
