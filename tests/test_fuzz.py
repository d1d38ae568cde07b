"""Property tests over the public API (issue 10): no silent wrong answers.

Hypothesis draws configurations of the public constructors (compressors, noise models with
scalar and per-worker parameters, problems, algorithms), ``sdejax.simulate``,
``sdejax.stability_sweep``, ``sdejax.theory`` and ``sdejax.optim``, with valid and invalid
values, edge magnitudes (0, 1e-30, 1e30, inf, NaN), dtypes (float16/32/64, bfloat16, int,
complex, bool) and shapes. Each drawn case knows what it should do:

* valid: it runs, and every documented statistic is a number or +inf as documented (growth
  rates NaN only for an exactly-zero state; means +inf, never NaN, once every path diverged);
* invalid: it raises ValueError or TypeError whose message names the parameter;
* nothing else escapes.

Outcomes are counted: ran / clear error / silent wrong answer / crash (any other exception, an
error that does not name the parameter, or a valid case refused). The slow test prints them.

JAX compiles slowly, so shapes are few and static (d in {1, 3}, N in {1, 2}, 4 paths, 3 steps)
and the structures that need a compiled program (component classes, shapes, dtype, model) come
from a fixed pool: values (noise scales, p, eigenvalues, learning rates, x0) are array leaves
and reuse the compiled programs. Invalid cases fail before anything compiles.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import sdejax

settings.register_profile(
    "sdejax-fuzz",
    max_examples=100,
    deadline=None,
    database=None,
    derandomize=True,  # the same cases on every run: a failure is reproducible
    suppress_health_check=list(HealthCheck),
)
settings.register_profile("sdejax-fuzz-slow", settings.get_profile("sdejax-fuzz"), max_examples=1000)

OUTCOMES: collections.Counter = collections.Counter()
FAILURES: list = []
KEY = jr.key(0)
STEPS, N_PATHS = 3, 4
SDE_MODELS = ("sme1", "sme2", "corrected")
MAGNITUDES = (0.0, 1e-30, 1e-3, 0.1, 1.0, 3.0, 1e3, 1e30)
BAD_REALS = (-1.0, -1e-30, math.inf, -math.inf, math.nan)
FLOAT32_MAX_NORM = float(np.sqrt(np.finfo(np.float32).max)) / 2  # docs: largest_norm


# ----------------------------------------------------------------------------- cases and outcomes
@dataclasses.dataclass
class Case:
    """A configuration to run: ``error_names`` is None for a valid one, else the names (any one
    suffices) its error message must contain; ``either`` accepts a number or a clear error."""

    label: str
    run: Callable
    check: Callable | None = None
    error_names: tuple | None = None
    either: bool = False


def _names(message: str, names) -> bool:
    return any(f"`{n}`" in message or (len(n) > 2 and n in message) for n in names)


def classify(case: Case) -> tuple[str, str]:
    try:
        result = case.run()
    except (ValueError, TypeError) as error:
        message = f"{type(error).__name__}: {error}"
        if case.error_names is None and not case.either:
            return "refused", f"{case.label}: a valid configuration raised {message}"
        if case.either or _names(message, case.error_names):
            return "clear_error", ""
        return "unclear_error", f"{case.label}: the message does not name {case.error_names}: {message}"
    except Exception as error:  # noqa: BLE001 - anything else escaping is what we count
        return "crash", f"{case.label}: {type(error).__name__}: {error}"
    if case.error_names is not None and not case.either:
        return "silent_wrong", f"{case.label}: invalid input {case.error_names} accepted in silence"
    problems = case.check(result) if case.check is not None else []
    if problems:
        return "silent_wrong", f"{case.label}: " + "; ".join(problems)
    return "ran", ""


def run_case(case: Case) -> None:
    outcome, detail = classify(case)
    OUTCOMES[outcome] += 1
    if detail:
        FAILURES.append(detail)


def _shorten(detail: str) -> str:
    """The case (trimmed) and the complete outcome, which follows the last ': '."""
    head, _, tail = detail.partition(": ")
    return (head[:240] + " …: " if len(head) > 240 else head + ": ") + tail[:600]


def report(title: str) -> str:
    total = sum(OUTCOMES.values())
    crashes = OUTCOMES["crash"] + OUTCOMES["unclear_error"] + OUTCOMES["refused"]
    lines = [
        f"{title}: {total} configurations tried: {OUTCOMES['ran']} valid ran, "
        f"{OUTCOMES['clear_error']} clear errors, {OUTCOMES['silent_wrong']} silent wrong answers, "
        f"{crashes} crashes (other exceptions {OUTCOMES['crash']}, errors not naming the parameter "
        f"{OUTCOMES['unclear_error']}, valid configurations refused {OUTCOMES['refused']})"
    ]
    lines += ["  " + _shorten(detail) for detail in dict.fromkeys(FAILURES)]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- documented statistics
SERIES = (
    "loss_mean",
    "loss_se",
    "grad_norm_sq_mean",
    "grad_norm_sq_se",
    "x_norm_sq_mean",
    "x_norm_sq_se",
    "loss_q10",
    "loss_median",
    "loss_q90",
)
RATES = ("ms_growth_rate", "as_growth_rate")


def _zero_state(ds, dtype) -> bool:
    """The state reached 0 (exactly, or by underflow): growth rates are documented as undefined."""
    tiny = np.finfo(dtype).tiny / np.finfo(dtype).eps
    x = np.asarray(ds["x_norm_sq_mean"].values, float)
    return bool(np.any(x[np.isfinite(x)] <= tiny)) or "x_norm_sq_mean" not in ds


def _check_rates(ds, dtype, where) -> list:
    problems = []
    zero = _zero_state(ds, dtype) if "x_norm_sq_mean" in ds else None
    for rate in RATES:
        value = np.asarray(ds[rate].values, float)
        se = np.asarray(ds[f"{rate}_se"].values, float)
        if np.any(np.isnan(value)) and zero is False:
            problems.append(f"{rate} is NaN although the state never reached 0{where}")
        if np.any(np.isnan(se) != np.isnan(value)):
            problems.append(f"{rate}_se is NaN where {rate} is not (or the reverse){where}")
        if np.any(se < 0):
            problems.append(f"{rate}_se < 0{where}")
    ratio = np.asarray(ds["ms_ratio_mean"].values, float)
    if np.any(ratio < 0):
        problems.append("ms_ratio_mean < 0")
    return problems


def check_simulation(dtype) -> Callable:
    def check(ds) -> list:
        problems = []
        for name in SERIES:
            value = np.asarray(ds[name].values, float)
            if np.any(np.isnan(value)):
                problems.append(f"{name} has NaN")
            if np.any(value == -np.inf):
                problems.append(f"{name} has -inf")
        fraction = np.asarray(ds["diverged_fraction"].values, float)
        if not np.all((fraction >= 0) & (fraction <= 1)) or np.any(np.diff(fraction) < 0):
            problems.append(f"diverged_fraction not a nondecreasing fraction: {fraction}")
        if np.any(fraction == 1) and not np.all(
            np.isposinf(np.asarray(ds["loss_mean"].values)[fraction == 1])
        ):
            problems.append("loss_mean is not +inf once every path diverged")
        problems += _check_rates(ds, dtype, "")
        if ds.attrs.get("dtype") != np.dtype(dtype).name:
            problems.append(f"ran in {ds.attrs.get('dtype')}, expected {np.dtype(dtype).name}")
        return problems

    return check


def check_sweep(dtype) -> Callable:
    def check(ds) -> list:
        problems = []
        for name in ("final_loss_mean", "final_loss_se", "diverged_fraction"):
            value = np.asarray(ds[name].values, float)
            if np.any(np.isnan(value)):
                problems.append(f"{name} has NaN")
        fraction = np.asarray(ds["diverged_fraction"].values, float)
        if not np.all((fraction >= 0) & (fraction <= 1)):
            problems.append("diverged_fraction outside [0, 1]")
        for rate in RATES:
            value = np.asarray(ds[rate].values, float)
            se = np.asarray(ds[f"{rate}_se"].values, float)
            if np.any(np.isnan(se) != np.isnan(value)) or np.any(se < 0):
                problems.append(f"{rate}_se inconsistent with {rate}")
            # A sweep keeps no time series: NaN is documented only where the state reached 0,
            # which these configurations (x0 away from 0, noise or a gradient) rule out unless
            # the noise and the start are 0.
        if np.any(np.isnan(np.asarray(ds["diverged_fraction"].values))):
            problems.append("diverged_fraction NaN")
        return problems

    return check


# ----------------------------------------------------------------------------- structures
@dataclasses.dataclass(frozen=True)
class Structure:
    """What decides the compiled program: classes, static arguments, shapes, dtype, model."""

    algorithm: str  # DSGD | DCSGD | DSignSGD | DSignSGD-majority | Normalized | Normalized-theory
    compressor: str | None
    compressor_arg: int
    n_workers: int
    problem: str  # Quadratic | Quartic | LossProblem
    dim: int
    noise: str  # Gaussian | Affine | StudentT
    per_worker: bool
    df: float
    model: str
    dtype: str

    def refusal(self):
        """The names a documented refusal must mention, or None if the structure is valid."""
        if self.compressor in ("RandK", "TopK") and self.compressor_arg > self.dim:
            return ("k",)
        if self.model in SDE_MODELS:
            if self.algorithm.startswith("Normalized"):
                return ("NormalizedDCSGD", "model")
            if self.compressor in ("Sign", "TopK"):
                return ("biased", "unbiased", "model")
            if self.noise == "StudentT" and self.df <= 2 and not self.algorithm.startswith("DSignSGD"):
                return ("StudentTNoise", "variance", "model")
        if self.algorithm == "Normalized-theory" and self.compressor in ("Sign", "TopK"):
            return ("compressor", "unbiased", "omega")
        return None


def _cosh_loss(x):
    return jnp.sum(jnp.cosh(x)) - x.shape[-1]


_COMPRESSORS = {
    "Identity": lambda arg: sdejax.Identity(),
    "RandK": lambda arg: sdejax.RandK(arg),
    "BernoulliSparsifier": None,  # p is a drawn value
    "NaturalCompression": lambda arg: sdejax.NaturalCompression(),
    "RandomDithering": lambda arg: sdejax.RandomDithering(arg),
    "Sign": lambda arg: sdejax.Sign(),
    "TopK": lambda arg: sdejax.TopK(arg),
}


def build(structure: Structure, values: dict):
    """(algorithm, problem, noise) of ``structure`` with the drawn ``values``."""
    s = structure
    if s.compressor == "BernoulliSparsifier":
        compressor = sdejax.BernoulliSparsifier(values["p"])
    elif s.compressor is not None:
        compressor = _COMPRESSORS[s.compressor](s.compressor_arg)
    if s.algorithm == "DSGD":
        algorithm = sdejax.DSGD(s.n_workers)
    elif s.algorithm == "DCSGD":
        algorithm = sdejax.DCSGD(compressor, s.n_workers)
    elif s.algorithm.startswith("DSignSGD"):
        algorithm = sdejax.DSignSGD(
            s.n_workers, vote="majority" if s.algorithm.endswith("majority") else "mean"
        )
    else:
        scaling = "theory" if s.algorithm.endswith("theory") else "plain"
        algorithm = sdejax.NormalizedDCSGD(compressor, s.n_workers, scaling=scaling)
    if s.problem == "Quadratic":
        spread = 1.0 if values.get("isotropic") else jnp.linspace(1.0, 2.0, s.dim)
        problem = sdejax.Quadratic(jnp.full(s.dim, values["eigenvalue"]) * spread)
    elif s.problem == "Quartic":
        problem = sdejax.Quartic(s.dim)
    else:
        problem = sdejax.LossProblem(_cosh_loss, s.dim, smoothness=(1.0, 1.0))
    scale = values["scale"]
    if s.per_worker:
        scale = values["param_type"](np.asarray([scale, 2 * scale][: s.n_workers]))
    else:
        scale = values["param_type"](scale)
    if s.noise == "Gaussian":
        noise = sdejax.GaussianNoise(scale)
    elif s.noise == "Affine":
        noise = sdejax.AffineGaussianNoise(scale, values["sigma1"])
    else:
        noise = sdejax.StudentTNoise(s.df, scale)
    return algorithm, problem, noise


def _pool_default():
    S = Structure
    return [
        S("DSGD", None, 0, 2, "Quadratic", 3, "Gaussian", False, 0.0, "discrete", "float64"),
        S("DCSGD", "RandK", 2, 2, "Quadratic", 3, "Affine", True, 0.0, "discrete", "float32"),
        S("DSignSGD-majority", None, 0, 2, "Quartic", 1, "StudentT", False, 1.0, "corrected", "float64"),
        S(
            "Normalized-theory",
            "BernoulliSparsifier",
            0,
            1,
            "Quadratic",
            1,
            "Gaussian",
            False,
            0.0,
            "discrete",
            "float64",
        ),
        # refused without compiling anything (documented: which models accept which noise)
        S("DSGD", None, 0, 2, "Quadratic", 3, "StudentT", False, 1.0, "sme2", "float64"),
        S("DCSGD", "TopK", 1, 2, "Quadratic", 3, "Gaussian", False, 0.0, "sme1", "float64"),
        S("DCSGD", "RandK", 2, 1, "Quadratic", 1, "Gaussian", False, 0.0, "discrete", "float64"),
    ]


def _pool_slow():
    """Every algorithm variant, compressor, noise, problem, model and dtype at least once."""
    variants = [("DSGD", None, 0), ("DSignSGD", None, 0), ("DSignSGD-majority", None, 0)]
    variants += [("DCSGD", name, 1 if name in ("RandK", "TopK") else 2) for name in _COMPRESSORS]
    variants += [("Normalized", "RandK", 1), ("Normalized-theory", "BernoulliSparsifier", 0)]
    variants += [("Normalized-theory", "TopK", 1)]
    problems = ("Quadratic", "Quartic", "LossProblem")
    noises = (("Gaussian", 0.0), ("Affine", 0.0), ("StudentT", 1.0), ("StudentT", 2.5), ("StudentT", 3.0))
    pool = []
    for i, (algorithm, compressor, arg) in enumerate(variants):
        for j, model in enumerate(("discrete", SDE_MODELS[i % 3])):
            noise, df = noises[(i + 2 * j) % len(noises)]
            pool.append(
                Structure(
                    algorithm,
                    compressor,
                    arg,
                    1 + (i + j) % 2,
                    problems[(i + j) % 3],
                    (1, 3)[(i + j) % 2],
                    noise,
                    bool((i + j) % 2),
                    df,
                    model,
                    ("float64", "float32")[(i * 2 + j) % 2 if model == "discrete" else 0],
                )
            )
    return _pool_default() + pool


POOL_DEFAULT = _pool_default()
POOL_SLOW = _pool_slow()

# x0 dtypes that map to each computation dtype (the documented rule), and bad ones.
X0_DTYPES = {"float64": (np.float64, np.int64, np.int32), "float32": (np.float32, np.float16, jnp.bfloat16)}


def _python(value):
    return np.asarray(value).tolist()  # a float, or a list of floats for per-worker values


def _single(value):
    return np.asarray(value, np.float32)


def _half(value):
    with np.errstate(over="ignore"):  # 1e30 in float16 is inf: refused by the constructor
        return jnp.asarray(np.asarray(value, np.float16))


PARAM_TYPES = (_python, _single, np.float64, _half)
SCHEDULE = optax.cosine_decay_schedule(1.0, STEPS)


# ----------------------------------------------------------------------------- simulate cases
def _bad_schedule(k):
    return -1.0 + 0.0 * k


SIMULATE_MUTATIONS = [
    ("learning_rate", [0.0, -1.0, math.nan, math.inf, "0.1", 1j, [0.1, 0.2], None]),
    ("steps", [0, -1, 2.5, "3", True, None]),
    ("n_paths", [0, -4, 4.0, None]),
    ("save_every", [0, 1.5]),
    ("key", [0, "key", None, jr.split(KEY, 2)]),
    ("model", ["sde", 3, None, ["discrete"]]),
    ("burn_in", [1.0, -0.1, math.nan, "x", None]),
    ("divergence_bound", [-1.0, 0.0, math.nan, math.inf, "big", 1e300]),
    ("sampling", ["exact", 3]),
    ("sde_substeps", [0, 2.5]),
    ("schedule", [_bad_schedule, 0.5, "cosine"]),
    ("model_options", ["fast", [1, 2]]),
]
CONSTRUCTOR_MUTATIONS = [
    ("sigma", lambda: sdejax.GaussianNoise(-1.0)),
    ("sigma", lambda: sdejax.GaussianNoise(math.nan)),
    ("sigma", lambda: sdejax.GaussianNoise(math.inf)),
    ("sigma", lambda: sdejax.GaussianNoise(np.ones((2, 2)))),
    ("sigma", lambda: sdejax.GaussianNoise(1j)),
    ("sigma", lambda: sdejax.GaussianNoise("0.1")),
    ("sigma0", lambda: sdejax.AffineGaussianNoise(-1.0, 0.1)),
    ("sigma1", lambda: sdejax.AffineGaussianNoise(0.0, math.nan)),
    ("df", lambda: sdejax.StudentTNoise(0.0, 1.0)),
    ("df", lambda: sdejax.StudentTNoise(-3.0, 1.0)),
    ("df", lambda: sdejax.StudentTNoise(math.inf, 1.0)),
    ("scale", lambda: sdejax.StudentTNoise(3.0, -1.0)),
    ("p", lambda: sdejax.BernoulliSparsifier(0.0)),
    ("p", lambda: sdejax.BernoulliSparsifier(1.5)),
    ("p", lambda: sdejax.BernoulliSparsifier(math.nan)),
    ("k", lambda: sdejax.RandK(0)),
    ("k", lambda: sdejax.RandK(2.5)),
    ("k", lambda: sdejax.TopK(-1)),
    ("k", lambda: sdejax.RandK(True)),
    ("levels", lambda: sdejax.RandomDithering(0)),
    ("n_workers", lambda: sdejax.DSGD(0)),
    ("n_workers", lambda: sdejax.DSignSGD(2.0)),
    ("compressor", lambda: sdejax.DCSGD("rand-k", 2)),
    ("vote", lambda: sdejax.DSignSGD(2, vote="median")),
    ("scaling", lambda: sdejax.NormalizedDCSGD(sdejax.Identity(), 2, scaling="x")),
    ("eigenvalues", lambda: sdejax.Quadratic(jnp.ones((2, 2)))),
    ("eigenvalues", lambda: sdejax.Quadratic(jnp.asarray([1.0, math.nan]))),
    ("dim", lambda: sdejax.Quartic(0)),
    ("loss_fn", lambda: sdejax.LossProblem(3, 2)),
    ("smoothness", lambda: sdejax.LossProblem(_cosh_loss, 2, smoothness=(1.0, -1.0))),
]


@st.composite
def simulate_cases(draw, pool):
    s = draw(st.sampled_from(pool))
    values = {
        "p": draw(st.sampled_from((1e-3, 0.5, 1.0))),
        "eigenvalue": draw(st.sampled_from((0.0, 1e-3, 1.0, 10.0))),
        "scale": draw(st.sampled_from(MAGNITUDES)),
        "sigma1": draw(st.sampled_from((0.0, 0.1, 1.0))),
        "param_type": draw(st.sampled_from(PARAM_TYPES)),
    }
    x0_dtype = draw(st.sampled_from(X0_DTYPES[s.dtype]))
    magnitude = draw(st.sampled_from((0.0, 1e-30, 1.0, 1e10, 1e30)))
    if np.issubdtype(np.dtype(x0_dtype), np.integer):
        magnitude = float(draw(st.sampled_from((0, 1, 7))))
    with np.errstate(over="ignore"):  # 1e10 in float16 is inf: a non-finite start, refused
        x0 = (magnitude * np.linspace(1.0, -0.5, s.dim)).astype(x0_dtype)
    kwargs = dict(
        x0=x0,
        learning_rate=draw(st.sampled_from((1e-30, 1e-3, 0.1, 1.0, 10.0, 1e6))),
        steps=STEPS,
        n_paths=N_PATHS,
        key=KEY,
        model=s.model,
        schedule=draw(st.sampled_from((None, SCHEDULE))),
        burn_in=draw(st.sampled_from((0.0, 0.25, 0.9))),
    )
    expected = s.refusal()
    norm = float(np.linalg.norm(x0.astype(np.float64)))
    if s.dtype == "float32" and norm >= FLOAT32_MAX_NORM and expected is None:
        expected = ("x0",)
    if values["param_type"] is _half and values["scale"] > float(np.finfo(np.float16).max):
        expected = ("sigma", "scale") + (expected or ())  # inf in float16: the constructor refuses
    mutation = draw(st.sampled_from(("none", "none", "run", "constructor")))
    constructor = None
    if mutation == "run":
        name, bad = draw(st.sampled_from(SIMULATE_MUTATIONS))
        kwargs[name] = draw(st.sampled_from(bad))
        expected = (name,) + (expected or ())  # several faults: naming any one is clear
    elif mutation == "constructor":
        name, constructor = draw(st.sampled_from(CONSTRUCTOR_MUTATIONS))
        expected = (name,)  # raised first, before the structure is built
    elif draw(st.booleans()) and expected is None:
        kind = draw(st.sampled_from(("shape", "nan", "complex", "bool", "paths_shape")))
        kwargs["x0"] = {
            "shape": np.ones(s.dim + 1),
            "nan": np.full(s.dim, math.nan),
            "complex": np.ones(s.dim) + 1j,
            "bool": np.ones(s.dim, bool),
            "paths_shape": np.ones((N_PATHS + 1, s.dim)),
        }[kind]
        expected = ("x0",)

    def run():
        if constructor is not None:
            constructor()
        algorithm, problem, noise = build(s, values)
        return sdejax.simulate(algorithm, problem, noise, **kwargs)

    return Case(
        f"simulate {s} values={values} kwargs={_short(kwargs)}", run, check_simulation(s.dtype), expected
    )


def _short(kwargs) -> dict:
    return {
        k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v)
        for k, v in kwargs.items()
        if k != "key"
    }


# ----------------------------------------------------------------------------- sweep cases
SWEEP_STRUCTURES_DEFAULT = [
    Structure(
        "DCSGD", "BernoulliSparsifier", 0, 2, "Quadratic", 3, "Gaussian", False, 0.0, "discrete", "float64"
    )
]
SWEEP_STRUCTURES_SLOW = SWEEP_STRUCTURES_DEFAULT + [
    Structure("DSignSGD", None, 0, 2, "Quadratic", 3, "StudentT", True, 1.0, "corrected", "float32")
]
SWEEP_MUTATIONS = [
    (
        "learning_rates",
        [[], [[0.1, 0.2]], [0.2, 0.1], [0.1, 0.1], [-0.1, 0.1], [0.1, math.nan], ["a", "b"], 0.1],
    ),
    ("models", [(), ("discrete", "discrete"), ("sde",), 3]),
    (
        "grid",
        [
            {"compressor.q": [0.5]},
            {"noise.sigma": []},
            {"noise.sigma": [0.1, 0.1]},
            "p",
            {"noise.sigma": 0.1},
        ],
    ),
    ("memory_budget", [0, -1, 1.5]),
    ("path_block", [0, 2.5]),
    ("eta_block", [0, "2"]),
]


@st.composite
def sweep_cases(draw, structures):
    s = draw(st.sampled_from(structures))
    values = {
        "p": 0.5,
        "eigenvalue": 1.0,
        "scale": draw(st.sampled_from(MAGNITUDES)),
        "sigma1": 0.1,
        "param_type": _python,
    }
    rates = sorted(draw(st.sets(st.sampled_from((1e-3, 0.1, 1.0, 10.0, 1e6)), min_size=2, max_size=2)))
    grid_values = sorted(draw(st.sets(st.sampled_from((0.01, 0.5, 1.0)), min_size=2, max_size=2)))
    grid = (
        {"compressor.p": grid_values}
        if s.compressor == "BernoulliSparsifier"
        else {"noise.scale": grid_values}
    )
    x0 = np.ones(s.dim, s.dtype) * draw(st.sampled_from((1e-3, 1.0, 1e10)))
    kwargs = dict(
        x0=x0,
        learning_rates=rates,
        steps=STEPS,
        n_paths=N_PATHS,
        key=KEY,
        models=("discrete", s.model) if s.model != "discrete" else ("discrete",),
        grid=grid,
        path_block=N_PATHS,
    )
    expected = None
    if draw(st.booleans()):
        name, bad = draw(st.sampled_from(SWEEP_MUTATIONS))
        kwargs[name] = draw(st.sampled_from(bad))
        expected = (name, "grid", "path") if name == "grid" else (name,)
        if name == "grid" and isinstance(kwargs[name], dict) and "noise.sigma" in kwargs[name]:
            expected = ("grid", "noise.sigma", "sigma")

    def run():
        algorithm, problem, noise = build(s, values)
        return sdejax.stability_sweep(algorithm, problem, noise, **kwargs)

    return Case(f"stability_sweep {s} {_short(kwargs)}", run, check_sweep(s.dtype), expected)


# ----------------------------------------------------------------------------- optim cases
PARAMS = {"w": np.arange(6.0).reshape(2, 3) / 7, "b": np.asarray([0.5, -0.25])}


@st.composite
def optim_cases(draw):
    factory = draw(st.sampled_from(("dcsgd", "dsignsgd", "normalized_dcsgd", "compress_workers")))
    compressor_name = draw(st.sampled_from(tuple(_COMPRESSORS)))
    compressor = (
        sdejax.BernoulliSparsifier(0.5)
        if compressor_name == "BernoulliSparsifier"
        else _COMPRESSORS[compressor_name](2)
    )
    learning_rate = draw(st.sampled_from((0.0, 1e-30, 0.1, 1e6, SCHEDULE)))
    dtype = draw(st.sampled_from((np.float32, np.float64)))
    params = {k: jnp.asarray(v, dtype) for k, v in PARAMS.items()}
    magnitude = draw(st.sampled_from((0.0, 1e-30, 1.0, 1e30)))
    n_workers = draw(st.sampled_from((1, 3)))
    grads = {
        k: jnp.asarray(magnitude * np.cos(np.arange(n_workers * v.size)).reshape(n_workers, *v.shape), dtype)
        for k, v in PARAMS.items()
    }
    with_key = draw(st.booleans())
    faults = []  # every fault of the case; the error must name one of them
    shape_mode = draw(st.sampled_from(("ok", "ok", "ok", "no_worker_axis", "mismatch", "tree")))
    if shape_mode == "no_worker_axis":
        grads = {k: v[0] for k, v in grads.items()}
        faults.append("worker axis")
    elif shape_mode == "mismatch":
        grads = {"w": grads["w"], "b": jnp.concatenate([grads["b"], grads["b"]])}
        faults.append("worker axis")
    elif shape_mode == "tree":
        grads = {"w": grads["w"]}
        faults += ["tree structure", "worker axis"]
    bad_rate = draw(st.sampled_from((None, None, -0.1, math.nan, math.inf, "0.1", 1j)))
    if bad_rate is not None and factory != "compress_workers":
        learning_rate = bad_rate
        faults.append("learning_rate")
    random = compressor_name not in ("Identity", "Sign", "TopK")
    if factory != "dsignsgd" and not with_key and random:
        faults.append("key")
    expected = tuple(faults) or None
    pass_params = draw(st.booleans())

    def make():
        key = KEY if with_key else None
        if factory == "dcsgd":
            return sdejax.optim.dcsgd(learning_rate, compressor, key=key)
        if factory == "dsignsgd":
            return sdejax.optim.dsignsgd(learning_rate)
        if factory == "normalized_dcsgd":
            return sdejax.optim.normalized_dcsgd(learning_rate, compressor, key=key)
        return sdejax.optim.compress_workers(compressor, key=key)

    def run():
        opt = make()
        state = opt.init(params)
        updates, state = opt.update(grads, state, params if pass_params else None)
        return updates

    def check(updates):
        problems = []
        if jax.tree_util.tree_structure(updates) != jax.tree_util.tree_structure(params):
            return ["update tree differs from params"]
        for name in params:
            u = np.asarray(updates[name], np.float64)
            want = (n_workers, *params[name].shape) if factory == "compress_workers" else params[name].shape
            if u.shape != want:
                problems.append(f"update {name} has shape {u.shape}, expected {want}")
            # Documented limit: a compressor that takes ‖g‖ (RandomDithering) overflows once ‖g‖²
            # does, above 1.8e19 in float32.
            overflow = compressor_name == "RandomDithering" and magnitude**2 * 6 > float(np.finfo(dtype).max)
            if not np.all(np.isfinite(u)) and not overflow:
                problems.append(f"update {name} not finite for finite gradients")
        if factory == "normalized_dcsgd" and magnitude > 0 and not callable(learning_rate) and not problems:
            norm = math.sqrt(sum(float(np.sum(np.asarray(u, np.float64) ** 2)) for u in updates.values()))
            if norm > 0 and not math.isclose(norm, learning_rate, rel_tol=1e-4):
                problems.append(f"normalized step has length {norm}, expected {learning_rate}")
        if factory == "dsignsgd" and not callable(learning_rate):
            if any(
                np.any(np.abs(np.asarray(u, np.float64)) > learning_rate * (1 + 1e-6))
                for u in updates.values()
            ):
                problems.append("a sign step longer than the learning rate")
        return problems

    return Case(
        f"optim.{factory}({compressor_name}, lr={learning_rate}, key={with_key}) {shape_mode} "
        f"N={n_workers} |g|={magnitude} {np.dtype(dtype).name} params={pass_params}",
        run,
        check,
        expected,
    )


# ----------------------------------------------------------------------------- theory cases
@st.composite
def theory_cases(draw):
    s = draw(st.sampled_from([x for x in POOL_SLOW if x.problem == "Quadratic"]))
    values = {
        "p": 0.5,
        "eigenvalue": draw(st.sampled_from((1e-3, 1.0, 10.0))),
        "scale": draw(st.sampled_from(MAGNITUDES)),
        "sigma1": 0.1,
        "param_type": _python,
        "isotropic": True,  # the closed forms of docs/theory.md §6 are for isotropic quadratics
    }
    function = draw(
        st.sampled_from(
            ("effective_noise", "ms_threshold", "ms_growth_rate", "dsignsgd_loss_floor", "dsgd_loss_floor")
        )
    )
    learning_rate = draw(st.sampled_from((0.1, 1.0, 1e6, 0.0, -1.0, math.nan, "x")))
    model = draw(st.sampled_from(("discrete", *SDE_MODELS)))
    bad_rate = not isinstance(learning_rate, float) or not (
        learning_rate > 0 and math.isfinite(learning_rate)
    )

    def run():
        algorithm, problem, noise = build(s, values)
        f = getattr(sdejax.theory, function)
        if function == "effective_noise":
            return f(algorithm, problem, noise)
        if function == "ms_threshold":
            return f(model, algorithm, problem, noise)
        if function == "ms_growth_rate":
            return f(model, algorithm, problem, noise, learning_rate)
        return f(algorithm, problem, noise, learning_rate)

    def check(value) -> list:
        arr = np.asarray(value, dtype=float)
        if np.any(np.isneginf(arr)) and function != "ms_growth_rate":
            return [f"{function} returned -inf"]
        if np.any(np.isnan(arr)) and function not in ("ms_threshold",):
            return [f"{function} returned NaN"]
        return []

    uses_rate = function in ("ms_growth_rate", "dsignsgd_loss_floor", "dsgd_loss_floor")
    # Several faults at once: naming any of them is clear (e.g. a floor for another algorithm).
    faults = ("learning_rate", "algorithm", "problem", "noise", "model", "compressor", "DSGD", "DSignSGD")
    expected = faults if uses_rate and bad_rate else None
    # A formula may refuse a configuration outside its validity clearly (e.g. DSGD floor with
    # Student-t noise): a valid case accepts a number or a clear ValueError/TypeError.
    return Case(
        f"theory.{function} {s} lr={learning_rate} model={model} values={values}",
        run,
        check,
        expected,
        either=expected is None,
    )


def all_cases(pool, sweep_structures):
    return st.one_of(
        simulate_cases(pool),
        simulate_cases(pool),
        sweep_cases(sweep_structures),
        optim_cases(),
        theory_cases(),
    )


# ----------------------------------------------------------------------------- the tests
def _fuzz(profile: str, pool, sweep_structures, capsys, show: bool):
    OUTCOMES.clear()
    FAILURES.clear()

    @settings(settings.get_profile(profile))
    @given(case=all_cases(pool, sweep_structures))
    def fuzz(case):
        run_case(case)  # outcomes are counted; every case runs, then the test asserts

    fuzz()
    text = report(profile)
    if show:
        with capsys.disabled():
            print("\n" + text)
    assert not FAILURES, text


def test_public_api_fuzz(capsys):
    _fuzz("sdejax-fuzz", POOL_DEFAULT, SWEEP_STRUCTURES_DEFAULT, capsys, show=False)


@pytest.mark.slow
def test_public_api_fuzz_1000_cases(capsys):
    _fuzz("sdejax-fuzz-slow", POOL_SLOW, SWEEP_STRUCTURES_SLOW, capsys, show=True)


# ----------------------------------------------------------------------------- divergence
def _divergence_structures(full: bool):
    """Every algorithm and model that accepts Cauchy noise (StudentTNoise(1.0, s)), and the SDE
    models of DSGD/DCSGD under Gaussian noise (they refuse Cauchy), in float32 and float64."""
    S = Structure
    if not full:  # the default pool's compiled programs: Cauchy with an SDE model, float32
        return [POOL_DEFAULT[0], POOL_DEFAULT[1], POOL_DEFAULT[2]]
    variants = [("DSGD", None, 0), ("DSignSGD", None, 0), ("DSignSGD-majority", None, 0)]
    variants += [("DCSGD", name, 2) for name in _COMPRESSORS]
    variants += [("Normalized", "RandK", 2), ("Normalized-theory", "BernoulliSparsifier", 0)]
    out = []
    for dtype in ("float32", "float64"):
        for algorithm, compressor, arg in variants:
            out.append(
                S(algorithm, compressor, arg, 2, "Quadratic", 3, "StudentT", False, 1.0, "discrete", dtype)
            )
            for model in SDE_MODELS:
                if algorithm.startswith("DSignSGD"):
                    out.append(
                        S(algorithm, compressor, arg, 2, "Quadratic", 3, "StudentT", False, 1.0, model, dtype)
                    )
                elif algorithm == "DSGD" or (
                    algorithm == "DCSGD" and compressor in ("RandK", "BernoulliSparsifier")
                ):
                    out.append(
                        S(algorithm, compressor, arg, 2, "Quadratic", 3, "Gaussian", False, 0.0, model, dtype)
                    )
    return out


def divergence_cases(full: bool):
    for s in _divergence_structures(full):
        for scale in (1e-3, 1.0, 1e30):
            for learning_rate in (1e-3, 1.0, 1e6):
                values = {"p": 0.5, "eigenvalue": 1.0, "scale": scale, "sigma1": 0.0, "param_type": _python}
                kwargs = dict(
                    x0=np.ones(s.dim, s.dtype),
                    learning_rate=learning_rate,
                    steps=STEPS,
                    n_paths=N_PATHS,
                    key=KEY,
                    model=s.model,
                )

                def run(s=s, values=values, kwargs=kwargs):
                    return sdejax.simulate(*build(s, values), **kwargs)

                yield Case(f"divergence {s} scale={scale} lr={learning_rate}", run, check_simulation(s.dtype))


@pytest.mark.parametrize("full", [pytest.param(False), pytest.param(True, marks=pytest.mark.slow)])
def test_divergence_never_poisons_results(full, capsys):
    # Learning rates up to 1e6, noise scales up to 1e30, Cauchy noise: paths blow up, and every
    # documented number stays a number or +inf (means over no live path), never NaN.
    outcomes, failures = collections.Counter(), []
    for case in divergence_cases(full):
        outcome, detail = classify(case)
        outcomes[outcome] += 1
        if detail:
            failures.append(detail)
    if full:
        with capsys.disabled():
            print(f"\ndivergence: {dict(outcomes)}")
            for detail in failures:
                print("  ", _shorten(detail))
    assert not failures, "\n".join(failures[:10])
