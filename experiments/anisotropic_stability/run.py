"""Stability on anisotropic quadratics: exact thresholds of the four models against Monte Carlo.

DCSGD with N = 8 workers, affine noise σ1 = 0.1, on f(x) = ½ xᵀHx in d = 10 with eigenvalues
geomspace(1, κ) (condition number κ), H diagonal or rotated by a fixed random orthogonal
matrix, compressed by a Bernoulli sparsifier (ω = 1/p − 1) or rand-k (ω = d/k − 1). For every
(compressor, rotation, κ, ω) it records:

* the exact mean-square thresholds of the discrete algorithm and its three SDE models
  (``sdejax.theory.ms_threshold``, exact second-moment operators, docs/theory.md §7);
* the Monte Carlo threshold of the discrete algorithm with its standard error (4,000 paths per
  cell for Bernoulli, 2,000 for rand-k)
  (``stability_sweep`` + ``sdejax.threshold``; population-dynamics estimator);
* the threshold read from the legacy pooled one-step ratio (``pooled=True``), which earlier
  versions reported: biased high on anisotropic problems.

Results: ``results/anisotropic_stability.nc``; the figure: ``plot.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402
from _common import ensure, parse  # noqa: E402

import sdejax  # noqa: E402

HERE = Path(__file__).resolve().parent
D, N_WORKERS, SIGMA1 = 10, 8, 0.1
CONDITIONS = (1.0, 10.0, 100.0)
# Steps per condition number: the clones must forget their start, which takes a few multiples
# of 1/(η* λ_min) steps (≈ 200 at κ = 100, see docs/theory.md §7); the burn-in is 25 %.
STEPS = {1.0: 200, 10.0: 400, 100.0: 1500}
OMEGAS = {"bernoulli": (0.5, 1.0, 3.0, 9.0), "rand_k": (1.0, 4.0, 9.0)}  # rand-k: k = 5, 2, 1
# Paths per cell: rand-k has no exact aggregate sampler (every worker is simulated), so it runs
# half as many paths to keep the run near an hour on 2 CPU cores.
PATHS = {"bernoulli": 4000, "rand_k": 2000}
MODELS = ("discrete", "corrected", "sme1", "sme2")


def rotation(d, seed=0):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def components(family, omega, kappa, rotated):
    eigenvalues = jnp.asarray(np.geomspace(1.0, kappa, D))
    basis = jnp.asarray(rotation(D)) if rotated else None
    problem = sdejax.Quadratic(eigenvalues, basis=basis)
    if family == "bernoulli":
        compressor = sdejax.BernoulliSparsifier(1.0 / (1.0 + omega))
    else:
        compressor = sdejax.RandK(int(round(D / (1.0 + omega))))
    return sdejax.DCSGD(compressor, N_WORKERS), problem, sdejax.AffineGaussianNoise(0.0, SIGMA1)


def save(rows, out, n_paths, start):
    table = xr.Dataset.from_dataframe(pd.DataFrame(rows))
    table.attrs.update(
        n_paths=n_paths,
        d=D,
        n_workers=N_WORKERS,
        sigma1=SIGMA1,
        sdejax_version=sdejax.__version__,
        runtime_s=time.perf_counter() - start,
    )
    table.to_netcdf(str(out) + ".tmp")
    Path(str(out) + ".tmp").replace(out)


def main():
    args = parse(__doc__.splitlines()[0], str(HERE))
    n_etas = 12 if args.quick else 20
    families = ("bernoulli",) if args.quick else tuple(OMEGAS)
    out = ensure(args.results) / "anisotropic_stability.nc"
    # Written after every cell; an interrupted run resumes from the cells already there.
    rows = xr.open_dataset(out).to_dataframe().to_dict("records") if out.exists() else []
    done = {(r["family"], r["rotated"], r["kappa"], r["omega"]) for r in rows}
    start = time.perf_counter()
    for family in families:
        n_paths = 500 if args.quick else PATHS[family]
        for rotated in (False, True):
            for kappa in CONDITIONS:
                for omega in OMEGAS[family]:
                    if (family, int(rotated), kappa, omega) in done:
                        continue
                    cell = components(family, omega, kappa, rotated)
                    exact = {m: sdejax.theory.ms_threshold(m, *cell) for m in MODELS}
                    # learning rates around the exact threshold, wide enough above it to hold
                    # the pooled estimator's biased crossing
                    etas = exact["discrete"] * np.geomspace(0.85, 1.3, n_etas)
                    steps = STEPS[kappa] // (4 if args.quick else 1)
                    ds = sdejax.stability_sweep(
                        *cell,
                        x0=jnp.ones(D),
                        learning_rates=etas,
                        steps=steps,
                        n_paths=n_paths,
                        key=jax.random.key(7),
                        pooled=True,
                        progress=False,
                    )
                    measured = sdejax.threshold(ds, "discrete")
                    pooled = sdejax.threshold(ds, "discrete", variable="ms_pooled_growth_rate")
                    rows.append(
                        dict(
                            family=family,
                            rotated=int(rotated),
                            kappa=kappa,
                            steps=steps,
                            n_paths=n_paths,
                            omega=omega,
                            **{f"exact_{m}": exact[m] for m in MODELS},
                            measured=float(measured),
                            measured_se=measured.se,
                            measured_bound=measured.bound,
                            pooled=float(pooled),
                            pooled_se=pooled.se,
                            pooled_bound=pooled.bound,
                        )
                    )
                    save(rows, out, n_paths, start)
                    z = (float(measured) - exact["discrete"]) / measured.se
                    print(
                        f"{family:9s} rotated={int(rotated)} κ={kappa:5g} ω={omega:4g}: exact "
                        f"{exact['discrete']:.4f} (corrected {exact['corrected']:.4f}), measured "
                        f"{float(measured):.4f} ± {measured.se:.4f} (z = {z:+.2f}), pooled "
                        f"{float(pooled):.4f}",
                        flush=True,
                    )
    print(f"wrote {out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
