"""Faults (issue 10): a sweep killed at random moments resumes to the bitwise result of an
uninterrupted run; damaged or unusable results files are detected and reported, never
overwritten; an unusable output folder fails before any computation.

The kill test reuses the approach of ``test_sweep_persist.py``: the sweep runs in a child
process (``stability_sweep(..., out=path)``), is killed with SIGKILL, and a new child resumes
from the file. Kill moments are drawn from a seeded generator: some during start-up (before the
child writes anything), the others a random delay after the child's latest chunk write, which
lands in the pause after a write, in the next chunk's computation or in the middle of its write.
After every kill the file on disk must be readable, its finished cells bitwise equal to the
uninterrupted run's, and the finished set must only grow.
"""

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
from sdejax._results._persist import ResultsFileError, open_results

REPO = Path(__file__).resolve().parents[1]
D, N = 3, 2
COMPONENTS = (
    sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), N),
    sdejax.Quadratic(jnp.ones(D)),
    sdejax.AffineGaussianNoise(0.0, 0.1),
)
# 36 grid cells (6 keep-probabilities × 6 noise levels) × 3 learning rates × 16 paths: a
# cell's work is one unit, and this budget holds one unit per chunk, so every chunk write
# finishes a cell (36 chunks) and a child killed soon after a write leaves work for the next.
GRID = {"compressor.p": [0.25, 0.4, 0.55, 0.7, 0.85, 1.0], "noise.sigma1": [0.0, 0.02, 0.05, 0.1, 0.15, 0.2]}
KWARGS = dict(
    x0=jnp.ones(D),
    learning_rates=np.geomspace(0.3, 3.0, 3),
    steps=20,
    n_paths=16,
    key=jr.key(5),
    grid=GRID,
    progress=False,
    path_block=16,
    memory_budget=100_000,
)
CHILD = textwrap.dedent(
    """
    import sys, time
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_rank_promotion", "raise")
    import jax.numpy as jnp, jax.random as jr, numpy as np
    import sdejax
    # The pause after each written chunk gives kills a window after a write as well as during
    # a computation or a write.
    sdejax.stability_sweep(
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 2), sdejax.Quadratic(jnp.ones(3)),
        sdejax.AffineGaussianNoise(0.0, 0.1), x0=jnp.ones(3),
        learning_rates=np.geomspace(0.3, 3.0, 3), steps=20, n_paths=16, key=jr.key(5),
        grid={"compressor.p": [0.25, 0.4, 0.55, 0.7, 0.85, 1.0],
              "noise.sigma1": [0.0, 0.02, 0.05, 0.1, 0.15, 0.2]},
        progress=False, path_block=16, memory_budget=100_000, out=sys.argv[1],
        callback=lambda done, total: time.sleep(0.15))
    """
)
# Attributes that may differ between a resumed and an uninterrupted run (documented in
# _results/_persist.py); everything else must be equal.
VOLATILE = ("sdejax_version", "git_revision", "chunks_total", "chunks_done")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, written to disk, and its number of chunks."""
    path = tmp_path_factory.mktemp("reference") / "map.nc"
    totals = []
    sdejax.stability_sweep(*COMPONENTS, out=str(path), callback=lambda d, t: totals.append(t), **KWARGS)
    return open_results(path, "reference"), totals[0]


def _bytes(values) -> bytes:
    return np.ascontiguousarray(np.asarray(values)).tobytes()


def assert_bitwise_equal(a: xr.Dataset, b: xr.Dataset, only=None):
    """Every variable and coordinate equal bit for bit (``only``: a mask of cells to compare)."""
    assert sorted(a.data_vars) == sorted(b.data_vars)
    for name in a.data_vars:
        x, y = np.asarray(a[name].values), np.asarray(b[name].values)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        if only is not None and x.shape == only.shape:
            x, y = x[only], y[only]
        assert _bytes(x) == _bytes(y), name
    for name in a.coords:
        assert _bytes(a[name].values) == _bytes(b[name].values), name
    fixed = {k: v for k, v in a.attrs.items() if k not in VOLATILE}
    for key, value in fixed.items():
        assert key in b.attrs and np.array_equal(np.asarray(value), np.asarray(b.attrs[key])), key


def _spawn(out):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


def kill_and_resume(tmp_path, reference, n_kills: int, seed: int):
    ref, total = reference
    out = tmp_path / "map.nc"
    rng = np.random.default_rng(seed)
    done_before, kills = 0, 0
    while kills < n_kills:
        child = _spawn(out)
        try:
            if rng.random() < 0.25:  # a moment during start-up: before anything is written
                time.sleep(rng.uniform(0.0, 3.0))
            else:  # a moment after the latest write: in the pause, the next chunk or its write
                seen, deadline = _mtime(out), time.monotonic() + 300
                while _mtime(out) == seen:
                    if child.poll() is not None:
                        break
                    assert time.monotonic() < deadline, "the sweep never wrote a chunk"
                    time.sleep(0.01)
                time.sleep(rng.uniform(0.0, 0.2))
            finished = child.poll() is not None
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
            stderr = child.stderr.read().decode()
            child.stderr.close()
        assert child.returncode in (0, -signal.SIGKILL), stderr[-3000:]
        if finished:
            break  # the sweep ended before this kill: nothing left to interrupt
        kills += 1
        if out.exists():  # never torn: readable, finished cells final, progress only grows
            partial = open_results(out, "after a kill")
            completed = np.asarray(partial["completed"].values) == 1
            assert completed.sum() >= done_before
            done_before = int(completed.sum())
            assert_bitwise_equal(partial, ref, only=completed)
    resumed = sdejax.stability_sweep(*COMPONENTS, out=str(out), **KWARGS)
    final = open_results(out, "final")
    assert np.all(final["completed"].values == 1)
    assert_bitwise_equal(final, ref)
    for name in ref.data_vars:
        if name != "completed":
            assert _bytes(resumed[name].values) == _bytes(ref[name].values), name
    return kills, done_before, total


def test_reference_has_many_chunks(reference):
    assert reference[1] >= 30


def test_kill_at_random_moments_and_resume_bitwise(tmp_path, reference):
    kills, _, _ = kill_and_resume(tmp_path, reference, n_kills=2, seed=1)
    assert kills == 2


@pytest.mark.slow
def test_twenty_kills_at_random_moments_resume_bitwise(tmp_path, reference, capsys):
    kills, done, total = kill_and_resume(tmp_path, reference, n_kills=20, seed=20260428)
    with capsys.disabled():
        print(f"\nfaults: {kills} kills; the last killed file held {done} finished cells; {total} chunks")
    assert kills == 20


# --------------------------------------------------------------------------- damaged files
def _damage(kind: str, path: Path, reference_file: Path):
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(bytes(range(256)) * 8)
    elif kind == "truncated":
        data = reference_file.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        path.write_text("algorithm = 'DCSGD'\n")
    elif kind == "other_netcdf":
        xr.Dataset({"a": ("x", np.arange(3.0))}).to_netcdf(path, engine="netcdf4")
    elif kind == "other_sweep":  # the same sweep with another step count
        other = xr.open_dataset(reference_file).load()
        other.attrs["steps"] = 5
        other.to_netcdf(path, engine="netcdf4")


@pytest.mark.parametrize("kind", ["empty", "garbage", "truncated", "text", "other_netcdf", "other_sweep"])
def test_damaged_out_is_reported_and_never_overwritten(kind, tmp_path, reference):
    reference_file = tmp_path / "good.nc"
    reference[0].to_netcdf(reference_file, engine="netcdf4")
    path = tmp_path / "map.nc"
    _damage(kind, path, reference_file)
    before = path.read_bytes()
    calls = []
    with pytest.raises(ResultsFileError) as error:
        sdejax.stability_sweep(*COMPONENTS, out=str(path), callback=lambda d, t: calls.append(d), **KWARGS)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert "delete" in message and "another `out`" in message
    assert calls == []  # detected before any chunk ran
    assert path.read_bytes() == before


def test_stale_tmp_file_from_a_kill_mid_write_does_not_matter(tmp_path, reference):
    out = tmp_path / "map.nc"
    Path(str(out) + ".tmp").write_bytes(b"half a netCDF file")
    sdejax.stability_sweep(*COMPONENTS, out=str(out), **KWARGS)
    assert_bitwise_equal(open_results(out, "resumed"), reference[0])
    assert not Path(str(out) + ".tmp").exists()


@pytest.mark.parametrize("where", ["missing", "unwritable", "folder"])
def test_unusable_output_path_fails_before_any_computation(where, tmp_path):
    out = {
        "missing": tmp_path / "no" / "such" / "dir" / "map.nc",
        "unwritable": Path("/sys") / "map.nc",  # read-only even for root
        "folder": tmp_path,
    }[where]
    if where == "unwritable" and os.access("/sys", os.W_OK) and not os.path.ismount("/sys"):
        pytest.skip("no read-only folder on this machine")
    calls = []
    start = time.perf_counter()
    with pytest.raises(ValueError, match="`out`") as error:
        sdejax.stability_sweep(*COMPONENTS, out=str(out), callback=lambda d, t: calls.append(d), **KWARGS)
    assert calls == [], "the sweep computed before noticing it cannot write its results"
    assert time.perf_counter() - start < 5.0
    assert str(out) in str(error.value)
