"""Provenance attributes written into every Dataset (netCDF-safe: strings and numbers)."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path


def package_version() -> str:
    try:
        return metadata.version("sdejax")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "unknown"


def git_revision() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    revision = out.stdout.strip()
    try:  # uncommitted changes to tracked files: the numbers may not come from this revision
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return revision
    return revision + "+dirty" if status.returncode == 0 and status.stdout.strip() else revision


def describe(value) -> str:
    """A full, value-level description (equinox's repr abbreviates arrays to their shapes)."""
    import equinox as eqx

    return eqx.tree_pformat(value, short_arrays=False)


def provenance(**config) -> dict:
    """Attributes: the resolved configuration (as strings/numbers), version and git revision."""
    attrs = {"sdejax_version": package_version(), "git_revision": git_revision()}
    for name, value in config.items():
        if isinstance(value, (bool,)):
            attrs[name] = int(value)
        elif isinstance(value, (int, float, str)):
            attrs[name] = value
        elif value is None:
            attrs[name] = "None"
        else:
            attrs[name] = describe(value)
    return attrs


def describe_grid(grid) -> str:
    """A grid as JSON: {path: values} (array-valued entries as nested lists)."""
    import json

    import numpy as np

    if not grid:
        return "None"
    return json.dumps(
        {
            path: np.asarray(v).tolist()
            if not isinstance(v, (list, tuple))
            else [np.asarray(x).tolist() for x in v]
            for path, v in grid.items()
        }
    )


def describe_x0(x0) -> str:
    """A start point as JSON, or the name of the callable that makes it."""
    import json

    import numpy as np

    if callable(x0):
        return f"callable {getattr(x0, '__qualname__', repr(x0))}"
    return json.dumps(np.asarray(x0).tolist())
