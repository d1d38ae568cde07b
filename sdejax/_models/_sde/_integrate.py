"""One SDE interval [0, η] with diffrax: solver, Brownian path and step-size choices."""

from __future__ import annotations

import diffrax
import jax
import jax.numpy as jnp

from ._brownian import IncrementBrownianPath

_SOLVERS = ("euler", "heun", "milstein")
_BROWNIAN = ("increments", "unsafe", "virtual_tree")


def resolve_solver(solver, coefficients, dim: int, owner: str):
    """A diffrax solver from a name, checking that the model allows it.

    ``"euler"`` (Euler–Maruyama, Itô, weak order 1) always; ``"heun"`` (converges to the
    Stratonovich solution) and ``"milstein"`` (Itô Milstein, needs commutative noise) only
    where they solve the same Itô SDE: additive noise, or d = 1 for Milstein. Any
    ``diffrax.AbstractSolver`` instance is passed through unchecked.
    """
    if isinstance(solver, diffrax.AbstractSolver):
        return solver
    if solver not in _SOLVERS:
        raise ValueError(f"{owner}: `solver` must be one of {_SOLVERS} or a diffrax solver, got {solver!r}.")
    additive = coefficients.has_additive_noise
    if solver == "euler":
        return diffrax.Euler()
    if solver == "heun":
        if not additive:
            raise ValueError(
                f"{owner}: solver='heun' converges to the Stratonovich SDE, which differs from the "
                "Itô model unless the noise is additive (DSGD with Gaussian/Student-t noise); "
                "use 'euler'."
            )
        return diffrax.Heun()
    if not (additive or dim == 1):
        raise ValueError(
            f"{owner}: solver='milstein' needs commutative noise (additive, or d = 1); use 'euler'."
        )
    return diffrax.ItoMilstein()


def is_fixed_step(stepsize_controller) -> bool:
    """Whether a controller takes fixed steps (None, the default, or ``ConstantStepSize``)."""
    return isinstance(stepsize_controller, (diffrax.ConstantStepSize, type(None)))


def check_brownian(brownian, stepsize_controller, owner: str):
    if brownian not in _BROWNIAN:
        raise ValueError(f"{owner}: `brownian` must be one of {_BROWNIAN}, got {brownian!r}.")
    if not is_fixed_step(stepsize_controller) and brownian != "virtual_tree":
        raise ValueError(
            f"{owner}: an adaptive `stepsize_controller` needs brownian='virtual_tree' "
            f"(the {brownian!r} path is valid for fixed steps only)."
        )


def brownian_path(kind, key, learning_rate, substeps, shape, dtype):
    if kind == "increments":
        return IncrementBrownianPath(0.0, learning_rate, substeps, shape, key, dtype)
    if kind == "unsafe":
        return diffrax.UnsafeBrownianPath(jax_shape(shape, dtype), key)
    # Resolves the path to a quarter of the fixed step; reproducible under refinement.
    tol = learning_rate / (4 * substeps)
    return diffrax.VirtualBrownianTree(jnp.zeros((), dtype), learning_rate, tol, jax_shape(shape, dtype), key)


def jax_shape(shape, dtype):
    return jax.ShapeDtypeStruct(shape, dtype)


def solve_interval(
    drift,
    diffusion,
    x,
    learning_rate,
    key,
    *,
    substeps,
    solver,
    brownian,
    stepsize_controller,
    max_steps,
):
    """X(η) of dX = drift(X) dt + diffusion(X) dW, X(0) = x, dt0 = η/substeps.

    Failures (e.g. a diverging path making the solver give up) give a non-finite state rather
    than an exception, so the engine can freeze the path.
    """
    dtype = x.dtype
    t1 = jnp.asarray(learning_rate, dtype)
    path = brownian_path(brownian, key, t1, substeps, x.shape, dtype)
    terms = diffrax.MultiTerm(
        diffrax.ODETerm(lambda t, y, args: drift(y)),
        diffrax.ControlTerm(lambda t, y, args: diffusion(y), path),
    )
    controller = stepsize_controller or diffrax.ConstantStepSize()
    solution = diffrax.diffeqsolve(
        terms,
        solver,
        jnp.zeros((), dtype),
        t1,
        t1 / substeps,
        x,
        saveat=diffrax.SaveAt(t1=True),
        stepsize_controller=controller,
        max_steps=max_steps,
        throw=False,
        # No backpropagation through the solve: forward mode needs no checkpointing and is
        # the mode UnsafeBrownianPath supports.
        adjoint=diffrax.ForwardMode(),
    )
    y = solution.ys[-1]
    ok = solution.result == diffrax.RESULTS.successful
    return jnp.where(ok, y, jnp.full_like(y, jnp.nan))
