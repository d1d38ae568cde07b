"""``sdejax demo``: a stability map of DCSGD over learning rate × keep-probability, written
as a PNG and a netCDF file, with its threshold table printed. It imports JAX when it runs.
"""

from __future__ import annotations

import time
from pathlib import Path


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
