"""stability_sweep over parameter grids: contract, validation, compile counts, chunking, theory."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import sdejax
from sdejax import theory
from sdejax._engine import _plan, _sweep

D, N = 5, 4
ALGORITHM = sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), N)
PROBLEM = sdejax.Quadratic(jnp.ones(D))
NOISE = sdejax.AffineGaussianNoise(0.0, 0.1)
KEEP = [0.25, 0.5, 0.75, 1.0]
# Small on purpose (2 CPU cores): 8 learning rates × 4 keep-probabilities × 64 paths × 40 steps.
SMALL = dict(
    x0=jnp.ones(D),
    learning_rates=np.geomspace(0.3, 3.0, 8),
    steps=40,
    n_paths=64,
    key=jr.key(3),
    grid={"compressor.p": KEEP},
    progress=False,
    path_block=16,
)
VARIABLES = _sweep.VARIABLES


def assert_bitwise_equal(a, b):
    for name in (*VARIABLES, "theory_threshold"):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


@pytest.fixture(scope="module")
def small_map():
    return sdejax.stability_sweep(ALGORITHM, PROBLEM, NOISE, **SMALL)


def test_contract(small_map):
    ds = small_map
    assert ds["ms_growth_rate"].dims == ("model", "learning_rate", "compressor.p")
    assert ds.sizes == {"model": 1, "learning_rate": 8, "compressor.p": 4}
    for name in VARIABLES:
        assert ds[name].shape == (1, 8, 4)
        assert np.all(np.isfinite(ds[name].values) | np.isinf(ds[name].values)), name
    np.testing.assert_array_equal(ds["compressor.p"].values, KEEP)
    assert ds["theory_threshold"].dims == ("model", "compressor.p")
    for attr in ("sdejax_version", "git_revision", "algorithm", "grid", "steps", "n_paths"):
        assert attr in ds.attrs
    measured = sdejax.threshold(ds, "discrete")
    assert measured.dims == ("compressor.p",)


def test_theory_overlay_matches_closed_form(small_map):
    for p, value in zip(KEEP, small_map["theory_threshold"].sel(model="discrete").values, strict=True):
        expected = theory.ms_threshold(
            "discrete", sdejax.DCSGD(sdejax.BernoulliSparsifier(p), N), PROBLEM, NOISE
        )
        assert value == expected


def test_threshold_tracks_theory(small_map):
    # Coarse check only (64 paths, 40 steps, 8 learning rates spaced by a factor 1.39): the
    # measured crossing lies within one grid spacing of the closed form. The statistical H1
    # test with derived tolerances is in test_simulate.py.
    measured = sdejax.threshold(small_map, "discrete").values
    expected = small_map["theory_threshold"].sel(model="discrete").values
    spacing = small_map.learning_rate.values[1] / small_map.learning_rate.values[0]
    assert np.all(np.abs(np.log(measured / expected)) < np.log(spacing)), (measured, expected)


def test_same_key_same_numbers_and_no_recompile(small_map):
    before = _sweep.TRACE_COUNT["value"]
    again = sdejax.stability_sweep(ALGORITHM, PROBLEM, NOISE, **SMALL)
    assert _sweep.TRACE_COUNT["value"] == before
    assert_bitwise_equal(small_map, again)


def _units_budget(units: int) -> int:
    """A memory budget that fits ``units`` whole units of SMALL (all 8 η, 4 path blocks each)."""
    item = _plan.item_bytes(16, D, N, SMALL["steps"], 8) * len(SMALL["learning_rates"])
    return units * 4 * item


@pytest.mark.parametrize("units", [0, 3])
def test_chunking_is_bitwise_invariant(small_map, units):
    # 0 units (budget 1 byte): one path block per chunk (each unit split over 4 chunks); 3 units:
    # three whole units (cells × all η) per chunk, the last chunk padded. Both must give exactly
    # the single-chunk numbers, with one compile per chunk size.
    before = _sweep.TRACE_COUNT["value"]
    chunked = sdejax.stability_sweep(
        ALGORITHM, PROBLEM, NOISE, memory_budget=max(1, _units_budget(units)), **SMALL
    )
    assert _sweep.TRACE_COUNT["value"] - before == 1  # one compile per group, however many chunks
    assert_bitwise_equal(small_map, chunked)


def test_eta_blocks_share_variates_and_pad(small_map):
    # eta_block=3 over 8 learning rates: units of 3, 3 and 2 (+1 padded slot). The learning
    # rates of a unit share their random variates exactly as the separate tasks do (same path
    # keys), so the numbers agree with one η per unit up to rounding, and the padding is dropped.
    blocked = sdejax.stability_sweep(ALGORITHM, PROBLEM, NOISE, eta_block=3, **SMALL)
    single = sdejax.stability_sweep(ALGORITHM, PROBLEM, NOISE, eta_block=1, **SMALL)
    assert blocked.attrs["eta_block"] == 3 and single.attrs["eta_block"] == 1
    assert small_map.attrs["eta_block"] == 8  # automatic: all 8 fit one unit
    for ds in (blocked, small_map):
        np.testing.assert_array_equal(ds["diverged_fraction"].values, single["diverged_fraction"].values)
        for name in ("ms_growth_rate", "final_loss_mean"):
            np.testing.assert_allclose(ds[name].values, single[name].values, rtol=1e-9, err_msg=name)
    chunked = sdejax.stability_sweep(ALGORITHM, PROBLEM, NOISE, eta_block=3, memory_budget=1, **SMALL)
    assert_bitwise_equal(blocked, chunked)


@pytest.mark.parametrize("item_batch", [2, 3])
def test_item_batches_are_bitwise_invariant(small_map, item_batch):
    # Items (path blocks of a unit) run in vmapped batches of `item_batch` (for GPUs); on a CPU
    # the numbers do not depend on the batch size, bit for bit (3 does not divide the chunk:
    # the last batch is padded).
    batched = sdejax.stability_sweep(ALGORITHM, PROBLEM, NOISE, item_batch=item_batch, **SMALL)
    assert_bitwise_equal(small_map, batched)


def test_burn_in_does_not_recompile(small_map):
    before = _sweep.TRACE_COUNT["value"]
    other = sdejax.stability_sweep(ALGORITHM, PROBLEM, NOISE, **{**SMALL, "burn_in": 0.5})
    assert _sweep.TRACE_COUNT["value"] == before
    assert not np.array_equal(other["as_growth_rate"].values, small_map["as_growth_rate"].values)


def test_eta_block_validation():
    with pytest.raises(ValueError, match="eta_block"):
        sdejax.stability_sweep(ALGORITHM, PROBLEM, NOISE, **{**SMALL, "eta_block": 0})


def test_compiles_once_per_static_shape():
    # compressor.p and noise.sigma1 are array leaves (traced, vmapped); n_workers is static:
    # 2 × 3 × 2 = 12 cells in 2 groups -> exactly 2 compilations.
    grid = {"compressor.p": [0.5, 1.0], "noise.sigma1": [0.0, 0.05, 0.1], "n_workers": [2, 4]}
    before = _sweep.TRACE_COUNT["value"]
    ds = sdejax.stability_sweep(
        ALGORITHM,
        PROBLEM,
        NOISE,
        x0=jnp.ones(D),
        learning_rates=[0.5, 1.0],
        steps=10,
        n_paths=16,
        key=jr.key(0),
        grid=grid,
        progress=False,
        memory_budget=30_000,
    )
    assert _sweep.TRACE_COUNT["value"] - before == 2
    assert ds["ms_growth_rate"].dims == (
        "model",
        "learning_rate",
        "compressor.p",
        "noise.sigma1",
        "n_workers",
    )
    assert ds["ms_growth_rate"].shape == (1, 2, 2, 3, 2)
    theory_values = ds["theory_threshold"].sel(model="discrete")
    expected = theory.ms_threshold(
        "discrete",
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 2),
        PROBLEM,
        sdejax.AffineGaussianNoise(0.0, 0.05),
    )
    assert float(theory_values.sel({"compressor.p": 0.5, "noise.sigma1": 0.05, "n_workers": 2})) == expected


def test_grid_cell_equals_direct_sweep(small_map):
    # A grid cell is the same computation as a sweep of that cell's components alone.
    direct = sdejax.stability_sweep(
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.75), N), PROBLEM, NOISE, **{**SMALL, "grid": None}
    )
    cell = small_map.sel({"compressor.p": 0.75})
    for name in VARIABLES:
        np.testing.assert_array_equal(cell[name].values, direct[name].values, err_msg=name)


def test_student_t_df_groups():
    # Integer ν selects an exact sampler (a static field): one program per integer ν;
    # fractional ν share one program with ν traced.
    algorithm = sdejax.DSignSGD(2)
    noise = sdejax.StudentTNoise(3.0, 0.5)
    before = _sweep.TRACE_COUNT["value"]
    ds = sdejax.stability_sweep(
        algorithm,
        PROBLEM,
        noise,
        x0=jnp.ones(D),
        learning_rates=[0.1],
        steps=5,
        n_paths=8,
        key=jr.key(0),
        grid={"noise.df": [1.0, 2.5, 3.0, 4.5]},
        progress=False,
    )
    assert _sweep.TRACE_COUNT["value"] - before == 3
    assert np.all(np.isnan(ds["theory_threshold"].values))  # no closed form for DSignSGD
    assert np.all(ds["diverged_fraction"].values == 0)


def test_unknown_grid_path_lists_allowed():
    with pytest.raises(ValueError, match="allowed paths.*compressor.p"):
        sdejax.stability_sweep(ALGORITHM, PROBLEM, NOISE, **{**SMALL, "grid": {"compressor.q": [1]}})


def test_bad_grid_value_raises_component_error():
    with pytest.raises(ValueError, match="BernoulliSparsifier.*`p` must lie in"):
        sdejax.stability_sweep(ALGORITHM, PROBLEM, NOISE, **{**SMALL, "grid": {"compressor.p": [0.5, 1.5]}})
    with pytest.raises(ValueError, match="RandK.*k"):
        sdejax.stability_sweep(
            sdejax.DCSGD(sdejax.RandK(2), N),
            PROBLEM,
            NOISE,
            **{**SMALL, "grid": {"compressor.k": [2, 9]}},
        )
    with pytest.raises(ValueError, match="same parameter"):
        sdejax.stability_sweep(
            ALGORITHM,
            PROBLEM,
            NOISE,
            **{**SMALL, "grid": {"n_workers": [1], "algorithm.n_workers": [2]}},
        )


def test_dimension_changing_grid_with_callable_x0():
    # Problem dimension d changes array shapes: one program per d; x0 follows the problem.
    before = _sweep.TRACE_COUNT["value"]
    ds = sdejax.stability_sweep(
        sdejax.DSGD(2),
        PROBLEM,
        sdejax.GaussianNoise(0.0),
        x0=lambda problem: jnp.ones(problem.dim),
        learning_rates=[0.5, 1.9, 2.1],
        steps=20,
        n_paths=4,
        key=jr.key(0),
        progress=False,
        grid={"problem.eigenvalues": [jnp.ones(2), jnp.ones(3), 2 * jnp.ones(3)]},
    )
    assert _sweep.TRACE_COUNT["value"] - before == 2
    np.testing.assert_array_equal(ds["problem.eigenvalues"].values, [0, 1, 2])
    # H2 (σ = 0, ω = 0): gradient descent is stable iff η < 2/λ.
    np.testing.assert_allclose(ds["theory_threshold"].sel(model="discrete").values, [2.0, 2.0, 1.0])
    unstable = ds["ms_growth_rate"].sel(model="discrete").values > 0  # (learning rate, cell)
    np.testing.assert_array_equal(unstable, [[False, False, False], [False, False, True], [True, True, True]])


def test_every_registered_model_runs():
    # Any model in sdejax.MODELS goes through the same program (SDE models once registered).
    models = tuple(sdejax.MODELS)
    ds = sdejax.stability_sweep(
        ALGORITHM,
        PROBLEM,
        NOISE,
        x0=jnp.ones(D),
        learning_rates=[0.5, 1.0],
        steps=10,
        n_paths=8,
        key=jr.key(0),
        models=models,
        grid={"compressor.p": [0.5, 1.0]},
        progress=False,
        sde_substeps=2,
    )
    assert list(ds["model"].values) == list(models)
    assert np.all(np.isfinite(ds["ms_growth_rate"].values))
    for model in models:
        if model in ("discrete", "corrected", "sme1", "sme2"):
            assert np.all(
                np.isfinite(ds["theory_threshold"].sel(model=model).values)
                | np.isinf(ds["theory_threshold"].sel(model=model).values)
            )


def test_per_path_x0_and_uneven_blocks():
    # n_paths not a multiple of the block: the last block is padded with masked paths, and the
    # result still does not depend on chunking.
    x0 = jr.normal(jr.key(5), (37, D))
    kwargs = dict(
        x0=x0,
        learning_rates=[0.5, 1.5],
        steps=12,
        n_paths=37,
        key=jr.key(1),
        progress=False,
        path_block=8,
        grid={"noise.sigma1": [0.0, 0.2]},
    )
    one = sdejax.stability_sweep(ALGORITHM, PROBLEM, NOISE, **kwargs)
    many = sdejax.stability_sweep(ALGORITHM, PROBLEM, NOISE, memory_budget=1, **kwargs)
    assert_bitwise_equal(one, many)
    assert np.all(np.isfinite(one["final_loss_mean"].values))
