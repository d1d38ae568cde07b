"""Bad input gets a clear error naming the parameter and what is allowed, at construction."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

import sdejax

PROBLEM = sdejax.Quadratic(jnp.ones(4))
NOISE = sdejax.GaussianNoise(0.1)
ALGORITHM = sdejax.DSGD(2)
RUN = dict(x0=jnp.ones(4), learning_rate=0.1, steps=3, n_paths=2, key=jr.key(0))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: sdejax.RandK(0), "`k` must be an int >= 1"),
        (lambda: sdejax.RandK(-2), "`k` must be an int >= 1"),
        (lambda: sdejax.RandK(2.5), "`k` must be an int"),
        (lambda: sdejax.TopK(0), "`k` must be an int >= 1"),
        (lambda: sdejax.BernoulliSparsifier(0.0), r"`p` must lie in \(0.0, 1.0\]"),
        (lambda: sdejax.BernoulliSparsifier(1.5), r"`p` must lie in \(0.0, 1.0\]"),
        (lambda: sdejax.BernoulliSparsifier(float("nan")), "`p`"),
        (lambda: sdejax.RandomDithering(0), "`levels` must be an int >= 1"),
        (lambda: sdejax.StudentTNoise(0.0), "`df` must be finite and > 0"),
        (lambda: sdejax.StudentTNoise(-1.0), "`df` must be finite and > 0"),
        (lambda: sdejax.StudentTNoise(3.0, -1.0), "`scale` must be finite and >= 0"),
        (lambda: sdejax.GaussianNoise(-0.1), "`sigma` must be finite and >= 0"),
        (lambda: sdejax.GaussianNoise(jnp.ones((2, 2))), "`sigma` must be a scalar or a per-worker"),
        (lambda: sdejax.AffineGaussianNoise(-1.0, 0.0), "`sigma0` must be finite and >= 0"),
        (lambda: sdejax.AffineGaussianNoise(0.0, -1.0), "`sigma1` must be finite and >= 0"),
        (lambda: sdejax.DSGD(0), "`n_workers` must be an int >= 1"),
        (lambda: sdejax.DCSGD(sdejax.RandK(1), 0), "`n_workers` must be an int >= 1"),
        (lambda: sdejax.DCSGD("rand-k", 2), "`compressor` must be an AbstractCompressor"),
        (lambda: sdejax.DSignSGD(0), "`n_workers` must be an int >= 1"),
        (lambda: sdejax.DSignSGD(2, vote="median"), "`vote` must be one of"),
        (lambda: sdejax.NormalizedDCSGD(sdejax.Identity(), 2, scaling="x"), "`scaling` must be one of"),
        (lambda: sdejax.Quadratic(jnp.ones((2, 2))), "`eigenvalues` must be a 1-D array"),
        (lambda: sdejax.Quartic(0), "`dim` must be an int >= 1"),
        (lambda: sdejax.LossProblem(3, 2), "`loss_fn` must be callable"),
    ],
)
def test_construction_errors(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(algorithm=sdejax.DCSGD(sdejax.RandK(5), 2)), r"`k` must satisfy 0 < k <= d = 4"),
        (dict(algorithm=sdejax.DCSGD(sdejax.TopK(9), 2)), r"`k` must satisfy 0 < k <= d = 4"),
        (dict(steps=0), "`steps` must be an int >= 1"),
        (dict(n_paths=0), "`n_paths` must be an int >= 1"),
        (dict(save_every=0), "`save_every` must be an int >= 1"),
        (dict(x0=jnp.array([1.0, np.nan, 0.0, 0.0])), "`x0` must be finite"),
        (dict(x0=jnp.array([1.0, np.inf, 0.0, 0.0])), "`x0` must be finite"),
        (dict(x0=jnp.ones(3)), r"`x0` must have shape \(4,\)"),
        (dict(x0=jnp.ones((3, 4))), r"`x0` must have shape \(4,\) or \(n_paths, 4\)"),
        (dict(learning_rate=-0.1), "`learning_rate` must be a finite scalar > 0"),
        (dict(learning_rate=jnp.ones(2)), "`learning_rate` must be a finite scalar > 0"),
        (dict(noise=sdejax.GaussianNoise(jnp.ones(3))), "3 per-worker values but n_workers=2"),
        (dict(model="sde"), "`model` must be one of"),
        (dict(key=0), "`key` must be a single jax.random key"),
        (dict(divergence_bound=-1.0), "`divergence_bound` must be a finite number > 0"),
        (dict(problem="quadratic"), "`problem` must be an sdejax problem"),
        (dict(burn_in=1.0), r"`burn_in` must lie in \[0, 1\)"),
    ],
)
def test_simulate_errors(change, match):
    kwargs = dict(algorithm=ALGORITHM, problem=PROBLEM, noise=NOISE, **RUN)
    kwargs.update(change)
    algorithm, problem, noise = kwargs.pop("algorithm"), kwargs.pop("problem"), kwargs.pop("noise")
    with pytest.raises((ValueError, TypeError), match=match):
        sdejax.simulate(algorithm, problem, noise, **kwargs)


@pytest.mark.parametrize(
    "learning_rates, match",
    [
        ([], "non-empty 1-D"),
        ([[0.1, 0.2]], "non-empty 1-D"),
        ([0.1, -0.2], "finite and > 0"),
        ([0.2, 0.1], "strictly increasing"),
    ],
)
def test_sweep_errors(learning_rates, match):
    with pytest.raises(ValueError, match=match):
        sdejax.stability_sweep(
            ALGORITHM,
            PROBLEM,
            NOISE,
            x0=jnp.ones(4),
            learning_rates=learning_rates,
            steps=3,
            n_paths=2,
            key=jr.key(0),
        )


def test_theory_normalization_needs_smoothness():
    problem = sdejax.LossProblem(lambda x: jnp.sum(jnp.cosh(x)), 4)
    with pytest.raises(ValueError, match=r"needs the problem's \(L0, L1\)"):
        sdejax.simulate(sdejax.NormalizedDCSGD(sdejax.Identity(), 2, scaling="theory"), problem, NOISE, **RUN)


# --------------------------------------------------------------------------- issue 10, items 3–5
def _simulate(**change):
    kwargs = dict(algorithm=ALGORITHM, problem=PROBLEM, noise=NOISE, **RUN)
    kwargs.update(change)
    algorithm, problem, noise = kwargs.pop("algorithm"), kwargs.pop("problem"), kwargs.pop("noise")
    return sdejax.simulate(algorithm, problem, noise, **kwargs)


BAD_SCHEDULES = [
    (lambda k: -1.0, ValueError, r"`schedule` must return finite values >= 0.*schedule\(0\) = -1.0"),
    (optax.linear_schedule(1.0, -1.0, 2), ValueError, r"`schedule`.*schedule\(2\) = -1.0"),
    (lambda k: jnp.where(k == 1, jnp.nan, 1.0), ValueError, r"`schedule`.*schedule\(1\) = nan"),
    (lambda k: 1.0 if k < 2 else 0.5, TypeError, "`schedule` must accept a traced integer step"),
    (lambda k: jnp.ones(2), ValueError, "`schedule` must return a scalar"),
    (0.5, TypeError, "`schedule` must be None or a callable"),
]


@pytest.mark.parametrize("schedule, error, match", BAD_SCHEDULES)
def test_check_schedule(schedule, error, match):
    from sdejax._engine._config import check_schedule

    with pytest.raises(error, match=match):
        check_schedule(schedule, 3, "simulate")
    check_schedule(optax.cosine_decay_schedule(1.0, 3), 3, "simulate")  # ends at 0: allowed
    check_schedule(lambda k: 1.0 / jnp.sqrt(k + 1.0), 3, "simulate")


@pytest.mark.parametrize("schedule, error, match", BAD_SCHEDULES[:3])
def test_negative_schedule_is_refused_by_simulate_and_sweep(schedule, error, match):
    # Issue 10 item 3: schedule=lambda k: -1.0 used to run gradient ascent in silence.
    with pytest.raises(error, match=match):
        _simulate(schedule=schedule)
    with pytest.raises(error, match=match):
        sdejax.stability_sweep(
            ALGORITHM,
            PROBLEM,
            NOISE,
            x0=jnp.ones(4),
            learning_rates=[0.1],
            steps=3,
            n_paths=2,
            key=jr.key(0),
            schedule=schedule,
        )


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(x0=jnp.ones(4) + 1j), TypeError, "`x0` must hold real numbers.*imaginary part"),
        (dict(x0=np.ones(4, bool)), TypeError, "`x0` must hold real numbers"),
        (dict(x0="ones"), TypeError, "`x0`"),
        (dict(x0=None), TypeError, "`x0`"),
        (dict(x0=np.full(4, 1e20, np.float32)), ValueError, "`x0` is too large for float32"),
        (dict(x0=np.full(4, 1e200)), ValueError, "`x0` is too large for float64"),
        (dict(divergence_bound=1.5), ValueError, r"`divergence_bound` = 1.5 must exceed max ‖x0‖ = 2"),
        (dict(divergence_bound=1e200), ValueError, "`divergence_bound` must be <= 6.7e"),
        (dict(divergence_bound="big"), TypeError, "`divergence_bound`"),
        (dict(learning_rate="0.1"), TypeError, "`learning_rate`"),
        (dict(learning_rate=0.1j), TypeError, "`learning_rate`"),
        (dict(learning_rate=None), TypeError, "`learning_rate`"),
        (dict(burn_in="half"), TypeError, "`burn_in`"),
        (dict(burn_in=None), TypeError, "`burn_in`"),
        (dict(sampling="exact"), ValueError, "`sampling` must be one of"),
        (dict(sampling="exact", model="sme1"), ValueError, "`sampling` must be one of"),
        (dict(model=["discrete"]), TypeError, "`model` must be a model name"),
        (dict(model_options="fast"), TypeError, "`model_options` must be a dict"),
    ],
)
def test_odd_inputs_get_clear_errors(change, error, match):
    with pytest.raises(error, match=match):
        _simulate(**change)


def test_huge_x0_has_a_finite_bound_and_starts_alive():
    # Issue 10 item 4: x0 = 1e20·ones made the bound infinite and every path diverged at step 0.
    from sdejax._engine._config import divergence_bound_for

    x = np.full((2, 4), 1e20)
    bound = divergence_bound_for(x, None, "simulate")
    assert np.isfinite(bound) and bound == pytest.approx(2e26)
    ds = _simulate(x0=jnp.full(4, 1e20), learning_rate=0.1)
    assert float(ds["diverged_fraction"][0]) == 0.0
    assert ds.attrs["divergence_bound"] == pytest.approx(2e26)
    # Near the top of float32 the default bound is capped at √(max float)/2, still above ‖x0‖.
    x32 = np.full((2, 4), 1e18, np.float32)
    assert 2e18 < divergence_bound_for(x32, None, "simulate") <= np.sqrt(np.finfo(np.float32).max) / 2


@pytest.mark.parametrize("dtype", [np.float16, jnp.bfloat16])
def test_half_precision_x0_is_computed_in_float32(dtype):
    from sdejax._engine._config import check_x0

    assert check_x0(jnp.ones(4, dtype), PROBLEM, 2, "simulate").dtype == np.float32
    assert check_x0(np.ones(4, np.int32), PROBLEM, 2, "simulate").dtype == np.float64  # x64 on


@pytest.mark.parametrize(
    "model, components",
    [
        ("discrete", (ALGORITHM, PROBLEM, NOISE)),
        (
            "sme1",
            (ALGORITHM, sdejax.Quadratic(jnp.ones(4, jnp.float32)), sdejax.GaussianNoise(np.float32(0.1))),
        ),
    ],
)
@pytest.mark.parametrize("x0_dtype", [np.float32, np.float16])
def test_float32_under_x64_runs_in_float32(model, components, x0_dtype):
    # Issue 10 item 5: the computation runs in the floating dtype of x0 (half precision: float32).
    algorithm, problem, noise = components
    ds = _simulate(algorithm=algorithm, problem=problem, noise=noise, x0=np.ones(4, x0_dtype), model=model)
    assert ds.attrs["dtype"] == "float32"
    assert ds["loss_mean"].dtype == np.float32
    assert np.all(np.isfinite(ds["loss_mean"].values))


def test_threshold_error_lists_plain_model_names():
    # Issue 10 item 8: the message used to read [np.str_('discrete')].
    import xarray as xr

    ds = xr.Dataset(
        {"ms_growth_rate": (("model", "learning_rate"), [[-1.0, 1.0]])},
        coords={"model": np.asarray(["discrete"]), "learning_rate": [0.5, 1.0]},
    )
    with pytest.raises(ValueError, match=r"must be one of \['discrete'\], got 'sme9'") as error:
        sdejax.threshold(ds, "sme9")
    assert "np.str_" not in str(error.value)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: sdejax.GaussianNoise("0.1"), TypeError, "GaussianNoise: `sigma` must be"),
        (lambda: sdejax.GaussianNoise(0.1j), TypeError, "GaussianNoise: `sigma` must hold real numbers"),
        (lambda: sdejax.GaussianNoise(True), TypeError, "`sigma` must hold real numbers"),
        (lambda: sdejax.GaussianNoise(None), TypeError, "`sigma` must be"),
        (lambda: sdejax.StudentTNoise("3", 1.0), TypeError, "`df`"),
        (lambda: sdejax.BernoulliSparsifier(0.5j), TypeError, "`p`"),
    ],
)
def test_constructor_values_that_are_not_real_numbers(make, error, match):
    # Found by tests/test_fuzz.py: a string was converted silently, a complex value gave an
    # unnamed float() error.
    with pytest.raises(error, match=match):
        make()
    sdejax.GaussianNoise(jnp.asarray(0.1, jnp.bfloat16))  # half precision is a real number
    sdejax.GaussianNoise(np.float16(0.1))
