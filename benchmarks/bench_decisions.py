"""Decision latency and bundle build time as the number of policies grows.

For 10, 100, 1,000 and 10,000 policies: build the bundle (generated tests
included) and write its tarball; then decide random images with the embedded
engine (regorus, in-process) and with OPA (the `opa run --server` on PATH, over
HTTP with a keep-alive connection). Policies are a realistic mix keyed on
repository, tag prefix or label (indexable), plus a fixed number of policies
with no indexable condition (evaluated for every image). The "no index" column
decides the same images with every policy evaluated, to show what the index
saves.

    python benchmarks/bench_decisions.py [--sizes 10,100,1000,10000] [--decisions 1000]

Prints a Markdown table (copied into docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from migrate.bundle.builder import BundleBuilder
from migrate.contract.image import ImageMetadata
from migrate.engine.embedded import EmbeddedEngine
from migrate.policy.model import LoadedPolicy, Policy, PolicySet

NOW = "2026-11-23T12:00:00Z"
UNINDEXED = 5


def make_policies(n: int, rng: random.Random) -> PolicySet:
    policies: list[dict[str, Any]] = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            first = {"type": "repository", "operator": "equals", "value": f"team{i}/app"}
        elif kind == 1:
            first = {"type": "tag", "operator": "matches", "value": f"^rel{i}-[0-9]+"}
        else:
            first = {"type": "label", "operator": "equals", "value": f"team=t{i}"}
        policies.append(
            {
                "id": f"policy-{i:05d}",
                "priority": rng.choice([0, 10, 100]),
                "conditions": [
                    first,
                    {"type": "label", "operator": "exists", "value": "security.scan.status"},
                    {"type": "metadata", "key": "size", "operator": "lt", "value": "2GiB"},
                ],
                "actions": [
                    {
                        "type": "replicate",
                        "target_registry": "ecr",
                        "target_repo": "mirror/{repository}",
                    }
                ],
            }
        )
    for j in range(UNINDEXED):
        policies.append(
            {
                "id": f"unindexed-{j}",
                "priority": 200,
                "conditions": [{"type": "age", "operator": "older_than", "value": f"{365 + j}d"}],
                "actions": [{"type": "block", "parameters": {"reason": "too old"}}],
            }
        )
    loaded = [LoadedPolicy(Policy.model_validate(p), "bench.yaml", None) for p in policies]
    return PolicySet(loaded)


def make_images(n: int, count: int, rng: random.Random) -> list[ImageMetadata]:
    images = []
    for _ in range(count):
        i = rng.randrange(n)
        images.append(
            ImageMetadata(
                registry="hub",
                repository=f"team{i}/app",
                tag=f"rel{rng.randrange(n)}-{rng.randrange(100)}",
                labels={"team": f"t{rng.randrange(n)}", "security.scan.status": "passed"},
                size=rng.randrange(10**9),
                created_at="2026-06-01T00:00:00Z",
                architecture="amd64",
                os="linux",
            )
        )
    return images


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def time_embedded(engine: EmbeddedEngine, images: list[ImageMetadata]) -> list[float]:
    engine.decide(images[0], now=NOW)  # warm up
    samples = []
    for image in images:
        start = time.perf_counter()
        engine.decide(image, now=NOW)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def time_opa(opa: str, bundle_path: Path, images: list[ImageMetadata]) -> tuple[float, list[float]]:
    """(seconds until OPA is healthy with the bundle, per-decision latencies in ms)."""
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [opa, "run", "--server", "--addr", f"127.0.0.1:{port}", "-b", str(bundle_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 900
            while True:
                try:
                    if client.get("/health?bundles").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("OPA did not become healthy in 900 s")
                time.sleep(0.1)
            load_s = time.perf_counter() - started
            url = "/v1/data/freightliner/replication/decision"
            client.post(url, json={"input": {"image": images[0].as_input(), "now": NOW}})
            samples = []
            for image in images:
                body = {"input": {"image": image.as_input(), "now": NOW}}
                start = time.perf_counter()
                response = client.post(url, json=body)
                samples.append((time.perf_counter() - start) * 1000)
                assert "result" in response.json()
            return load_s, samples
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--decisions", type=int, default=1000)
    parser.add_argument("--opa-decisions", type=int, default=300)
    args = parser.parse_args()
    opa = shutil.which("opa")
    rng = random.Random(7)
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        policy_set = make_policies(n, rng)
        images = make_images(n, args.decisions, rng)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            bundle = BundleBuilder().build(policy_set)
            path = Path(tmp) / "bundle.tar.gz"
            bundle.write_tarball(path)
            build_s = time.perf_counter() - start
            size_kib = path.stat().st_size / 1024
            served = Path(tmp) / "served.tar.gz"  # what serve publishes: tested, tests left out
            bundle.without_tests().write_tarball(served)
            engine = EmbeddedEngine(bundle.modules(), bundle.data())
            emb = percentiles(time_embedded(engine, images))
            unindexed = BundleBuilder(generate_tests=False, use_index=False).build(policy_set)
            scan_images = images[: max(20, min(len(images), 20_000 // max(n, 1)))]
            scan = percentiles(
                time_embedded(EmbeddedEngine(unindexed.modules(), unindexed.data()), scan_images)
            )
            if opa:
                load_s, opa_samples = time_opa(opa, served, images[: args.opa_decisions])
                by_opa = percentiles(opa_samples)
            else:
                load_s, by_opa = float("nan"), (float("nan"), float("nan"))
        rows.append((n + UNINDEXED, build_s, size_kib, emb, by_opa, scan, load_s))
        print(f"done {n}: {rows[-1]}", file=sys.stderr, flush=True)
    print(
        f"machine: {os.cpu_count()} cores; opa: {opa or 'not found'}; decisions: "
        f"{args.decisions} embedded, {args.opa_decisions} OPA; {UNINDEXED} unindexed "
        "policies in every set; OPA serves the bundle without its test modules\n"
    )
    print(
        "| policies | build + write (s) | bundle (KiB) | embedded p50 / p99 (ms) "
        "| OPA load (s) | OPA HTTP p50 / p99 (ms) | no index, embedded p50 / p99 (ms) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, build_s, size_kib, emb, by_opa, scan, load_s in rows:
        print(
            f"| {n:,} | {build_s:.2f} | {size_kib:,.0f} | {emb[0]:.3f} / {emb[1]:.3f} | "
            f"{load_s:.1f} | {by_opa[0]:.2f} / {by_opa[1]:.2f} | {scan[0]:.2f} / {scan[1]:.2f} |"
        )
    print("\n" + json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
