"""Plots render to non-empty PNG images."""

import jax.numpy as jnp
import jax.random as jr
import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import sdejax  # noqa: E402

ALGORITHM = sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 4)
PROBLEM = sdejax.Quadratic(jnp.ones(5))
NOISE = sdejax.AffineGaussianNoise(0.0, 0.1)


def _check_png(path):
    assert path.exists() and path.stat().st_size > 10_000
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
    assert np.std(image[..., :3]) > 0.05  # not blank


@pytest.fixture(scope="module")
def sweep():
    return sdejax.stability_sweep(
        ALGORITHM,
        PROBLEM,
        NOISE,
        x0=jnp.ones(5),
        learning_rates=np.geomspace(0.3, 3.0, 8),
        steps=30,
        n_paths=32,
        key=jr.key(0),
        grid={"compressor.p": [0.2, 0.4, 0.7, 1.0]},
        progress=False,
        path_block=16,
    )


def test_plot_stability_map(tmp_path, sweep):
    path = tmp_path / "map.png"
    fig = sdejax.plot_stability_map(sweep, path=path)
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert any("learning rate" in ax.get_ylabel() for ax in axes)
    assert any("discrete" in ax.get_title() for ax in axes)
    assert fig.legends
    plt.close(fig)
    _check_png(path)


def test_plot_stability_map_without_grid(tmp_path):
    ds = sdejax.stability_sweep(
        ALGORITHM,
        PROBLEM,
        NOISE,
        x0=jnp.ones(5),
        learning_rates=np.geomspace(0.3, 3.0, 6),
        steps=20,
        n_paths=16,
        key=jr.key(0),
        progress=False,
    )
    path = tmp_path / "curve.png"
    plt.close(sdejax.plot_stability_map(ds, path=path))
    _check_png(path)


def test_plot_trajectories(tmp_path):
    runs = {
        f"η = {eta}": sdejax.simulate(
            ALGORITHM,
            PROBLEM,
            NOISE,
            x0=jnp.ones(5),
            learning_rate=eta,
            steps=60,
            n_paths=64,
            key=jr.key(1),
            save_every=3,
        )
        for eta in (0.5, 1.0)
    }
    path = tmp_path / "loss.png"
    fig = sdejax.plot_trajectories(runs, path=path)
    assert fig.axes[0].get_yscale() == "log"
    plt.close(fig)
    _check_png(path)
    single = tmp_path / "single.png"
    plt.close(sdejax.plot_trajectories(runs["η = 0.5"], path=single))
    _check_png(single)
