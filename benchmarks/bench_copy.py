"""Benchmark: ImageCopier.copy_many versus ``skopeo copy`` between two loopback registries.

    .venv/bin/python benchmarks/bench_copy.py [--images 50] [--layers 4] [--layer-mib 1]
                                              [--concurrency 8] [--big-mib 200]

Pushes N images (L layers each: gzip'd tars of 1 MiB of random data) to registry A,
then copies them to a *fresh* registry for each method: ours sequential, ours with copy_many, skopeo
sequential, skopeo with the same parallelism (a thread pool running one skopeo
per image). Then the peak RSS (ru_maxrss of a child process) of copying one
big layer, ours and skopeo's. Prints markdown tables. Needs Debian's
docker-registry and skopeo (see tests/fixtures/registry.py).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapter.actions.replicate import CopyJob, ImageCopier  # noqa: E402
from adapter.registry.client import RegistryClient  # noqa: E402
from adapter.registry.config import RegistryConfig  # noqa: E402
from tests.fixtures.images import push_bench_images, push_large_image  # noqa: E402
from tests.fixtures.registry import RegistryFactory, RunningRegistry  # noqa: E402

OURS_CHILD = """
import resource, sys
from adapter.actions.replicate import ImageCopier
from adapter.registry.client import RegistryClient
from adapter.registry.config import RegistryConfig
src = RegistryClient(RegistryConfig(name="a", url=sys.argv[1]), credentials=None)
dst = RegistryClient(RegistryConfig(name="b", url=sys.argv[2]), credentials=None)
ImageCopier().copy((src, "big/app", "v1"), (dst, "big/app", "v1"))
"""
#: Runs argv[1:] and prints its peak RSS in KiB. Linux carries ru_maxrss across fork+exec,
#: so the measured process must be the child of this small wrapper, not of the big benchmark.
PEAK_RSS = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def client(registry: RunningRegistry) -> RegistryClient:
    return RegistryClient(RegistryConfig(name=registry.name, url=registry.url), credentials=None)


def skopeo(source: RunningRegistry, target: RunningRegistry, repo: str) -> list[str]:
    return [
        "skopeo",
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        f"docker://{source.host}/{repo}:v1",
        f"docker://{target.host}/{repo}:v1",
    ]


def run_skopeo(source: RunningRegistry, target: RunningRegistry, repo: str) -> None:
    subprocess.run(skopeo(source, target, repo), check=True, stdout=subprocess.DEVNULL, timeout=600)


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def check_copied(source: RunningRegistry, target: RunningRegistry, repos: list[str]) -> int:
    """Every image is at the target; returns how many kept the source manifest digest."""
    src, dst = client(source), client(target)
    same = 0
    for repo in repos:
        want = src.head_manifest(repo, "v1")
        got = dst.head_manifest(repo, "v1")
        assert want is not None and got is not None, repo
        same += want.digest == got.digest
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--layer-mib", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--big-mib", type=int, default=200)
    args = parser.parse_args()
    if shutil.which("skopeo") is None:
        sys.exit("skopeo is not installed (apt-get install -y skopeo)")
    base = Path(tempfile.mkdtemp(prefix="freightliner-bench-"))
    factory = RegistryFactory(base)
    try:
        source = factory.start(name="a")
        repos = [f"bench/img{i:03d}" for i in range(args.images)]
        layer_size = int(args.layer_mib * 1024 * 1024)
        push_bench_images(source, repos, args.layers, layer_size, args.concurrency)
        rows: list[tuple[str, float, int]] = []

        def ours(concurrency: int) -> Callable[[RunningRegistry], None]:
            def run(target: RunningRegistry) -> None:
                src, dst = client(source), client(target)
                jobs = [CopyJob((src, r, "v1"), (dst, r, "v1")) for r in repos]
                outcomes = ImageCopier().copy_many(jobs, max_concurrency=concurrency)
                assert all(o.ok for o in outcomes), [o.error for o in outcomes if o.error]

            return run

        def theirs(concurrency: int) -> Callable[[RunningRegistry], None]:
            def run(target: RunningRegistry) -> None:
                with ThreadPoolExecutor(concurrency) as pool:
                    list(pool.map(lambda r: run_skopeo(source, target, r), repos))

            return run

        methods = [
            ("freightliner copy_many, concurrency 1", ours(1)),
            (f"freightliner copy_many, concurrency {args.concurrency}", ours(args.concurrency)),
            ("skopeo copy, sequential", theirs(1)),
            (f"skopeo copy, {args.concurrency} in parallel", theirs(args.concurrency)),
        ]
        for label, method in methods:
            target = factory.start(name="b")
            seconds = timed(lambda m=method, t=target: m(t))  # type: ignore[misc]
            rows.append((label, seconds, check_copied(source, target, repos)))
            target.stop()
        total_mib = args.images * (args.layers * args.layer_mib)
        print(
            f"\n{args.images} images x {args.layers} layers x {args.layer_mib} MiB "
            f"({total_mib:.0f} MiB), {os.cpu_count()} CPUs, loopback http\n"
        )
        print("| method | seconds | images/s | MiB/s | same digest |\n|---|---:|---:|---:|---:|")
        for label, seconds, same in rows:
            print(
                f"| {label} | {seconds:.2f} | {args.images / seconds:.1f} | "
                f"{total_mib / seconds:.1f} | {same}/{args.images} |"
            )

        big = push_large_image(
            source, "big/app", "v1", args.big_mib << 20, gzip_spool=base / "big-layer.gz"
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        print(f"\nPeak RSS copying one {args.big_mib} MiB layer ({big.size} bytes in all)\n")
        print("| method | seconds | peak RSS (MB) |\n|---|---:|---:|")
        for label in ("freightliner ImageCopier.copy", "skopeo copy"):
            target = factory.start(name="b")
            measured = (
                [sys.executable, "-c", OURS_CHILD, source.url, target.url]
                if label.startswith("freightliner")
                else skopeo(source, target, "big/app")
            )
            command = [sys.executable, "-c", PEAK_RSS, *measured]
            started = time.perf_counter()
            out = subprocess.run(
                command, capture_output=True, text=True, env=env, check=True, timeout=900
            )
            seconds = time.perf_counter() - started
            print(f"| {label} | {seconds:.2f} | {int(out.stdout.split()[-1]) * 1024 / 1e6:.1f} |")
            target.stop()
        print(
            "\n(benchmark process itself: "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB peak)"
        )
    finally:
        factory.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
