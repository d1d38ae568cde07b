"""Timing, sizes and machine description shared by the workloads (benchmarks/README.md rules)."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field

import jax


def on_gpu() -> bool:
    return jax.default_backend() in ("gpu", "cuda", "rocm")


@dataclass
class Sizes:
    """Batch sizes for one run: ``full`` (benchmarks/README.md), ``quick`` (smoke), GPU-filled."""

    quick: bool
    repeats: int = 5
    paths: int = 4096
    steps: int = 1000  # sdejax, the floor and other fast JAX programs
    peer_steps: int = 20  # per-worker peers (NumPy, PyTorch, straightforward JAX): throughput
    # is per path-step, so fewer steps measure it as well and keep the run short
    slow_peer_paths: int = 512  # diffrax with a virtual tree, torchsde: far slower per step
    slow_peer_steps: int = 100  # (W3: 1/10 of the SDE steps; a shallower tree flatters the
    # VirtualBrownianTree peer slightly, so its ratio is conservative)

    @classmethod
    def make(cls, quick: bool) -> Sizes:
        sizes = cls(quick=quick)
        if quick:
            sizes.repeats, sizes.paths, sizes.steps, sizes.peer_steps = 3, 512, 100, 10
            sizes.slow_peer_paths, sizes.slow_peer_steps = 128, 10
        if on_gpu():
            # Fill the device: at least 10^5 paths (2^17), per benchmarks/README.md.
            sizes.paths = max(sizes.paths, 2**17)
            sizes.slow_peer_paths = max(sizes.slow_peer_paths, 2**14)
        return sizes


@dataclass
class Measurement:
    """One implementation of one workload: median wall time over repeats and compile time."""

    workload: str
    name: str
    role: str  # "sdejax", "peer", "floor", "reference"
    paths: int
    steps: int
    first_s: float = float("nan")
    times: list = field(default_factory=list)
    note: str = ""
    skipped: str = ""

    @property
    def median_s(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    @property
    def compile_s(self) -> float:
        """Time of the first call minus the steady state (JIT compile, or warm-up for peers)."""
        return max(0.0, self.first_s - self.median_s)

    @property
    def path_steps_per_s(self) -> float:
        return self.paths * self.steps / self.median_s

    def as_dict(self):
        return {
            "workload": self.workload,
            "name": self.name,
            "role": self.role,
            "paths": self.paths,
            "steps": self.steps,
            "first_s": self.first_s,
            "median_s": self.median_s,
            "compile_s": self.compile_s,
            "path_steps_per_s": self.path_steps_per_s if self.times else float("nan"),
            "times": self.times,
            "note": self.note,
            "skipped": self.skipped,
        }


def block(result):
    return jax.block_until_ready(result)


def measure(workload: str, implementations, repeats: int):
    """Run each implementation once (compile/warm-up), then ``repeats`` interleaved rounds.

    ``implementations``: list of (name, role, paths, steps, fn or None, note). A ``None`` fn
    (or one raising ``Skip``) is reported as skipped with its note. Interleaving the repeats
    spreads the noise of a shared machine evenly over the implementations being compared.
    """
    results = []
    runnable = []
    for name, role, paths, steps, fn, note in implementations:
        m = Measurement(workload, name, role, paths, steps, note=note)
        results.append(m)
        if fn is None:
            m.skipped = note or "not available"
            print(f"  [{workload}] {name}: skipped ({m.skipped})", flush=True)
            continue
        try:
            start = time.perf_counter()
            block(fn())
            m.first_s = time.perf_counter() - start
        except Skip as reason:
            m.skipped = str(reason)
            print(f"  [{workload}] {name}: skipped ({reason})", flush=True)
            continue
        print(f"  [{workload}] {name}: first call {m.first_s:.2f} s", flush=True)
        runnable.append((m, fn))
    # An implementation whose first call took over 20 s is repeated twice only (a slow peer
    # on a shared machine); its median is still of steady-state calls.
    for round_ in range(repeats):
        for m, fn in runnable:
            if round_ >= 2 and m.first_s > 20:
                continue
            start = time.perf_counter()
            block(fn())
            m.times.append(time.perf_counter() - start)
    for m, _ in runnable:
        print(
            f"  [{workload}] {m.name}: median {m.median_s:.3f} s, {m.path_steps_per_s:.3g} path-steps/s",
            flush=True,
        )
    return results


class Skip(Exception):
    """Raised by an implementation whose optional dependency is missing."""


def describe_machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    devices = jax.devices()
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": ", ".join(f"{d.platform}:{getattr(d, 'device_kind', '')}" for d in devices),
        "x64": bool(jax.config.jax_enable_x64),
        "prng": str(jax.config.jax_default_prng_impl),
    }
    for module in ("numpy", "torch", "torchsde", "diffrax", "equinox"):
        try:
            info[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001 - an optional peer
            info[module] = "not installed"
    return info


def peak_device_memory() -> float | None:
    """Peak bytes in use on the first accelerator (None on CPU, where RSS is reported)."""
    if not on_gpu():
        return None
    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")
