"""stability_sweep over several devices (jax.sharding) and several processes (jax.distributed).

Both run in subprocesses: the device count and the distributed runtime must be set before JAX
starts. Each subprocess writes its Dataset to netCDF; every number must equal, bit for bit,
the single-device run of this (parent) process.
"""

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import xarray as xr

import sdejax
from sdejax._engine import _sweep

REPO = Path(__file__).resolve().parents[1]

SETUP = textwrap.dedent(
    """
    import sys
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_rank_promotion", "raise")
    import jax.numpy as jnp, jax.random as jr, numpy as np
    import sdejax

    def sweep(**extra):
        return sdejax.stability_sweep(
            sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 4), sdejax.Quadratic(jnp.ones(5)),
            sdejax.AffineGaussianNoise(0.0, 0.1), x0=jnp.ones(5),
            learning_rates=np.geomspace(0.3, 3.0, 5), steps=30, n_paths=48, key=jr.key(7),
            grid={"compressor.p": [0.25, 0.5, 1.0], "n_workers": [2, 4]}, progress=False,
            path_block=16, **extra)
    """
)

DEVICES = SETUP + textwrap.dedent(
    """
    assert len(jax.devices()) == 4, jax.devices()
    sweep(devices=jax.devices()[:1]).to_netcdf(sys.argv[1] + "/one.nc")
    sweep().to_netcdf(sys.argv[1] + "/four.nc")
    sweep(devices=jax.devices()[:3], memory_budget=200_000).to_netcdf(sys.argv[1] + "/three.nc")
    """
)

PROCESS = (
    textwrap.dedent(
        """
    import sys
    import jax
    jax.distributed.initialize(coordinator_address=sys.argv[2], num_processes=2,
                               process_id=int(sys.argv[3]), initialization_timeout=60)
    """
    )
    + SETUP
    + textwrap.dedent(
        """
    assert jax.process_count() == 2 and len(jax.devices()) == 4, jax.devices()
    ds = sweep(memory_budget=200_000, out=sys.argv[1] + "/shared.nc")
    ds.to_netcdf(sys.argv[1] + f"/process{jax.process_index()}.nc")
    jax.distributed.shutdown()
    """
    )
)


@pytest.fixture(scope="module")
def reference():
    # The same sweep in this process, on its single CPU device.
    return sdejax.stability_sweep(
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 4),
        sdejax.Quadratic(jnp.ones(5)),
        sdejax.AffineGaussianNoise(0.0, 0.1),
        x0=jnp.ones(5),
        learning_rates=np.geomspace(0.3, 3.0, 5),
        steps=30,
        n_paths=48,
        key=jr.key(7),
        grid={"compressor.p": [0.25, 0.5, 1.0], "n_workers": [2, 4]},
        progress=False,
        path_block=16,
    )


def _env(devices_per_process):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices_per_process}"
    env["PYTHONPATH"] = str(REPO)
    env["JAX_PLATFORMS"] = "cpu"
    return env


def _assert_same(path, reference):
    with xr.open_dataset(path) as ds:
        for name in (*_sweep.VARIABLES, "theory_threshold"):
            np.testing.assert_array_equal(
                ds[name].values, reference[name].values, err_msg=f"{path.name}: {name}"
            )


def test_sharded_over_four_fake_devices(tmp_path, reference):
    run = subprocess.run(
        [sys.executable, "-c", DEVICES, str(tmp_path)],
        env=_env(4),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for name in ("one.nc", "four.nc", "three.nc"):
        _assert_same(tmp_path / name, reference)


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.multiprocess
def test_two_local_processes(tmp_path, reference):
    address = f"127.0.0.1:{_free_port()}"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS, str(tmp_path), address, str(i)],
            env=_env(2),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    logs = []
    try:
        for child in children:
            _, err = child.communicate(timeout=300)
            logs.append(err)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for child, err in zip(children, logs, strict=True):
        assert child.returncode == 0, err[-3000:]
    _assert_same(tmp_path / "process0.nc", reference)
    _assert_same(tmp_path / "process1.nc", reference)
    _assert_same(tmp_path / "shared.nc", reference)  # written by process 0 only
