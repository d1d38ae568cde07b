"""Run the performance workloads W1–W5 (benchmarks/README.md) with their peers, side by side.

    python benchmarks/run.py                 # full sizes, writes RESULTS.md and results.json
    python benchmarks/run.py --quick         # small smoke run (a minute or two)
    python benchmarks/run.py --workloads W1,W3

Each workload runs in its own subprocess (its peak resident memory is that process's maximum
RSS; on a GPU the device's peak bytes in use). Within a workload, the implementations are
compiled/warmed up once and then timed in interleaved rounds; medians are reported. Peers are
optional (``pip install 'sdejax[bench]'``): a missing one is skipped with a message.
The same script runs unchanged on a GPU: it prints the device and uses >= 10^5 paths.
Benchmarks are measurements, not pass/fail tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ("W1", "W1b", "W2", "W3", "W4", "W5", "S")  # S: sampler micro-benchmark


def child(workload: str, quick: bool, out: str) -> None:
    sys.path.insert(0, str(HERE))
    import _common
    import jax
    import workloads

    sizes = _common.Sizes.make(quick)
    print(f"[{workload}] device: {jax.devices()[0]} ({jax.default_backend()}); sizes: {sizes}", flush=True)
    start = time.perf_counter()
    results = workloads.WORKLOADS[workload](sizes)
    payload = {
        "workload": workload,
        "results": [m.as_dict() for m in results],
        "wall_s": time.perf_counter() - start,
        "device_peak_bytes": _common.peak_device_memory(),
        "machine": _common.describe_machine(),
        "sizes": vars(sizes),
    }
    Path(out).write_text(json.dumps(payload))


def run_child(workload: str, quick: bool) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    command = [sys.executable, str(Path(__file__).resolve()), "--child", workload, "--out", out]
    if quick:
        command.append("--quick")
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        print(f"[{workload}] failed with status {status}", flush=True)
        return {"workload": workload, "failed": True, "peak_rss_bytes": usage.ru_maxrss * 1024}
    payload = json.loads(Path(out).read_text())
    os.unlink(out)
    payload["peak_rss_bytes"] = usage.ru_maxrss * 1024  # Linux reports KiB
    return payload


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--workloads", default=",".join(ORDER), help="comma-separated subset")
    parser.add_argument(
        "--output",
        default=None,
        help="markdown file (default: RESULTS.md for a full run, RESULTS-quick.md for --quick)",
    )
    parser.add_argument(
        "--json",
        default=None,
        help="also write the raw measurements here (default for a full run of every workload: "
        "results.json beside RESULTS.md, which --render-only reads back)",
    )
    parser.add_argument(
        "--render-only",
        default=None,
        metavar="JSON",
        help="render the report from a --json file of an earlier run",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.quick, args.out)
        return
    chosen = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in chosen if w not in ORDER]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {ORDER}")
    payloads = []
    json_path = args.json
    if json_path is None and not args.quick and not args.render_only and chosen == list(ORDER):
        json_path = HERE / "results.json"  # the tables of RESULTS.md keep their raw numbers
    if args.render_only:
        payloads = json.loads(Path(args.render_only).read_text())
        chosen = []
    for workload in chosen:
        print(f"=== {workload}", flush=True)
        payloads.append(run_child(workload, args.quick))
        if json_path:  # saved after every workload, so an interrupted run can still be rendered
            Path(json_path).write_text(json.dumps(payloads, indent=1))
    sys.path.insert(0, str(HERE))
    import report

    text = report.render(payloads, quick=args.quick)
    print(text)
    output = Path(args.output) if args.output else HERE / ("RESULTS-quick.md" if args.quick else "RESULTS.md")
    output.write_text(text)
    print(f"written {output}")


if __name__ == "__main__":
    main()
