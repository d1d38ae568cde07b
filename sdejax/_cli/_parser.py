"""The argparse parser of the ``sdejax`` command line: its subcommands, their options and
help texts, each subcommand bound to the function that runs it.
"""

from __future__ import annotations

import argparse

from ._demo import _demo
from ._read_commands import _info, _plot
from ._sweep_command import _example_config, _sweep


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sdejax")
    except PackageNotFoundError:
        return "unknown (not installed)"


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
