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

``--soak [--reloads 50] [--spacing 3]``: serve as deployed (``deploy/config.yaml``'s
``opa`` section, timeout and threads) with the reference opa polling its bundle at
``deploy/opa.yaml``'s interval; ``--clients`` clients for the whole run while the
policies are hot-reloaded ``--reloads`` times (one policy's target repository names the
generation, so every answer is checked against the revision it claims). Fails unless:
0 errors, 0 answers whose content is not their named revision's, serve's log all JSON,
and serve's RSS at the end within 10 % of its RSS after the first reload.
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
    seen: dict[str, int] | None = None,
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
            elif seen is not None:
                result = json.loads(body)["results"][0]
                actions = result["decision"]["actions"]
                repo = next(
                    (a["target_repo"] for a in actions if a["target_repo"].startswith("gen-")), ""
                )
                key = f"{result['engine']}|{result['bundle_revision']}|{repo}"
                seen[key] = seen.get(key, 0) + 1
    except (OSError, asyncio.IncompleteReadError) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


async def _client(url: str, mode: str, duration: float, clients: int) -> dict[str, Any]:
    parts = httpx.URL(url)
    host, port, path = parts.host, parts.port or 80, parts.path
    auth = f"Authorization: Bearer {TOKEN}\r\n" if mode != "opa" else ""
    requests = []
    images = _images()
    if mode == "soak":  # tags the soak policy matches: its target repository names the revision
        images = [{**i, "tag": f"soak-{n}"} for n, i in enumerate(images)]
    seen: dict[str, int] | None = {} if mode == "soak" else None
    for image in images:
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
            _connection_loop(host, port, requests, n, clients, deadline, latencies, errors, seen)
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
        **({"seen": seen} if seen is not None else {}),
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


def _serve(
    root: Path, opa_url: str | None, engine_threads: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    config: dict[str, Any] = {
        "policy": {"evaluationTimeout": "5s"},
        "serve": {
            "state_db": str(root / f"state-{port}.sqlite"),
            "threads": 64,
            **({"engine_threads": engine_threads} if engine_threads else {}),
        },
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


_SOAK_POLICY = """policies:
  - id: soak
    priority: 1
    conditions:
      - type: tag
        operator: matches
        value: "^soak-.*"
    actions:
      - type: replicate
        target_registry: dst
        target_repo: "gen-{n}/{{repository}}"
"""


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _soak(reloads: int, clients: int, spacing: float, warmup: float) -> int:
    """``reloads`` hot reloads under ``clients`` clients, decisions through the sidecar."""
    deploy = yaml.safe_load((ROOT / "deploy" / "config.yaml").read_text())
    polling = yaml.safe_load((ROOT / "deploy" / "opa.yaml").read_text())["bundles"]["freightliner"][
        "polling"
    ]
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        root = Path(tmp)
        (root / "policies").mkdir()  # the platform policies plus the soak policy (the seed
        # policies block the unscanned bench images, which would hide the soak target)
        shutil.copy(ROOT / "examples" / "policies" / "platform.yaml", root / "policies")
        soak = root / "policies" / "soak.yaml"
        soak.write_text(_SOAK_POLICY.format(n=0))
        port, opa_port = _port(), _port()
        opa_section = {**deploy["opa"], "url": f"http://127.0.0.1:{opa_port}"}
        config = {
            "policy": {"evaluationTimeout": deploy["policy"]["evaluationTimeout"]},
            "registries": {"dst": {"url": "http://127.0.0.1:9"}},
            "opa": opa_section,
            "serve": {
                "state_db": str(root / "state.sqlite"),
                "threads": deploy["serve"]["threads"],
            },
        }
        (root / "config.yaml").write_text(yaml.safe_dump(config))
        serve = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from adapter.cli.main import main; main()",
                "serve",
                "--config",
                str(root / "config.yaml"),
                "--policies",
                str(root / "policies"),
                "--listen",
                f"127.0.0.1:{port}",
            ],
            env={**os.environ, "FREIGHTLINER_API_TOKEN": TOKEN},
            stdout=subprocess.DEVNULL,
            stderr=(root / "serve.log").open("wb"),
        )
        url = f"http://127.0.0.1:{port}"
        opa_config = {
            "services": {"adapter": {"url": url, "credentials": {"bearer": {"token": TOKEN}}}},
            "bundles": {
                "freightliner": {
                    "service": "adapter",
                    "resource": "bundles/freightliner.tar.gz",
                    "polling": polling,
                }
            },
        }
        (root / "opa.yaml").write_text(yaml.safe_dump(opa_config))
        opa = shutil.which("opa") or str(ROOT.parent / "shared" / "opa" / "bin" / "opa")
        procs = [serve]
        try:
            _wait(url + "/health")
            procs.append(
                subprocess.Popen(
                    [
                        opa,
                        "run",
                        "--server",
                        "--addr",
                        f"127.0.0.1:{opa_port}",
                        "-c",
                        str(root / "opa.yaml"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=(root / "opa.log").open("wb"),
                )
            )
            _wait(f"http://127.0.0.1:{opa_port}/health?bundles")
            http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"})

            def revision() -> str:
                return str(http.get("/v1/policies").json()["bundle"]["revision"])

            generations = {revision(): 0}
            duration = warmup + spacing * (reloads + 1)
            load = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--client",
                    url,
                    "--mode",
                    "soak",
                    "--duration",
                    str(duration),
                    "--clients",
                    str(clients),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            started = time.monotonic() + warmup
            rss_first = 0.0
            rss_series: list[float] = []
            for n in range(1, reloads + 1):
                time.sleep(max(started + spacing * n - time.monotonic(), 0))
                soak.write_text(_SOAK_POLICY.format(n=n))
                deadline = time.monotonic() + 60
                while (current := revision()) in generations:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"reload {n} not published within 60 s")
                    time.sleep(0.1)
                generations[current] = n
                rss_series.append(round(_rss_mib(serve.pid), 1))
                if n == 1:
                    rss_first = rss_series[0]
            out, _ = load.communicate(timeout=duration + 120)
            rss_end = _rss_mib(serve.pid)
            result = json.loads(out.strip().splitlines()[-1])
            wrong = 0
            by_engine: dict[str, int] = {}
            for key, count in result.pop("seen").items():
                engine, rev, repo = key.split("|")
                by_engine[engine] = by_engine.get(engine, 0) + count
                gen = generations.get(rev)
                if gen is None or not repo.startswith(f"gen-{gen}/"):
                    wrong += count
            log_lines = (root / "serve.log").read_text().splitlines()
            not_json = 0
            for line in log_lines:
                try:
                    json.loads(line)
                except ValueError:
                    not_json += 1
            summary = {
                "reloads": reloads,
                "clients": clients,
                **result,
                "by_engine": by_engine,
                "mislabelled": wrong,
                "rss_after_first_reload_mib": round(rss_first, 1),
                "rss_end_mib": round(rss_end, 1),
                "rss_growth_pct": round((rss_end / rss_first - 1) * 100, 1),
                "rss_after_each_reload_mib": rss_series,
                "warmup_seconds": warmup,
                "log_lines_not_json": not_json,
                "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            }
            print(json.dumps(summary), flush=True)
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait(timeout=30)
    ok = summary["errors"] == 0 and wrong == 0 and not_json == 0 and rss_end <= rss_first * 1.10
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak", action="store_true", help="hot reloads under load (sidecar)")
    parser.add_argument("--reloads", type=int, default=50)
    parser.add_argument("--spacing", type=float, default=3.0, help="seconds between reloads")
    parser.add_argument(
        "--warmup", type=float, default=20.0, help="seconds of load before the first reload"
    )
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="adapter", help=argparse.SUPPRESS)
    parser.add_argument("--targets", default="adapter-embedded,opa-direct,adapter-opa")
    parser.add_argument("--engine-threads", type=int, help="serve.engine_threads (default: its)")
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
    if args.soak:
        return _soak(args.reloads, args.clients, args.spacing, args.warmup)
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
                    proc, url = _serve(
                        root, opa_url if target == "adapter-opa" else None, args.engine_threads
                    )
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
