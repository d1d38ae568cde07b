"""Plots: non-empty PNGs from real runs; layout, labels and threshold overlays on made-up
Datasets (plots read Datasets only, so these need no simulation)."""

import jax.numpy as jnp
import jax.random as jr
import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import sdejax  # noqa: E402
from sdejax._results._assemble import sweep_dataset  # noqa: E402
from sdejax._results._labels import format_estimate  # noqa: E402
from sdejax._results._measured import measured_thresholds  # noqa: E402

ALGORITHM = sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 4)
PROBLEM = sdejax.Quadratic(jnp.ones(5))
NOISE = sdejax.AffineGaussianNoise(0.0, 0.1)
ETAS = np.geomspace(0.2, 3.0, 12)


def _check_png(path):
    assert path.exists() and path.stat().st_size > 10_000
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
    assert np.std(image[..., :3]) > 0.05  # not blank


def synthetic(models, grid=None, star=None, exact=None, flat=()):
    """A sweep Dataset made up to order: model m's mean-square rate is 2u + u², u = η/η* − 1, with
    η* = star[m]·(1 + 0.5·first grid coordinate), SE 0.02, and every path diverges above
    1.3·η*; a model in ``flat`` behaves like DSignSGD (a rate that only fluctuates around 0,
    crossing it by ±0.004 against an SE of 0.02, and no divergence). ``exact`` gives
    ``theory_threshold`` per model (a number, inf or NaN; None or by default: η* itself)."""
    grid = dict(grid or {})
    models = list(models)
    star = np.ones(len(models)) if star is None else np.asarray(star, float)
    coords = np.meshgrid(*grid.values(), indexing="ij") if grid else [np.zeros(())]
    scale = 1.0 + 0.5 * np.asarray(coords[0], float)
    eta_star = star.reshape((-1,) + (1,) * scale.ndim) * scale  # (model, *grid)
    eta = ETAS.reshape((1, -1) + (1,) * scale.ndim)
    u = eta / eta_star[:, None] - 1.0
    rates = np.minimum(2.0 * u + u**2, 20.0)  # capped where far unstable (no overflow)
    diverged = (eta > 1.3 * eta_star[:, None]).astype(float)
    wiggle = 0.004 * (-1.0) ** np.arange(ETAS.size) - 0.001  # -0.005, +0.003, ...
    for m, model in enumerate(models):
        if model in flat:
            rates[m] = (-3.0 * np.exp(-np.arange(ETAS.size)) + wiggle).reshape((-1,) + (1,) * scale.ndim)
            diverged[m] = 0.0
    shape = rates.shape
    se = np.full(shape, 0.02)
    values = {
        "ms_growth_rate": rates,
        "ms_growth_rate_se": se,
        "ms_ratio_mean": np.exp(eta * rates),
        "ms_ratio_se": se,
        "as_growth_rate": rates - 0.3,
        "as_growth_rate_se": se,
        "diverged_fraction": diverged,
        "final_loss_mean": np.exp(5 * rates),
        "final_loss_se": 0.1 * np.exp(5 * rates),
    }
    theory = eta_star.copy()
    notes = []
    for m, model in enumerate(models):
        if exact is not None and exact[m] is not None:
            theory[m] = exact[m]
        if np.isnan(theory[m]).all():
            notes.append(f"{model}: ms_threshold: the second moments do not close.")
    return sweep_dataset(
        values,
        ("model", "learning_rate", *grid),
        {"model": models, "learning_rate": ETAS, **{k: np.asarray(v) for k, v in grid.items()}},
        theory,
        notes,
        {"n_paths": 64, "dtype": "float64"},
        np.ones(shape, np.int8),
    )


def _gids(fig, prefix):
    return sorted({a.get_gid() for a in fig.findobj(lambda a: str(a.get_gid()).startswith(prefix))})


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


# --------------------------------------------------------------------------- made-up Datasets
def test_format_estimate():
    assert format_estimate(1.40352, 0.00213) == "1.4035 ± 0.0021"
    assert format_estimate(0.9012, 0.0199) == "0.901 ± 0.020"
    assert format_estimate(12.34, 2.3) == "12.3 ± 2.3"
    assert format_estimate(1.9512793660, 7.9e-9) == "1.95128 ± 7.9e-09"  # at most 6 digits
    assert format_estimate(1.5, float("nan")) == "1.5"


def test_curves_put_every_model_in_one_panel_with_bands(tmp_path):
    ds = synthetic(["discrete", "sme1", "corrected"], star=[1.0, 1.2, 0.9])
    path = tmp_path / "curves.png"
    fig = sdejax.plot_stability_map(ds, variables=["ms_growth_rate", "diverged_fraction"], path=path)
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(axes) == 2  # one panel per variable, not per model
    rate_axis = axes[0]
    curves = [line for line in rate_axis.get_lines() if len(line.get_xdata()) == ETAS.size]
    assert len(curves) == 3
    assert len(rate_axis.collections) >= 3  # a 95 % band per model
    labels = [text.get_text() for text in rate_axis.get_legend().get_texts()]
    assert any(label.startswith("discrete: η* = ") and "exact 1" in label for label in labels), labels
    assert "measured η* ± 1.96 SE" in labels and "exact mean-square η* (docs/theory.md §7)" in labels
    assert _gids(fig, "exact") == ["exact η* corrected", "exact η* discrete", "exact η* sme1"]
    assert _gids(fig, "measured") == ["measured η* corrected", "measured η* discrete", "measured η* sme1"]
    plt.close(fig)
    _check_png(path)


def test_measured_threshold_is_near_the_made_up_one():
    ds = synthetic(["discrete"], grid={"compressor.p": [0.2, 0.6, 1.0]}, star=[1.0])
    value, se, bound = measured_thresholds(ds, "discrete")
    assert list(bound) == ["inside"] * 3
    # The made-up rate is a quadratic in η, which the quadratic interpolation reproduces exactly.
    np.testing.assert_allclose(value, 1.0 + 0.5 * np.array([0.2, 0.6, 1.0]), rtol=1e-12)
    assert np.all(se > 0)


def test_no_threshold_drawn_where_none_is_defined(tmp_path):
    # discrete: exact and measured; sme2: no exact threshold (inf), stable on the whole grid;
    # dsign: no exact analysis (NaN) and a rate that only fluctuates around 0 (like DSignSGD).
    models = ["discrete", "sme2", "dsign"]
    ds = synthetic(models, star=[1.0, 50.0, 1.0], exact=[1.0, np.inf, np.nan], flat=["dsign"])
    value, _, bound = measured_thresholds(ds, "dsign")
    assert str(bound) == "unclear" and np.isnan(value)
    raw = sdejax.threshold(ds, "dsign")
    assert raw.bound == "unclear" and np.isnan(raw)  # sdejax.threshold also refuses the spurious crossing
    assert str(measured_thresholds(ds, "sme2")[2]) == "above"
    fig = sdejax.plot_stability_map(ds, path=tmp_path / "curves.png")
    assert _gids(fig, "exact") == ["exact η* discrete"]
    assert _gids(fig, "measured") == ["measured η* discrete"]
    labels = [text.get_text() for ax in fig.axes if ax.get_legend() for text in ax.get_legend().get_texts()]
    assert any(label.startswith("dsign: no clear crossing; no exact η*") for label in labels), labels
    assert any(label.startswith("sme2: stable on the grid (η* > 3); exact: none") for label in labels)
    plt.close(fig)
    _check_png(tmp_path / "curves.png")
    grid = {"noise.sigma": [0.1, 0.5, 1.0]}
    ds = synthetic(models, grid=grid, star=[1.0, 50.0, 1.0], exact=[1.0, np.inf, np.nan], flat=["dsign"])
    fig = sdejax.plot_stability_map(ds, path=tmp_path / "map.png")
    assert _gids(fig, "exact") == ["exact η* discrete"]
    assert _gids(fig, "measured") == ["measured η* discrete"]
    notes = [text.get_text() for legend in fig.legends for text in legend.get_texts()]
    assert any("fluctuates around 0 and nothing diverges" in note for note in notes), notes
    plt.close(fig)
    _check_png(tmp_path / "map.png")


def test_every_colorbar_tick_is_labelled(tmp_path):
    ds = synthetic(["discrete", "corrected"], grid={"compressor.p": [0.1, 0.4, 0.7, 1.0]}, star=[1.0, 1.1])
    fig = sdejax.plot_stability_map(
        ds, variables=["ms_growth_rate", "diverged_fraction", "final_loss_mean"], path=tmp_path / "map.png"
    )
    fig.canvas.draw()
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 3
    for bar in bars:
        low, high = sorted(bar.get_ylim())
        ticks = bar.yaxis.get_majorticklocs()
        shown = [label.get_text() for label in bar.yaxis.get_majorticklabels()]
        inside = [(t, s) for t, s in zip(ticks, shown, strict=True) if low - 1e-9 <= t <= high + 1e-9]
        assert len(inside) >= 3, inside
        assert all(text for _, text in inside), inside
        assert len(bar.yaxis.get_minorticklocs()) == 0  # no unlabelled ticks
    rate_labels = [label.get_text() for label in bars[0].yaxis.get_majorticklabels()]
    # The diverging map is labelled on both sides of 0.
    assert "0" in rate_labels
    assert any(text.startswith("\N{MINUS SIGN}") for text in rate_labels)
    assert any(text[0].isdigit() and text != "0" for text in rate_labels)
    plt.close(fig)
    _check_png(tmp_path / "map.png")


def test_select_chooses_the_slice_and_the_axis(tmp_path):
    grid = {"compressor.p": [0.2, 0.6, 1.0], "noise.sigma1": [0.0, 0.3]}
    ds = synthetic(["discrete", "sme1"], grid=grid, star=[1.0, 1.2])
    fig = sdejax.plot_stability_map(ds, select={"noise.sigma1": 0.3}, models=["sme1"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert titles and all("sme1 (noise.sigma1 = 0.3)" in title for title in titles)
    assert fig.axes[0].get_xlabel() == "keep-probability p"
    plt.close(fig)
    # Selecting the first dimension puts the second on the horizontal axis.
    fig = sdejax.plot_stability_map(ds, select={"compressor.p": 0.6})
    assert fig.axes[0].get_xlabel() == "multiplicative noise σ1"
    plt.close(fig)
    # Selecting every grid dimension gives curves over the learning rate.
    fig = sdejax.plot_stability_map(
        ds, select={"compressor.p": 1, "noise.sigma1": 0}, path=tmp_path / "c.png"
    )
    assert fig.get_suptitle() == "compressor.p = 1, noise.sigma1 = 0"
    assert fig.axes[0].get_xlabel() == "learning rate η"
    plt.close(fig)
    _check_png(tmp_path / "c.png")
    with pytest.raises(ValueError, match=r"noise.sigma1 = 0.5 is not on the grid; its values: 0, 0.3"):
        sdejax.plot_stability_map(ds, select={"noise.sigma1": 0.5})
    with pytest.raises(ValueError, match="not a grid dimension"):
        sdejax.plot_stability_map(ds, select={"noise.sigma": 0.5})
    with pytest.raises(ValueError, match="`models` must be names from"):
        sdejax.plot_stability_map(ds, models=["sme2"])
    with pytest.raises(ValueError, match="`variables` must be names from"):
        sdejax.plot_stability_map(ds, variables=["loss"])
