"""W1–W5 of benchmarks/README.md: each returns Measurements of sdejax, its peers and floors."""

from __future__ import annotations

import time
from dataclasses import replace
from functools import partial

import _common
import jax.numpy as jnp
import jax.random as jr
import jax_baselines
import numpy as np
import peers_numpy
import peers_torch
import sde
from _common import Measurement, measure
from discrete_specs import DSGD, W1, W1B, W2


def _simulate(spec, paths, steps, sampling="auto", seed=0):
    import sdejax

    algorithm, problem, noise = spec.sdejax_components()

    def run():
        return sdejax.simulate(
            algorithm,
            problem,
            noise,
            x0=jnp.ones(spec.d),
            learning_rate=spec.learning_rate,
            steps=steps,
            n_paths=paths,
            key=jr.key(seed),
            save_every=steps,
            sampling=sampling,
        )

    return run


def _resolved_sampling(spec):
    import sdejax

    return sdejax.DiscreteModel(*spec.sdejax_components()).sampling


def _torch(spec, paths, steps, threads=None):
    missing = peers_torch.available()
    if missing:
        return None, missing
    note = "torch " + __import__("torch").__version__ + (f", {threads} thread" if threads else "")
    return (lambda: peers_torch.discrete(spec, paths, steps, threads=threads)), note


def _discrete(workload, spec, sizes, *, with_model_only=True):
    paths, steps, peer = sizes.paths, sizes.steps, sizes.peer_steps
    sampling = _resolved_sampling(spec)
    key = jr.key(0)
    torch_fn, torch_note = _torch(spec, paths, peer)
    torch1_fn, torch1_note = _torch(spec, paths, peer, threads=1)
    # Per-worker sampling (W1b) is as slow per path-step as the peers: time it over as many steps.
    ours_steps = steps if sampling == "aggregate" else peer
    impls = [
        (
            "sdejax",
            "sdejax",
            paths,
            ours_steps,
            _simulate(spec, paths, ours_steps),
            f"simulate(), sampling='auto' -> {sampling}",
        ),
    ]
    if sampling == "aggregate":
        impls.append(
            (
                "sdejax per_worker",
                "reference",
                paths,
                peer,
                _simulate(spec, paths, peer, "per_worker"),
                "simulate(), sampling='per_worker'",
            )
        )
    if with_model_only:
        import sdejax

        model = sdejax.DiscreteModel(*spec.sdejax_components())
        profile_steps = max(10, steps // 5)
        run_model = jax_baselines.model_steps_only(model, paths, profile_steps, spec.d, spec.learning_rate)
        impls.append(
            (
                "sdejax model.step only",
                "profile",
                paths,
                profile_steps,
                lambda: run_model(key),
                "sampler + update, no engine bookkeeping",
            )
        )
    straightforward = jax_baselines.straightforward(spec, paths, peer)
    impls += [
        (
            "straightforward JAX",
            "peer",
            paths,
            peer,
            lambda: straightforward(key),
            "vmap over per-worker sampling",
        ),
        (
            "NumPy",
            "peer",
            paths,
            peer,
            lambda: peers_numpy.discrete(spec, paths, peer),
            "numpy " + np.__version__ + ", float32",
        ),
        ("PyTorch", "peer", paths, peer, torch_fn, torch_note),
        ("PyTorch 1 thread", "peer", paths, peer, torch1_fn, torch1_note),
    ]
    aggregate_draws = spec.aggregate_draws()
    if aggregate_draws is not None:
        run_floor = jax_baselines.floor(aggregate_draws, paths, steps, spec.d)
        impls.append(
            (
                "floor (aggregate variates)",
                "floor",
                paths,
                steps,
                lambda: run_floor(key),
                " + ".join(f"{kind}{shape}" for kind, shape in aggregate_draws) + " per path-step",
            )
        )
    worker_draws = spec.per_worker_draws()
    run_worker_floor = jax_baselines.floor(worker_draws, paths, peer, spec.d)
    impls.append(
        (
            "floor (per-worker variates)",
            "floor" if aggregate_draws is None else "reference",
            paths,
            peer,
            lambda: run_worker_floor(key),
            " + ".join(f"{kind}{shape}" for kind, shape in worker_draws) + " per path-step",
        )
    )
    return measure(workload, impls, sizes.repeats)


def w1(sizes):
    return _discrete("W1", W1, sizes)


def w1b(sizes):
    return _discrete("W1b", W1B, sizes, with_model_only=False)


def w2(sizes):
    return _discrete("W2", W2, sizes)


def w3(sizes):
    spec = sde.W3
    paths, steps, slow = sizes.paths, sizes.steps, sizes.slow_peer_paths
    slow_steps = sizes.slow_peer_steps
    key = jr.key(0)
    floor = sde.scan_floor(spec, paths, steps)
    unsafe = sde.diffrax_direct(spec, paths, steps, "unsafe")
    tree = sde.diffrax_direct(spec, slow, slow_steps, "tree")
    impls = [
        (
            "sdejax corrected",
            "sdejax",
            paths,
            steps,
            sde.sdejax_corrected(spec, paths, steps),
            "simulate(model='corrected', sde_substeps=10): diffrax Euler, UnsafeBrownianPath (default)",
        ),
        (
            "diffrax + UnsafeBrownianPath",
            "reference",
            paths,
            steps,
            lambda: unsafe(key),
            "diffeqsolve by hand, fixed step",
        ),
        (
            "diffrax + VirtualBrownianTree",
            "peer",
            slow,
            slow_steps,
            lambda: tree(key),
            "diffrax's documented default, tol = dt/2",
        ),
        (
            "torchsde",
            "peer",
            slow,
            slow_steps,
            _lazy(lambda: sde.torchsde_euler(spec, slow, slow_steps)),
            "sdeint(method='euler'), same dt",
        ),
        (
            "lax.scan Euler–Maruyama",
            "floor",
            paths,
            steps,
            lambda: floor(key),
            "hand-written; one (paths, d) normal per step",
        ),
    ]
    return measure("W3", impls, sizes.repeats)


def _lazy(build):
    """Build the peer on first call (so a missing optional dependency raises Skip there)."""
    cache = {}

    def run():
        if "fn" not in cache:
            cache["fn"] = build()
        return cache["fn"]()

    return run


# ---------------------------------------------------------------------------------------- W4
W4_LEARNING_RATES = np.geomspace(0.05, 3.0, 64)
W4_KEEP = np.linspace(0.1, 1.0, 16)
W4_SPEC = replace(W1, d=10, n_workers=8, sigma1=0.1)


def w4(sizes):
    import sdejax

    paths, steps = (64, 100) if sizes.quick else (256, 500)
    if _common.on_gpu():
        # W4-shaped work at GPU size: 4,096 paths per cell (2^22 paths per map).
        paths = 4096
    spec = W4_SPEC
    algorithm, problem, noise = spec.sdejax_components()

    common = dict(
        x0=jnp.ones(spec.d),
        learning_rates=W4_LEARNING_RATES,
        steps=steps,
        n_paths=paths,
        key=jr.key(0),
        progress=False,
    )

    def sweep():
        try:
            return sdejax.stability_sweep(algorithm, problem, noise, grid={"compressor.p": W4_KEEP}, **common)
        except TypeError:  # a stability_sweep without grids: one call per keep-probability
            return [
                sdejax.stability_sweep(
                    sdejax.DCSGD(sdejax.BernoulliSparsifier(float(p)), spec.n_workers),
                    problem,
                    noise,
                    **common,
                )
                for p in W4_KEEP
            ]

    cells = len(W4_LEARNING_RATES) * len(W4_KEEP)
    ours = Measurement(
        "W4",
        "sdejax stability_sweep",
        "sdejax",
        cells * paths,
        steps,
        note=f"{len(W4_LEARNING_RATES)} η × {len(W4_KEEP)} p × {paths} paths; "
        f"sampling={_resolved_sampling(spec)}; first call = wall time incl. compile",
    )
    start = time.perf_counter()
    result = sweep()
    ours.first_s = time.perf_counter() - start
    print(f"  [W4] sdejax: whole map incl. compile {ours.first_s:.2f} s", flush=True)
    for _ in range(max(1, sizes.repeats // 2)):
        start = time.perf_counter()
        sweep()
        ours.times.append(time.perf_counter() - start)
    thresholds = None
    try:
        thresholds = np.asarray(sdejax.threshold(result)).ravel()[:4].tolist()
    except Exception:  # noqa: BLE001 - a diagnostic only
        pass
    # NumPy: the same per-worker simulation, one cell at a time; a few cells are timed and the
    # time per cell is scaled to the whole map (every cell costs the same work).
    timed = 2 if sizes.quick else 6
    rng = np.random.default_rng(0)
    n_rates = len(W4_LEARNING_RATES)
    cell_times = _wall_times(
        partial(
            peers_numpy.discrete,
            replace(W4_SPEC, p=float(W4_KEEP[i // n_rates])),
            paths,
            steps,
            learning_rate=W4_LEARNING_RATES[i % n_rates],
        )
        for i in rng.choice(cells, timed, replace=False)
    )
    numpy = _scaled_peer(
        "NumPy loop over cells",
        "peer",
        cells * paths,
        steps,
        cell_times,
        cells,
        f"median of {timed} timed cells × {cells} cells",
    )
    # Reference: the same two tricks as sdejax (exact aggregate sampler, all learning rates of a
    # cell vectorized on shared variates) in NumPy, a few keep-probability cells timed.
    timed_p = 2 if sizes.quick else 3
    p_times = _wall_times(
        partial(
            peers_numpy.bernoulli_eta_vectorized,
            replace(W4_SPEC, p=float(p)),
            paths,
            steps,
            W4_LEARNING_RATES,
        )
        for p in rng.choice(W4_KEEP, timed_p, replace=False)
    )
    numpy_tricks = _scaled_peer(
        "NumPy, aggregate + η-vectorized",
        "reference",
        cells * paths,
        steps,
        p_times,
        len(W4_KEEP),
        f"sdejax's tricks in NumPy, simulation only; median of {timed_p} p-cells × {len(W4_KEEP)}",
    )
    ours.note += f"; first thresholds {thresholds}" if thresholds else ""
    return [ours, numpy, numpy_tricks]


def _wall_times(calls):
    """Wall time of each call, run once each in order."""
    times = []
    for call in calls:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def _scaled_peer(name, role, paths, steps, part_times, parts, note):
    """A W4 peer timed on a few equal parts of the map: median part time × number of parts."""
    measurement = Measurement("W4", name, role, paths, steps, note=note)
    measurement.first_s = float("nan")
    measurement.times = [float(np.median(part_times)) * parts]
    return measurement


# ---------------------------------------------------------------------------------------- W5
W5_WORKERS = (1, 8, 64, 512)


def w5(sizes):
    """Time vs N for every algorithm with an exact aggregate sampler (W1 shapes)."""
    results = []
    for label, spec in (("DCSGD Bernoulli", W1), ("DSGD Gaussian", DSGD), ("DSignSGD t3", W2)):
        impls = []
        for n in W5_WORKERS:
            s = spec.with_workers(n)
            impls.append(
                (
                    f"{label} N={n}",
                    "sdejax",
                    sizes.paths,
                    sizes.steps,
                    _simulate(s, sizes.paths, sizes.steps),
                    f"sampling={_resolved_sampling(s)}",
                )
            )
        results += measure("W5", impls, max(3, sizes.repeats - 2))
    return results


def s(sizes):
    from samplers import samplers

    return samplers(sizes)


WORKLOADS = {"W1": w1, "W1b": w1b, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "S": s}
