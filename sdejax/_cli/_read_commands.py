"""``sdejax info`` and ``sdejax plot``: the commands that read a results file and never
compute (NumPy, xarray and matplotlib only; no JAX).
"""

from __future__ import annotations

import sys

from ._errors import CommandError


def _open(path, command: str, advice: str):
    from sdejax._results._persist import open_results

    return open_results(path, f"sdejax {command}", advice=advice)


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
    from sdejax._results._cells import _grid_dims, select_cells
    from sdejax._results._persist import completion

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
