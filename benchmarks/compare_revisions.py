"""sdejax against an earlier revision of itself, in the same run: is a change slower?

    python benchmarks/compare_revisions.py --base d0fae89                 # W4, W1, W1b, W2, W5, W3
    python benchmarks/compare_revisions.py --base d0fae89 --workloads W4 --repeats 5

The base revision's ``sdejax`` package is exported with ``git archive`` into a temporary folder;
each timing runs in a fresh subprocess that imports either that copy or the working tree, in
alternating order (base, current, base, current, …), so that both see the same machine load.
Each subprocess runs the workload once to compile, then times ``--inner`` calls; the reported
time is the median over the ``--repeats`` subprocesses of each side. Only sdejax's own rows are
timed (the peers do not change between revisions): W4 is the whole stability map of
benchmarks/README.md (64 η × 16 p × 256 paths × 500 steps), W1/W1b/W2 a ``simulate`` of 4,096
paths × 1,000 steps (W1b: 20 steps, per-worker), W5 W1 with N = 512, W3 the corrected SDE
(``simulate(model="corrected")``, 4,096 paths × 1,000 Euler substeps). A workload name with
``/free`` appended (``W1/free``) runs ``simulate(..., clones=False)`` where the revision has that
option: the free paths alone, the same work as a revision without the clone population
(``W4/free``: the sweep's kernel called with ``n_clones=0``, a diagnostic, not a public option).

Results go to stdout as a markdown table and, with ``--out``, to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CHILD = textwrap.dedent(
    """
    import inspect, json, sys, time
    sys.path.insert(0, sys.argv[1])
    sys.path.insert(1, sys.argv[2])
    import jax.numpy as jnp, jax.random as jr, numpy as np
    from dataclasses import replace
    import sdejax
    from discrete_specs import W1, W1B, W2
    workload, inner = sys.argv[3], int(sys.argv[4])

    # "W1/free": W1 with the free paths only (clones=False where simulate has the option; a
    # revision without it has no clone population anyway): the same work on both sides.
    workload, free = workload.split("/")[0], workload.endswith("/free")
    options = {"clones": False} if free and "clones" in inspect.signature(sdejax.simulate).parameters else {}

    def simulate(spec, paths, steps):
        algorithm, problem, noise = spec.sdejax_components()
        return lambda: sdejax.simulate(algorithm, problem, noise, x0=jnp.ones(spec.d),
            learning_rate=spec.learning_rate, steps=steps, n_paths=paths, key=jr.key(0),
            save_every=steps, **options)

    if workload == "W4":
        if free:
            # stability_sweep has no clones option: its kernel is called without a clone
            # population (a diagnostic of what the clones cost, not a public setting).
            import functools
            import sdejax._engine._sweep as sweep_module
            kernel = getattr(sweep_module, "run_block", None)  # d0fae89's sweep had no clones
            if kernel is not None and "n_clones" in inspect.signature(kernel).parameters:
                sweep_module.run_block = functools.partial(sweep_module.run_block, n_clones=0)
        spec = replace(W1, d=10, n_workers=8, sigma1=0.1)
        algorithm, problem, noise = spec.sdejax_components()
        run = lambda: sdejax.stability_sweep(algorithm, problem, noise, x0=jnp.ones(10),
            learning_rates=np.geomspace(0.05, 3.0, 64), steps=500, n_paths=256, key=jr.key(0),
            grid={"compressor.p": np.linspace(0.1, 1.0, 16)}, progress=False)
        paths, steps = 64 * 16 * 256, 500
    elif workload == "W5":
        run, paths, steps = simulate(replace(W1, n_workers=512), 4096, 1000), 4096, 1000
    elif workload == "W3":
        import sde
        run, paths, steps = sde.sdejax_corrected(sde.W3, 4096, 1000), 4096, 1000
    else:
        spec = {"W1": W1, "W1b": W1B, "W2": W2}[workload]
        steps = 20 if workload == "W1b" else 1000
        run, paths = simulate(spec, 4096, steps), 4096
    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    times = []
    for _ in range(inner):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    print(json.dumps({"first": first, "time": min(times), "path_steps": paths * steps}))
    """
)


def export(revision: str, into: Path) -> Path:
    """The ``sdejax`` package of ``revision`` under ``into``."""
    archive = into / "base.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), revision, "sdejax"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def time_once(package_root: Path, workload: str, inner: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(package_root), str(HERE), workload, str(inner)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--workloads", default="W4,W1,W1b,W2,W5,W3")
    parser.add_argument("--repeats", type=int, default=3, help="subprocesses per side")
    parser.add_argument("--inner", type=int, default=2, help="timed calls per subprocess (min taken)")
    parser.add_argument("--out", help="JSON file for the raw numbers")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        base = export(args.base, Path(folder))
        for workload in args.workloads.split(","):
            runs = {"base": [], "current": []}
            for _ in range(args.repeats):
                for side, root in (("base", base), ("current", ROOT)):
                    runs[side].append(time_once(root, workload, args.inner))
                    print(f"  {workload} {side}: {runs[side][-1]['time']:.3f} s", flush=True)
            results[workload] = runs
    print(f"\n| workload | base {args.base} (s) | current (s) | current/base | compile base / current (s) |")
    print("|---|---|---|---|---|")
    for workload, runs in results.items():
        base_t = statistics.median(r["time"] for r in runs["base"])
        cur_t = statistics.median(r["time"] for r in runs["current"])
        base_c = statistics.median(r["first"] - r["time"] for r in runs["base"])
        cur_c = statistics.median(r["first"] - r["time"] for r in runs["current"])
        ratio = cur_t / base_t
        print(f"| {workload} | {base_t:.3f} | {cur_t:.3f} | {ratio:.2f} | {base_c:.1f} / {cur_c:.1f} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"base": args.base, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
