"""stability_sweep(out=...): netCDF with provenance, atomic chunk writes, resume after a kill."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import xarray as xr

import sdejax
from sdejax._engine import _plan, _sweep

D, N = 5, 4
COMPONENTS = (
    sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), N),
    sdejax.Quadratic(jnp.ones(D)),
    sdejax.AffineGaussianNoise(0.0, 0.1),
)
# 6 learning rates × 4 keep-probabilities: 4 units (one per cell, all 6 η, 4 path blocks each);
# the budget fits 2 items, so each unit is split over 2 chunks: 8 chunks.
KWARGS = dict(
    x0=jnp.ones(D),
    learning_rates=np.geomspace(0.3, 3.0, 6),
    steps=30,
    n_paths=64,
    key=jr.key(11),
    grid={"compressor.p": [0.25, 0.5, 0.75, 1.0]},
    progress=False,
    path_block=16,
)
# Two items (all 6 η of one path block each) per chunk.
BUDGET = 2 * _plan.item_bytes(16, D, N, 30, 8) * 6
VARIABLES = _sweep.VARIABLES

REPO = Path(__file__).resolve().parents[1]
CHILD = textwrap.dedent(
    """
    import sys, time
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_rank_promotion", "raise")
    import jax.numpy as jnp, jax.random as jr, numpy as np
    import sdejax
    D, N = 5, 4
    # The sleep after each written chunk keeps the run alive long enough to be killed mid-way.
    sdejax.stability_sweep(
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), N), sdejax.Quadratic(jnp.ones(D)),
        sdejax.AffineGaussianNoise(0.0, 0.1), x0=jnp.ones(D),
        learning_rates=np.geomspace(0.3, 3.0, 6), steps=30, n_paths=64, key=jr.key(11),
        grid={"compressor.p": [0.25, 0.5, 0.75, 1.0]}, progress=False, path_block=16,
        memory_budget=%d, out=sys.argv[1], callback=lambda done, total: time.sleep(0.5))
    """
)


@pytest.fixture(scope="module")
def reference():
    return sdejax.stability_sweep(*COMPONENTS, **KWARGS)


def assert_bitwise_equal(a, b):
    for name in (*VARIABLES, "theory_threshold"):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def test_chunk_plan_has_several_chunks():
    counts = []
    sdejax.stability_sweep(
        *COMPONENTS, memory_budget=BUDGET, callback=lambda d, t: counts.append(t), **KWARGS
    )
    assert counts and counts[0] == 8


def test_writes_netcdf_with_provenance_and_resumes(tmp_path, reference):
    out = tmp_path / "map.nc"
    ds = sdejax.stability_sweep(*COMPONENTS, memory_budget=BUDGET, out=str(out), **KWARGS)
    assert_bitwise_equal(ds, reference)
    assert out.exists() and not Path(str(out) + ".tmp").exists()
    stored = xr.open_dataset(out)
    assert_bitwise_equal(stored, reference)
    assert np.all(stored["completed"].values == 1)
    for attr in (
        "sdejax_version",
        "git_revision",
        "algorithm",
        "problem",
        "noise",
        "grid",
        "key",
        "steps",
        "n_paths",
        "burn_in",
        "path_block",
        "x0",
    ):
        assert attr in stored.attrs, attr
    assert stored.attrs["sdejax_version"] == sdejax.__version__
    stored.close()
    # A finished file: the same call runs nothing and returns the same numbers.
    calls = []
    again = sdejax.stability_sweep(
        *COMPONENTS,
        memory_budget=BUDGET,
        out=str(out),
        callback=lambda d, t: calls.append(d),
        **KWARGS,
    )
    assert calls == []
    assert_bitwise_equal(again, reference)


def test_mismatched_configuration_raises(tmp_path):
    out = tmp_path / "map.nc"
    sdejax.stability_sweep(*COMPONENTS, out=str(out), **{**KWARGS, "steps": 10})
    with pytest.raises(ValueError, match="different configuration.*steps"):
        sdejax.stability_sweep(*COMPONENTS, out=str(out), **{**KWARGS, "steps": 12})


def test_resume_after_kill(tmp_path, reference):
    out = tmp_path / "map.nc"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD % BUDGET, str(out)], env=env, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while not out.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the sweep never wrote its first chunk"
            time.sleep(0.05)
        time.sleep(0.6)  # let it start another chunk, then kill it hard
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        child.stderr.close()
    with xr.open_dataset(out) as partial:
        done = partial["completed"].values.mean()
    assert 0 < done < 1, done  # killed mid-way
    calls = []
    resumed = sdejax.stability_sweep(
        *COMPONENTS,
        memory_budget=BUDGET,
        out=str(out),
        callback=lambda d, t: calls.append(d),
        **KWARGS,
    )
    assert 0 < len(calls) < 8  # only the unfinished chunks ran (8 in all)
    assert_bitwise_equal(resumed, reference)
    with xr.open_dataset(out) as final:
        assert np.all(final["completed"].values == 1)
        assert_bitwise_equal(final, reference)


def test_configuration_json_rebuilds_the_run(reference):
    """`config` (JSON) rebuilds the components and the sweep's arguments: the same numbers."""
    from sdejax import _spec

    config = _spec.loads(reference.attrs["config"])
    algorithm, problem, noise = (
        _spec.build(config[k], k, classes=sdejax) for k in ("algorithm", "problem", "noise")
    )
    sweep = _spec.build(config["sweep"], "sweep", classes=sdejax)
    key = jr.wrap_key_data(np.asarray(sweep.pop("key_data"), np.uint32), impl=sweep.pop("key_impl"))
    again = sdejax.stability_sweep(algorithm, problem, noise, key=key, progress=False, **sweep)
    assert_bitwise_equal(again, reference)
    assert again.attrs["config"] == reference.attrs["config"]
    with pytest.raises(ValueError, match="callable"):
        _spec.build(_spec.spec(sdejax.LossProblem(lambda x: x @ x, 2)), "problem", classes=sdejax)
