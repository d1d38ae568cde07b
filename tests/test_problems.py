"""Problems: closed-form gradients and Hessian-vector products, and their (L0, L1) constants."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings, strategies as st

import sdejax

PROBLEMS = {
    "quadratic": sdejax.Quadratic(jnp.array([0.5, 1.0, 3.0])),
    "quartic": sdejax.Quartic(3),
    "logistic": sdejax.LossProblem(lambda x: jnp.sum(jnp.logaddexp(0.0, -x)), 3, smoothness=(0.25, 0.0)),
}
X = jnp.array([0.3, -1.2, 2.0])
V = jnp.array([1.0, 0.5, -2.0])


def test_gradient_and_hvp_match_autodiff():
    for name, problem in PROBLEMS.items():
        grad = jax.grad(problem.loss)(X)
        hessian = jax.hessian(problem.loss)(X)
        np.testing.assert_allclose(problem.gradient(X), grad, rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(problem.hvp(X, V), hessian @ V, rtol=1e-12, err_msg=name)


def test_closed_forms():
    np.testing.assert_allclose(PROBLEMS["quadratic"].loss(X), 0.5 * np.sum(np.array([0.5, 1, 3]) * X**2))
    np.testing.assert_allclose(PROBLEMS["quartic"].gradient(X), X**3)
    np.testing.assert_allclose(PROBLEMS["quartic"].hvp(X, V), 3 * X**2 * V)
    l0, l1 = PROBLEMS["quadratic"].smoothness()
    assert float(l0) == 3.0 and float(l1) == 0.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-20, 20, allow_nan=False), min_size=3, max_size=3))
def test_quartic_is_l0_l1_smooth(values):
    # ‖∇²f(x)‖ = max_j 3x_j² <= L0 + L1‖∇f(x)‖ with (L0, L1) = (4, 1) (docs/theory.md §1).
    x = jnp.asarray(values)
    problem = PROBLEMS["quartic"]
    l0, l1 = (float(c) for c in problem.smoothness())
    hessian_norm = float(jnp.max(3 * x**2))
    assert hessian_norm <= l0 + l1 * float(jnp.linalg.norm(problem.gradient(x))) + 1e-9


@settings(max_examples=50, deadline=None)
@given(st.floats(-30, 30, allow_nan=False))
def test_logistic_is_l_smooth_and_0_1_smooth(x):
    # log(1 + e^{-x}): f'' <= 1/4 and f'' <= |f'| (docs/theory.md §1).
    problem = PROBLEMS["logistic"]
    f = lambda t: problem.loss(jnp.array([t, 0.0, 0.0]))  # noqa: E731
    second = float(jax.grad(jax.grad(f))(x))
    first = float(jax.grad(f)(x))
    assert second <= 0.25 + 1e-12 and second <= abs(first) + 1e-12
