"""The three SDE models of docs/theory.md §5, registered as "sme1", "sme2" and "corrected"."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import equinox as eqx

from ..._algorithms import AbstractAlgorithm
from ..._noise import AbstractNoise
from ..._problems import AbstractProblem
from ..._validation import as_float_array, check_int_at_least, check_positive
from .._registry import register_model
from ._base import AbstractSDEModel
from ._build import coefficients_for
from ._coefficients import AbstractSDECoefficients
from ._correction import CurvatureCorrection
from ._integrate import check_brownian, resolve_solver

_OPTIONS = """
    **Arguments:** `algorithm`, `problem`, `noise` (the same values as the discrete model);
    `sde_substeps` m >= 1 (dt = η/m; default 10); `solver` ``"euler"`` (default),
    ``"heun"``/``"milstein"`` where valid, or a diffrax solver; `brownian` ``"unsafe"``
    (default: diffrax ``UnsafeBrownianPath``, one fresh normal per fixed step keyed by the step's
    times), ``"increments"`` (``IncrementBrownianPath``: one normal per grid interval of length
    η/m keyed by its index, drawn when a step needs it; as fast as ``"unsafe"`` or slightly
    faster, nested grids share one path, as convergence tests need, and learning rates vmapped
    with shared keys share their increments) or ``"virtual_tree"`` (reproducible under
    refinement, needed for adaptive steps; slow);
    `stepsize_controller` (a diffrax controller; default fixed steps); `max_steps` (default m,
    or 16 m with an adaptive controller); `correction`: a callable
    ``(coefficients, x) -> (d,)`` replacing the default term c(x) (multiplied by η η_t²);
    `learning_rate`: optional default η for :func:`sdejax.generator` (``step`` always takes η
    from its caller).

    ```python
    model = sdejax.make_model("corrected", sdejax.DCSGD(sdejax.RandK(2), 8),
                              sdejax.Quadratic(jnp.ones(10)), sdejax.AffineGaussianNoise(0.0, 0.1))
    x1 = model.step(jax.random.key(0), jnp.ones(10), 0.5, 1.0)
    ```
"""

# Module-level defaults (immutable modules): +½ J_b b (corrected), −½ J_b b (SME-2).
CORRECTED_CORRECTION = CurvatureCorrection(0.5)
SME2_CORRECTION = CurvatureCorrection(-0.5)


def _setup(
    model,
    algorithm,
    problem,
    noise,
    sde_substeps,
    solver,
    brownian,
    stepsize_controller,
    max_steps,
    correction,
    learning_rate=None,
):
    owner = f"{model.name} model"
    if learning_rate is not None:
        check_positive("learning_rate", learning_rate, owner)
        learning_rate = as_float_array(learning_rate)
    model.learning_rate = learning_rate
    check_int_at_least("sde_substeps", sde_substeps, 1, owner)
    check_brownian(brownian, stepsize_controller, owner)
    model.algorithm = algorithm
    model.problem = problem
    model.noise = noise
    model.coefficients = coefficients_for(algorithm, problem, noise, owner)
    model.correction = correction
    model.sde_substeps = int(sde_substeps)
    model.solver = resolve_solver(solver, model.coefficients, problem.dim, owner)
    model.brownian = brownian
    model.stepsize_controller = stepsize_controller
    fixed = stepsize_controller is None
    model.max_steps = int(max_steps or (sde_substeps if fixed else 16 * sde_substeps))


def _model_class(class_name: str, model_name: str, default_correction, doc: str):
    """One final SDE model class per name; they differ only in the default correction."""

    class Model(AbstractSDEModel):
        algorithm: AbstractAlgorithm
        problem: AbstractProblem
        noise: AbstractNoise
        coefficients: AbstractSDECoefficients
        correction: Callable | None
        learning_rate: object
        solver: object
        stepsize_controller: object
        sde_substeps: int = eqx.field(static=True)
        brownian: str = eqx.field(static=True)
        max_steps: int = eqx.field(static=True)
        name: ClassVar[str] = model_name

        def __init__(
            self,
            algorithm,
            problem,
            noise,
            *,
            sde_substeps=10,
            solver="euler",
            brownian="unsafe",
            stepsize_controller=None,
            max_steps=None,
            learning_rate=None,
            correction=default_correction,
        ):
            _setup(
                self,
                algorithm,
                problem,
                noise,
                sde_substeps,
                solver,
                brownian,
                stepsize_controller,
                max_steps,
                correction,
                learning_rate,
            )

    Model.__name__ = Model.__qualname__ = class_name
    Model.__doc__ = doc + _OPTIONS
    return register_model(Model)


SME1Model = _model_class(
    "SME1Model",
    "sme1",
    None,
    """SME-1, the classic first-order model: dX = η_t b dt + √η η_t S^{1/2} dW.

    For DSignSGD it is [paper] (2411.15958, 2502.17009). No curvature term, so it misses the
    stability limit of the step (docs/theory.md §6 H1–H3).
    """,
)
SME2Model = _model_class(
    "SME2Model",
    "sme2",
    SME2_CORRECTION,
    """SME-2, the second-order modified equation (Li, Tai, E): drift η_t b − (η η_t²/2) J_b b.

    Matches the mean of one step to O(η²) but has the curvature term with the sign opposite to
    the one-step loss change (docs/theory.md §5). For DSignSGD the J_b b term is [reconstructed].
    """,
)
CorrectedModel = _model_class(
    "CorrectedModel",
    "corrected",
    CORRECTED_CORRECTION,
    """The paper's curvature-corrected first-order model: drift η_t b + (η η_t²/2) J_b b.

    Its generator reproduces the one-step loss change of DSGD/DCSGD to O(η²) and its
    mean-square stability boundary is the discrete one (docs/theory.md §6 H1, H7) [paper]. For
    DSignSGD (J_b b = J_m̄ m̄) the correction is [reconstructed]: pass ``correction`` to try
    another.
    """,
)
