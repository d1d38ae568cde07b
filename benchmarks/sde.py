"""W3: the corrected SDE of DCSGD (Bernoulli p = 1/4, affine noise) with Euler–Maruyama.

dX = (−∇f + (η/2)∇²f∇f) dt + √η S(X)^{1/2} dW on f = ½‖x‖² (docs/theory.md §5), S = Σ̃/N diagonal
with Σ̃_j = s² + ω(∂_j f² + s²), s² = σ1²‖∇f‖², ω = 1/p − 1 (docs/theory.md §5.1); dt = η/10.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.lax as lax
import jax.numpy as jnp
import jax.random as jr


@dataclass(frozen=True)
class SDESpec:
    d: int = 100
    n_workers: int = 8
    p: float = 0.25
    sigma1: float = 0.1
    learning_rate: float = 0.1
    substeps: int = 10  # dt = η / substeps

    @property
    def dt(self):
        return self.learning_rate / self.substeps

    def drift(self, x):
        # b = −∇f = −x, J_b b = x (λ = 1): corrected drift −x + (η/2) x.
        return -x + 0.5 * self.learning_rate * x

    def diffusion_diagonal(self, x):
        g = x
        s2 = self.sigma1**2 * jnp.sum(g * g, axis=-1, keepdims=True)
        omega = 1.0 / self.p - 1.0
        variance = (s2 + omega * (g * g + s2)) / self.n_workers
        return jnp.sqrt(self.learning_rate * variance)

    def sdejax_components(self):
        """(algorithm, problem, noise) of this workload in sdejax."""
        import sdejax

        return (
            sdejax.DCSGD(sdejax.BernoulliSparsifier(self.p), self.n_workers),
            sdejax.Quadratic(jnp.ones(self.d)),
            sdejax.AffineGaussianNoise(0.0, self.sigma1),
        )


W3 = SDESpec()


def sdejax_corrected(spec, paths: int, sde_steps: int, brownian: str | None = None):
    """``simulate(model="corrected")``; ``brownian`` None is the model's default path."""
    import sdejax

    algorithm, problem, noise = spec.sdejax_components()
    steps = sde_steps // spec.substeps

    def run(seed=0):
        return sdejax.simulate(
            algorithm,
            problem,
            noise,
            x0=jnp.ones(spec.d),
            learning_rate=spec.learning_rate,
            steps=steps,
            n_paths=paths,
            key=jr.key(seed),
            model="corrected",
            sde_substeps=spec.substeps,
            save_every=steps,
            model_options=None if brownian is None else {"brownian": brownian},
        )

    return run


def scan_floor(spec, paths: int, sde_steps: int):
    """The hand-written floor: lax.scan of Euler–Maruyama, one (paths, d) normal draw per step."""

    @jax.jit
    def run(key):
        def body(x, key_step):
            dw = jnp.sqrt(spec.dt) * jr.normal(key_step, x.shape)
            return x + spec.drift(x) * spec.dt + spec.diffusion_diagonal(x) * dw, None

        x, _ = lax.scan(body, jnp.ones((paths, spec.d)), jr.split(key, sde_steps))
        return x

    return run


def diffrax_direct(spec, paths: int, sde_steps: int, brownian: str):
    """diffrax by hand: Euler over [0, sde_steps·dt], vmapped over paths; ``brownian`` is
    ``"unsafe"`` (UnsafeBrownianPath, the fast path) or ``"tree"`` (the documented default,
    VirtualBrownianTree with tol = dt/2)."""
    import diffrax
    import lineax as lx

    t1 = sde_steps * spec.dt

    def one_path(key):
        shape = jax.ShapeDtypeStruct((spec.d,), jnp.result_type(float))
        if brownian == "unsafe":
            path = diffrax.UnsafeBrownianPath(shape, key)
        else:
            path = diffrax.VirtualBrownianTree(0.0, t1, spec.dt / 2, shape, key)
        terms = diffrax.MultiTerm(
            diffrax.ODETerm(lambda t, y, args: spec.drift(y)),
            diffrax.ControlTerm(
                lambda t, y, args: lx.DiagonalLinearOperator(spec.diffusion_diagonal(y)), path
            ),
        )
        solution = diffrax.diffeqsolve(
            terms,
            diffrax.Euler(),
            0.0,
            t1,
            spec.dt,
            jnp.ones(spec.d),
            saveat=diffrax.SaveAt(t1=True),
            max_steps=sde_steps,
            throw=False,
            adjoint=diffrax.ForwardMode() if brownian == "unsafe" else diffrax.RecursiveCheckpointAdjoint(),
        )
        return solution.ys[-1]

    @jax.jit
    def run(key):
        return jax.vmap(one_path)(jr.split(key, paths))

    return run


def torchsde_euler(spec, paths: int, sde_steps: int):
    from _common import Skip

    try:
        import torch
        import torchsde
    except ImportError as error:
        raise Skip(f"torchsde not installed ({error.name}); pip install 'sdejax[bench]'") from None

    class CorrectedSDE(torch.nn.Module):
        noise_type = "diagonal"
        sde_type = "ito"

        def f(self, t, y):
            return -y + 0.5 * spec.learning_rate * y

        def g(self, t, y):
            s2 = spec.sigma1**2 * (y * y).sum(dim=-1, keepdim=True)
            omega = 1.0 / spec.p - 1.0
            return torch.sqrt(spec.learning_rate * (s2 + omega * (y * y + s2)) / spec.n_workers)

    sde = CorrectedSDE()
    ts = torch.tensor([0.0, sde_steps * spec.dt])

    def run(seed=0):
        torch.manual_seed(seed)
        with torch.no_grad():
            y0 = torch.ones((paths, spec.d))
            return torchsde.sdeint(sde, y0, ts, method="euler", dt=spec.dt)[-1]

    return run
