"""Interleaved A/B of the copy between two checkouts: same source registry, short alternating runs.

    .venv/bin/python benchmarks/copy_ab.py --a /tmp/before --b . [--pairs 8] [--images 20]
                                           [--layers 4] [--layer-mib 1] [--concurrency 1]

On a shared machine the load drifts by more than the difference to measure
between two ``bench_copy.py`` runs minutes apart. This script pushes the
images to one source registry once, then alternates A, B, A, B, ... (each
run a fresh target registry and a child process importing that checkout's
``adapter``), so consecutive runs seconds apart see nearly the same load.
Per run: wall time, the child's CPU time, the registries' CPU time
(``/proc/PID/stat``) and the load average. Prints each run and, per side,
the best and the median, and the median of the per-pair ratios B ÷ A.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.images import push_bench_images  # noqa: E402
from tests.fixtures.registry import RegistryFactory  # noqa: E402

_TICKS = os.sysconf("SC_CLK_TCK")

CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from adapter.actions.replicate import CopyJob, ImageCopier
from adapter.registry.client import RegistryClient
from adapter.registry.config import RegistryConfig
src = RegistryClient(RegistryConfig(name="a", url=sys.argv[2]), credentials=None)
dst = RegistryClient(RegistryConfig(name="b", url=sys.argv[3]), credentials=None)
repos, concurrency = json.loads(sys.argv[4]), int(sys.argv[5])
jobs = [CopyJob((src, r, "v1"), (dst, r, "v1")) for r in repos]
cpu, wall = time.process_time(), time.perf_counter()
outcomes = ImageCopier().copy_many(jobs, max_concurrency=concurrency)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
assert all(o.ok for o in outcomes), [o.error for o in outcomes if o.error]
print(json.dumps({"wall": wall, "cpu": cpu}))
"""


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", type=Path, required=True, help="checkout A (e.g. the before tree)")
    parser.add_argument("--b", type=Path, required=True, help="checkout B")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--layer-mib", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="freightliner-copyab-"))
    factory = RegistryFactory(base)
    runs: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    try:
        source = factory.start(name="a")
        repos = [f"bench/img{i:03d}" for i in range(args.images)]
        size = int(args.layer_mib * (1 << 20))
        push_bench_images(source, repos, args.layers, size, 4)
        print(f"A = {args.a.resolve()}\nB = {args.b.resolve()}")
        print(
            f"{args.images} images x {args.layers} layers x {args.layer_mib} MiB, "
            f"concurrency {args.concurrency}, {args.pairs} pairs\n"
        )
        print("| run | side | wall (s) | our CPU (s) | registries' CPU (s) | loadavg 1 min |")
        print("|---:|---|---:|---:|---:|---:|")
        for pair in range(1, args.pairs + 1):
            for side, root in (("A", args.a), ("B", args.b)):
                target = factory.start(name="b")
                load = float(Path("/proc/loadavg").read_text().split()[0])
                before = process_cpu(source.process.pid) + process_cpu(target.process.pid)
                out = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        CHILD,
                        str(root.resolve()),
                        source.url,
                        target.url,
                        json.dumps(repos),
                        str(args.concurrency),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=900,
                )
                registries = (
                    process_cpu(source.process.pid) + process_cpu(target.process.pid) - before
                )
                run = {**json.loads(out.stdout), "registries": registries, "load": load}
                runs[side].append(run)
                print(
                    f"| {pair} | {side} | {run['wall']:.2f} | {run['cpu']:.2f} | "
                    f"{registries:.2f} | {load:.1f} |",
                    flush=True,
                )
                target.stop()
        print("\n| side | wall best | wall median | our CPU median | registries' CPU median |")
        print("|---|---:|---:|---:|---:|")
        for side, values in runs.items():
            walls = [r["wall"] for r in values]
            print(
                f"| {side} | {min(walls):.2f} | {statistics.median(walls):.2f} | "
                f"{statistics.median(r['cpu'] for r in values):.2f} | "
                f"{statistics.median(r['registries'] for r in values):.2f} |"
            )
        ratios = [b["wall"] / a["wall"] for a, b in zip(runs["A"], runs["B"], strict=True)]
        print(
            f"\nB ÷ A wall per pair: {', '.join(f'{r:.3f}' for r in ratios)}; "
            f"median {statistics.median(ratios):.3f}"
        )
    finally:
        factory.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
