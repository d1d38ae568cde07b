"""Markdown report: the machine, one table per workload, and the targets of issue 5."""

from __future__ import annotations

import math
import time
from pathlib import Path


def _fmt(x, digits=3):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if abs(x) >= 1e4 or (abs(x) < 1e-2 and x != 0):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def _by_name(payload):
    return {r["name"]: r for r in payload.get("results", []) if not r["skipped"]}


def _ratio(ours, other):
    """How many times faster ours is per path-step (None when either is missing)."""
    if ours is None or other is None:
        return None
    return ours["path_steps_per_s"] / other["path_steps_per_s"]


def _target(rows, label, value, ok, why=""):
    status = "–" if value is None else ("met" if ok(value) else "**missed**")
    rows.append(f"| {label} | {_fmt(value)} | {status} | {why} |")


def render(payloads, quick: bool) -> str:
    lines = ["# sdejax benchmarks (W1–W5 of benchmarks/README.md)", ""]
    machine = next((p["machine"] for p in payloads if "machine" in p), {})
    lines += [
        f"Generated {time.strftime('%Y-%m-%d %H:%M')} by `python benchmarks/run.py"
        f"{' --quick' if quick else ''}`" + (" (**quick smoke sizes, not the spec**)" if quick else "") + ".",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()) + ".",
        "",
        "Throughput is path-steps per second (paths × steps / median wall time); `× ours` is how "
        "many times faster sdejax's row of the same workload is per path-step. Compile = first "
        "call − median (JIT compile for JAX, warm-up for peers). Peak memory is the workload "
        "subprocess's maximum RSS (all its implementations).",
        "",
    ]
    targets = ["| target | measured | status | note |", "|---|---|---|---|"]
    for payload in payloads:
        name = payload["workload"]
        if payload.get("failed"):
            lines += [f"## {name}", "", "**failed** (see the run's log)", ""]
            continue
        lines += [
            f"## {name}",
            "",
            f"Peak RSS {payload['peak_rss_bytes'] / 2**20:.0f} MiB"
            + (
                f"; device peak {payload['device_peak_bytes'] / 2**20:.0f} MiB"
                if payload.get("device_peak_bytes")
                else ""
            )
            + f"; workload wall time {payload['wall_s']:.0f} s.",
            "",
        ]
        results = payload["results"]
        ours = next((r for r in results if r["role"] == "sdejax" and not r["skipped"]), None)
        lines += [
            "| implementation | role | paths | steps | median s | path-steps/s | × ours | compile s | note |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in results:
            if r["skipped"]:
                lines.append(
                    f"| {r['name']} | {r['role']} | – | – | – | – | – | – | skipped: {r['skipped']} |"
                )
                continue
            speedup = _ratio(ours, r) if name not in ("W5", "S") else None
            lines.append(
                f"| {r['name']} | {r['role']} | {r['paths']} | {r['steps']} | {_fmt(r['median_s'])} "
                f"| {_fmt(r['path_steps_per_s'])} | {_fmt(speedup)} | {_fmt(r['compile_s'])} "
                f"| {r['note']} |"
            )
        lines.append("")
        _targets_for(name, payload, ours, targets)
    lines += [
        "## Targets (issue 5)",
        "",
        *targets,
        "",
        "S is the sampler micro-benchmark: its `paths` column counts variates per step "
        "(paths × d) and its throughput column is variates/s.",
        "",
        "GPU targets (W4-shaped work at ≥ 10⁹ path-steps/s, W1 at ≥ 10⁸): "
        + (
            "see the tables above (this run was on a GPU)."
            if machine.get("backend") == "gpu"
            else "**not measured** — no GPU in this run; the script prints the device and uses "
            "≥ 10⁵ paths when one is present."
        ),
        "",
    ]
    analysis = Path(__file__).with_name("analysis.md")
    if analysis.exists() and not quick:
        lines += [analysis.read_text()]
    return "\n".join(lines)


def _targets_for(name, payload, ours, rows):
    by = _by_name(payload)
    if ours is not None and name not in ("W4", "S"):
        _target(rows, f"{name}: compile time < 10 s", ours["compile_s"], lambda v: v < 10)
    if name in ("W1", "W2"):
        _target(rows, f"{name}: ≥ 10× NumPy", _ratio(ours, by.get("NumPy")), lambda v: v >= 10)
        _target(
            rows,
            f"{name}: ≥ 10× PyTorch",
            _ratio(ours, _best_torch(by)),
            lambda v: v >= 10,
            "against the faster of the PyTorch rows",
        )
        _target(
            rows,
            f"{name}: ≥ 5× straightforward JAX",
            _ratio(ours, by.get("straightforward JAX")),
            lambda v: v >= 5,
        )
        floor = by.get("floor (aggregate variates)")
        value = None if floor is None or ours is None else 1 / _ratio(ours, floor)
        _target(rows, f"{name}: time / floor ≤ 1.5", value, lambda v: v <= 1.5)
    elif name == "W1b":
        _target(rows, "W1b: ≥ 3× NumPy", _ratio(ours, by.get("NumPy")), lambda v: v >= 3)
        _target(
            rows,
            "W1b: ≥ 3× PyTorch",
            _ratio(ours, _best_torch(by)),
            lambda v: v >= 3,
            "against the faster of the PyTorch rows",
        )
    elif name == "W3":
        floor = by.get("lax.scan Euler–Maruyama")
        value = None if floor is None or ours is None else 1 / _ratio(ours, floor)
        _target(rows, "W3: time / scan floor ≤ 1.3", value, lambda v: v <= 1.3)
        _target(rows, "W3: ≥ 3× torchsde", _ratio(ours, by.get("torchsde")), lambda v: v >= 3)
        _target(
            rows,
            "W3: ≥ 10× diffrax VirtualBrownianTree",
            _ratio(ours, by.get("diffrax + VirtualBrownianTree")),
            lambda v: v >= 10,
        )
    elif name == "W4":
        _target(
            rows,
            "W4: whole map incl. compile < 60 s",
            ours["first_s"] if ours else None,
            lambda v: v < 60,
            "seconds",
        )
        numpy = by.get("NumPy loop over cells")
        value = None if numpy is None or ours is None else numpy["median_s"] / ours["first_s"]
        _target(rows, "W4: ≥ 20× NumPy loop (ours incl. compile)", value, lambda v: v >= 20)
        _target(
            rows,
            "W4: peak memory < 2 GB",
            payload["peak_rss_bytes"] / 1e9,
            lambda v: v < 2,
            "GB, whole subprocess RSS (JAX runtime included)",
        )
        if ours is not None:
            _target(rows, "W4: compile time < 10 s", ours["compile_s"], lambda v: v < 10)
    elif name == "W5":
        groups = {}
        for r in payload["results"]:
            label, n = r["name"].rsplit(" N=", 1)
            groups.setdefault(label, {})[int(n)] = r
        for label, runs in groups.items():
            if 8 in runs and 512 in runs:
                value = runs[512]["median_s"] / runs[8]["median_s"]
                _target(
                    rows,
                    f"W5 {label}: T(N=512)/T(N=8) ≤ 2",
                    value,
                    lambda v: v <= 2,
                    " / ".join(f"N={n}: {_fmt(r['median_s'])} s" for n, r in sorted(runs.items())),
                )


def _best_torch(by):
    rows = [r for name, r in by.items() if name.startswith("PyTorch")]
    return max(rows, key=lambda r: r["path_steps_per_s"]) if rows else None
