"""PyTorch peers (CPU build): the discrete workloads as a vectorized loop over steps."""

from __future__ import annotations


def available() -> str | None:
    try:
        import torch  # noqa: F401
    except ImportError:
        return "torch not installed (pip install 'sdejax[bench]')"
    return None


def discrete(spec, paths: int, steps: int, seed: int = 0, threads: int | None = None):
    """``threads``: torch intra-op threads for this call (None: torch's default, one per core).
    On a loaded machine OpenMP's spinning threads can be far slower than one thread, so the
    benchmark reports both and the targets use the faster."""
    import torch

    if threads is not None:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return discrete(spec, paths, steps, seed)
        finally:
            torch.set_num_threads(previous)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x = torch.ones((paths, spec.d), dtype=torch.float32)
        shape = (paths, spec.n_workers, spec.d)
        student = None
        if spec.kind == "sign":
            student = torch.distributions.StudentT(torch.tensor(float(spec.df)))
        for _ in range(steps):
            g = x
            if spec.kind == "sign":
                t = student.sample(shape)  # uses the global generator (torch.distributions)
                direction = torch.sign(g[:, None, :] + spec.scale * t).mean(dim=1)
            else:
                if spec.kind == "dsgd":
                    s = torch.full((paths, 1, 1), spec.sigma)
                else:
                    s = (spec.sigma1 * torch.linalg.vector_norm(g, dim=-1))[:, None, None]
                z = torch.randn(shape, generator=generator)
                grads = g[:, None, :] + s * z
                if spec.kind == "bernoulli":
                    keep = torch.rand(shape, generator=generator) < spec.p
                    grads = torch.where(keep, grads / spec.p, torch.zeros(()))
                elif spec.kind == "randk":
                    index = torch.rand(shape, generator=generator).topk(spec.k, dim=-1).indices
                    mask = torch.zeros(shape).scatter_(-1, index, spec.d / spec.k)
                    grads = grads * mask
                direction = grads.mean(dim=1)
            x = x - spec.learning_rate * direction
        return x
