"""Shared helpers of the experiments: argument parsing and result paths."""

from __future__ import annotations

import argparse
from pathlib import Path


def parse(description: str, folder: str, extra=None) -> argparse.Namespace:
    """The experiments' common options; ``extra(parser)`` adds a script's own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, for smoke tests")
    parser.add_argument(
        "--results", default=str(Path(folder) / "results"), help="folder for the netCDF results"
    )
    parser.add_argument(
        "--figures", default=str(Path(folder) / "figures"), help="folder for the figures (plot.py)"
    )
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def ensure(path: str) -> Path:
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    return out
