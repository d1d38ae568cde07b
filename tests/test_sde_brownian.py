"""The fixed-grid Brownian path of the SDE models (brownian="increments")."""

import math

import diffrax
import jax
import jax.numpy as jnp
import jax.random as jr
import lineax as lx
import numpy as np
from helpers import z_for

from sdejax._models._sde import IncrementBrownianPath

T0, T1, N_GRID, DIM = 0.5, 2.5, 8, 3
H = (T1 - T0) / N_GRID


def _path(key):
    return IncrementBrownianPath(T0, T1, N_GRID, (DIM,), key, jnp.float64)


def _grid(k):
    return T0 + k * H


def test_increments_sum_over_nested_grids():
    path = _path(jr.key(0))
    fine = np.stack([np.asarray(path.evaluate(_grid(k), _grid(k + 1))) for k in range(N_GRID)])
    np.testing.assert_allclose(fine, np.stack([path.increment(k) for k in range(N_GRID)]))
    for i, j in [(0, N_GRID), (2, 6), (3, 4), (5, 5)]:
        expected = fine[i:j].sum(0)
        np.testing.assert_allclose(path.evaluate(_grid(i), _grid(j)), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(path.evaluate(_grid(6), _grid(2)), -fine[2:6].sum(0), rtol=1e-12)
    np.testing.assert_allclose(path.evaluate(_grid(5)), fine[:5].sum(0), rtol=1e-12)
    # Queries off the grid snap to the nearest grid point.
    np.testing.assert_allclose(path.evaluate(_grid(1) + 0.1 * H, _grid(3) - 0.1 * H), fine[1:3].sum(0))
    levy = path.evaluate(_grid(1), _grid(3), use_levy=True)
    assert isinstance(levy, diffrax.BrownianIncrement)
    np.testing.assert_allclose(levy.W, fine[1:3].sum(0))
    np.testing.assert_allclose(levy.dt, 2 * H)


def test_increments_law(key):
    # Independent N(0, h) increments: per interval variance h, sums of r intervals r·h, and
    # distinct intervals uncorrelated. 20 000 paths × 3 coordinates; z-tests on the variances.
    n_paths = 20_000
    keys = jr.split(key, n_paths)
    each = jax.vmap(lambda k: jnp.stack([_path(k).increment(i) for i in range(N_GRID)]))(keys)
    each = np.asarray(each).reshape(n_paths, N_GRID, DIM)
    z = z_for(1e-4 / 4)
    samples = n_paths * DIM
    var = each.var(axis=(0, 2))
    # Var of a sample variance of normals: 2σ⁴/n.
    assert np.all(np.abs(var - H) < z * H * math.sqrt(2 / samples)), var / H
    assert np.all(np.abs(each.mean(axis=(0, 2))) < z * math.sqrt(H / samples))
    block = jax.jit(jax.vmap(lambda k: _path(k).evaluate(_grid(1), _grid(5))))(keys)
    block = np.asarray(block)
    assert abs(block.var() - 4 * H) < z * 4 * H * math.sqrt(2 / samples)
    corr = np.corrcoef(each[:, 0, :].ravel(), each[:, 1, :].ravel())[0, 1]
    assert abs(corr) < z / math.sqrt(samples)


def test_euler_on_nested_grids_uses_one_path():
    # dX = dW: Euler is exact for any step on the grid, so X(T1) = W(T1) − W(T0) whether the
    # solve takes the fine step h or the coarse step 2h (the coarse step sums fine increments).
    path = _path(jr.key(3))

    def solve(dt):
        structure = jax.ShapeDtypeStruct((DIM,), jnp.float64)
        term = diffrax.ControlTerm(lambda t, y, args: lx.IdentityLinearOperator(structure), path)
        solution = diffrax.diffeqsolve(
            term, diffrax.Euler(), T0, T1, dt, jnp.zeros(DIM), saveat=diffrax.SaveAt(t1=True)
        )
        return solution.ys[-1]

    total = path.evaluate(T0, T1)
    np.testing.assert_allclose(solve(H), total, rtol=1e-10)
    np.testing.assert_allclose(solve(2 * H), total, rtol=1e-10)
