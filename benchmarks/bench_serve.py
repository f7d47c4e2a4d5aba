"""Load test of ``freightliner-policy serve``: ``POST /v1/evaluate`` with ``{"image": ...}``.

Targets (each loaded for ``--duration`` seconds by ``--clients`` concurrent
keep-alive clients running in a *separate process*, asyncio streams):

* ``adapter-embedded``: serve deciding in-process (regorus);
* ``adapter-opa``: serve deciding through its OPA sidecar (``opa.url``);
* ``opa-direct``: the same bundle, ``POST /v1/data/freightliner/replication/decision``
  straight to ``opa run --server`` (the baseline for the adapter's overhead).

Policies: ``examples/policies`` (seed.yaml's two plus more). Images cycle through a
fixed set of 64 so that matching and non-matching decisions are mixed.
Prints one JSON line per target and a Markdown table. Any error fails the run
(exit 1). Usage::

    .venv/bin/python benchmarks/bench_serve.py [--duration 30] [--clients 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789abcdef"
NOW = "2026-11-23T12:00:00Z"


def _images() -> list[dict[str, Any]]:
    repos = ["app", "platform/api", "team/web", "prod/service"]
    tags = [
        "v1.2.3",
        "prod-v1.0.0",
        "latest",
        "nightly-2026",
        "v2.0.0",
        "dev",
        "release-1",
        "v0.9.1",
    ]
    return [
        {
            "registry": r,
            "repository": repo,
            "tag": t,
            "size": 1000 + i,
            "digest": "sha256:" + f"{i:02x}" * 32,
            "created_at": "2026-01-01T00:00:00Z",
            "architecture": "amd64",
            "os": "linux",
            "labels": {"team": "platform"},
        }
        for i, (r, repo, t) in enumerate(
            (r, repo, t) for r in ["docker-hub", "ecr"] for repo in repos for t in tags
        )
    ]


# -- the client process ------------------------------------------------------------------
# A minimal HTTP/1.1 keep-alive client on asyncio streams: one connection per simulated
# client, so the load generator costs little CPU next to the server it measures.
async def _connection_loop(
    host: str,
    port: int,
    requests: list[bytes],
    n: int,
    clients: int,
    deadline: float,
    latencies: list[float],
    errors: list[str],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = n
    try:
        while time.perf_counter() < deadline:
            request = requests[i % len(requests)]
            i += clients
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200 or not (b'"results"' in body or b'"result"' in body):
                errors.append(f"HTTP {status}: {body[:200]!r}")
    except (OSError, asyncio.IncompleteReadError) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


async def _client(url: str, mode: str, duration: float, clients: int) -> dict[str, Any]:
    parts = httpx.URL(url)
    host, port, path = parts.host, parts.port or 80, parts.path
    auth = f"Authorization: Bearer {TOKEN}\r\n" if mode != "opa" else ""
    requests = []
    for image in _images():
        body = json.dumps(
            {"image": image, "now": NOW}
            if mode != "opa"
            else {"input": {"image": image, "now": NOW}}
        ).encode()
        requests.append(
            (
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.gather(
        *(
            _connection_loop(host, port, requests, n, clients, deadline, latencies, errors)
            for n in range(clients)
        )
    )
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    return {
        "requests": len(latencies),
        "errors": len(errors),
        "first_errors": errors[:3],
        "seconds": round(elapsed, 2),
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1] * 1000, 2),
    }


# -- orchestration -------------------------------------------------------------------------
def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready")


def _serve(root: Path, opa_url: str | None) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    config: dict[str, Any] = {
        "policy": {"evaluationTimeout": "5s"},
        "serve": {"state_db": str(root / f"state-{port}.sqlite"), "threads": 64},
    }
    if opa_url:
        config["opa"] = {"url": opa_url, "failure_mode": "fail-closed"}
    path = root / f"config-{port}.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from adapter.cli.main import main; main()",
            "serve",
            "--config",
            str(path),
            "--policies",
            str(ROOT / "examples" / "policies"),
            "--listen",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        env={**os.environ, "FREIGHTLINER_API_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=(root / f"serve-{port}.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    _wait(url + "/health")
    return proc, url


def _opa(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    from migrate.bundle.builder import BundleBuilder
    from migrate.policy.loader import load_policy_documents

    bundle = BundleBuilder().build(load_policy_documents([ROOT / "examples" / "policies"]))
    bundle.write_tarball(root / "bundle.tar.gz")
    port = _port()
    opa = shutil.which("opa") or str(ROOT.parent / "shared" / "opa" / "bin" / "opa")
    proc = subprocess.Popen(
        [opa, "run", "--server", "--addr", f"127.0.0.1:{port}", "-b", str(root / "bundle.tar.gz")],
        stdout=subprocess.DEVNULL,
        stderr=(root / "opa.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    _wait(url + "/health?bundles")
    return proc, url


def _load(url: str, mode: str, duration: float, clients: int) -> dict[str, Any]:
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--client",
            url,
            "--mode",
            mode,
            "--duration",
            str(duration),
            "--clients",
            str(clients),
        ],
        capture_output=True,
        text=True,
        timeout=duration + 120,
        check=True,
    )
    value: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="adapter", help=argparse.SUPPRESS)
    parser.add_argument("--targets", default="adapter-embedded,opa-direct,adapter-opa")
    args = parser.parse_args()
    if args.client:
        path = (
            "/v1/data/freightliner/replication/decision" if args.mode == "opa" else "/v1/evaluate"
        )
        print(
            json.dumps(
                asyncio.run(_client(args.client + path, args.mode, args.duration, args.clients))
            )
        )
        return 0
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        root = Path(tmp)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            opa_proc, opa_url = _opa(root)
            procs.append(opa_proc)
            for target in args.targets.split(","):
                if target == "opa-direct":
                    url, mode = opa_url, "opa"
                else:
                    proc, url = _serve(root, opa_url if target == "adapter-opa" else None)
                    procs.append(proc)
                    mode = "adapter"
                results[target] = _load(url, mode, args.duration, args.clients)
                print(json.dumps({"target": target, **results[target]}), flush=True)
                if target != "opa-direct":
                    procs.pop().send_signal(signal.SIGTERM)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=30)
    print(f"\n{args.clients} clients, {args.duration:g} s each\n")
    print("| target | requests | errors | throughput (req/s) | p50 (ms) | p99 (ms) |")
    print("|---|---|---|---|---|---|")
    for target, r in results.items():
        print(
            f"| {target} | {r['requests']} | {r['errors']} | {r['throughput_rps']} | "
            f"{r['p50_ms']} | {r['p99_ms']} |"
        )
    return 1 if any(r["errors"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
