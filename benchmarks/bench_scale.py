"""Benchmark: queue mode's copy throughput with 1, 2 and 4 worker processes, and its overhead per
image against the embedded mode.

    .venv/bin/python benchmarks/bench_scale.py [--images 120] [--layers 2] [--layer-kib 256]
                                               [--threads 4] [--workers 1,2,4]

Starts PostgreSQL (as ``nobody`` when root), redis-server and docker-registry on loopback
(tests/fixtures), pushes N images to a source registry, then copies all of them into a
*fresh* target registry per run:

* **embedded**: the copy step of an embedded sweep in this process: ``DecisionExecutor``
  on a thread pool (1 thread, then ``--threads``), each copy recorded in SQLite;
* **queue**: W ``freightliner-policy worker`` processes (``--threads`` pool threads each)
  consume one task per image, published with ``CeleryPublisher`` after the sweep's task
  rows are recorded (as the planner does); the clock runs from the first publish to the
  sweep's last task closed in PostgreSQL. Planning (list, read, decide) is the same in both
  modes and is left out. Workers are started and idle before the clock starts.

Prints a markdown table with the load average before each run and the CPU time per image
of each party (the copier process or the workers, PostgreSQL + Redis, the two registries):
on a shared machine wall time depends on the others' load, CPU time much less.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapter.actions.executor import DecisionExecutor  # noqa: E402
from adapter.config import FreightlinerConfig  # noqa: E402
from adapter.queue.celery_app import CeleryPublisher, make_app  # noqa: E402
from adapter.queue.interface import CopyTask  # noqa: E402
from adapter.registry.client import RegistryClient  # noqa: E402
from adapter.service.state import StateDB  # noqa: E402
from adapter.state.postgres import PostgresState  # noqa: E402
from migrate.contract.decision import DecisionAction, ReplicationDecision  # noqa: E402
from migrate.contract.image import ImageMetadata  # noqa: E402
from tests.fixtures.images import PushedImage, push_image  # noqa: E402
from tests.fixtures.registry import RegistryFactory, RunningRegistry  # noqa: E402
from tests.fixtures.scale import start_postgres, start_redis  # noqa: E402


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes used so far (children not included)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def children_of(parent: int) -> list[int]:
    """``parent`` and its direct children (a postmaster and its backends)."""
    pids = [parent]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                pids.append(int(entry.name))
    return pids


class Servers:
    """PIDs of the shared servers whose CPU queue mode adds: PostgreSQL and Redis."""

    def __init__(self, pg_root: Path, redis_pid: int) -> None:
        self.postmaster = int((pg_root / "data" / "postmaster.pid").read_text().split()[0])
        self.redis_pid = redis_pid

    def cpu(self) -> float:
        return cpu_seconds([*children_of(self.postmaster), self.redis_pid])


def tasks_for(images: list[PushedImage], sweep_id: int) -> list[CopyTask]:
    action = DecisionAction(
        type="replicate", target_registry="dst", target_repo="mirror/{repository}", policy_ids=["b"]
    )
    result = []
    for image in images:
        metadata = ImageMetadata.model_validate(
            {
                "registry": "src",
                "repository": image.repository,
                "tag": image.tag,
                "digest": image.digest,
                "size": image.size,
            }
        )
        rendered = action.model_copy(update={"target_repo": f"mirror/{image.repository}"})
        decision = ReplicationDecision(should_replicate=True, actions=[rendered], reason="bench")
        result.append(CopyTask(sweep_id=sweep_id, policy_id="b", image=metadata, decision=decision))
    return result


def config_for(src: RunningRegistry, dst: RunningRegistry, redis: str, pg: str) -> dict[str, Any]:
    return {
        "policy": {"maxConcurrency": 8},
        "registries": {"src": {"url": src.url}, "dst": {"url": dst.url}},
        "queue": {"broker": redis, "visibility_timeout_seconds": 300},
        "state": {"url": pg},
    }


def run_embedded(
    images: list[PushedImage], src: RunningRegistry, dst: RunningRegistry, threads: int, base: Path
) -> tuple[float, float, float, float]:
    """(seconds, CPU seconds of the copying process(es), of PostgreSQL + Redis, of the two
    registries)."""
    config = FreightlinerConfig.from_document(config_for(src, dst, "redis://x", "postgresql://x"))
    clients = {
        n: RegistryClient(config.registries.get(n), max_connections=8) for n in ("src", "dst")
    }
    executor = DecisionExecutor(clients)
    state = StateDB(base / f"embedded-{threads}-{time.monotonic_ns()}.sqlite")
    tasks = tasks_for(images, 0)

    def one(task: CopyTask) -> None:
        [result] = executor.execute(task.image, task.decision)
        assert result.status == "replicated", result.error
        state.record(
            task.source_digest,
            task.target,
            result.target_digest,
            source=task.image.reference,
            policy_id="b",
            bundle_revision="",
        )

    registries = [src.process.pid, dst.process.pid]
    started, cpu, reg = time.perf_counter(), time.process_time(), cpu_seconds(registries)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, tasks))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    reg = cpu_seconds(registries) - reg
    state.close()
    for client in clients.values():
        client.close()
    return elapsed, cpu, 0.0, reg


def run_queue(
    images: list[PushedImage],
    src: RunningRegistry,
    dst: RunningRegistry,
    workers: int,
    threads: int,
    redis_url: str,
    pg_url: str,
    base: Path,
    servers: Servers,
) -> tuple[float, float, float, float]:
    path = base / f"config-{workers}-{threads}-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump(config_for(src, dst, redis_url, pg_url)))
    config = FreightlinerConfig.load(path)
    assert config.queue is not None
    state = PostgresState(pg_url)
    logs = []
    procs = []
    for index in range(workers):
        log = (base / f"worker-{workers}-{index}.log").open("wb")
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from adapter.cli.main import main; main()",
                    "worker",
                    "--config",
                    str(path),
                    "--concurrency",
                    str(threads),
                    "--log-level",
                    "warning",
                    "--hostname",
                    f"b{index}@%h",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=base,
            )
        )
    app = make_app(config.queue)
    publisher = CeleryPublisher(app, config.queue.queue_name)
    try:
        # warm up: every worker connected and idle (one task per worker, then wait)
        warm = state.start_sweep("warm", mode="queue")
        warm_tasks = tasks_for(images[: workers * threads], warm)
        state.add_tasks(warm, [(t.key, t.source_digest, t.target) for t in warm_tasks])
        state.mark_planned(warm, len(warm_tasks))
        for task in warm_tasks:
            publisher.publish(task)
        _wait_finished(state, warm, 300)
        rest = images[workers * threads :]
        sweep = state.start_sweep("bench", mode="queue")
        tasks = tasks_for(rest, sweep)
        started = time.perf_counter()
        pids = [p.pid for p in procs]
        worker_cpu, server_cpu, own_cpu = cpu_seconds(pids), servers.cpu(), time.process_time()
        registries = [src.process.pid, dst.process.pid]
        reg = cpu_seconds(registries)
        state.add_tasks(sweep, [(t.key, t.source_digest, t.target) for t in tasks])
        state.mark_planned(sweep, len(tasks))
        for task in tasks:
            publisher.publish(task)
        _wait_finished(state, sweep, 600, poll=0.05)
        elapsed = time.perf_counter() - started
        worker_cpu = cpu_seconds(pids) - worker_cpu
        server_cpu = servers.cpu() - server_cpu
        reg = cpu_seconds(registries) - reg
        # the publisher's share: this process did nothing else but poll the state meanwhile
        own_cpu = time.process_time() - own_cpu
        progress = state.sweep(sweep)
        assert progress is not None and progress.copied == len(tasks), progress
        scale = len(images) / len(tasks)  # to the same image count as the embedded runs
        return elapsed * scale, (worker_cpu + own_cpu) * scale, server_cpu * scale, reg * scale
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)
        for log in logs:
            log.close()
        app.close()
        state.close()


def _wait_finished(state: PostgresState, sweep: int, timeout: float, poll: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = state.sweep(sweep)
        if progress is not None and progress.finished_at is not None:
            return
        time.sleep(poll)
    raise RuntimeError(f"sweep {sweep} did not finish in {timeout}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--layer-kib", type=int, default=256)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    os.chmod(base, 0o755)
    pg = start_postgres(base)
    redis = start_redis(base)
    registries = RegistryFactory(base)
    try:
        src = registries.start(name="src")
        with ThreadPoolExecutor(8) as pool:
            images = list(
                pool.map(
                    lambda i: push_image(
                        src,
                        f"bench/app{i // 10:03d}",
                        f"v{i % 10}",
                        seed=i,
                        layers=args.layers,
                        layer_size=args.layer_kib * 1024,
                        tar=False,
                    ),
                    range(args.images),
                )
            )
        mib = sum(i.size for i in images) / (1 << 20)
        print(
            f"{args.images} images, {args.layers} layers of {args.layer_kib} KiB "
            f"({mib:.1f} MiB in all); {os.cpu_count()} CPUs\n"
        )
        print(
            "| mode | processes x threads | seconds | images/s | wall ms/image "
            "| copier CPU ms/image | PostgreSQL+Redis CPU ms/image | registries CPU ms/image "
            "| load before |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        servers = Servers(pg.root, redis.process.pid)
        rows: dict[str, tuple[float, float, float, float]] = {}

        def row(
            mode: str,
            workers: int,
            threads: int,
            result: tuple[float, float, float, float],
            before: str,
        ) -> None:
            seconds, cpu, server, reg = result
            n = args.images
            print(
                f"| {mode} | {workers} x {threads} | {seconds:.2f} | {n / seconds:.1f} | "
                f"{seconds * 1000 / n:.1f} | {cpu * 1000 / n:.1f} | {server * 1000 / n:.1f} "
                f"| {reg * 1000 / n:.1f} | {before} |",
                flush=True,
            )

        for threads in (1, args.threads):
            dst = registries.start(name="dst")
            before = load()
            rows[f"embedded-{threads}"] = run_embedded(images, src, dst, threads, base)
            dst.stop()
            row("embedded", 1, threads, rows[f"embedded-{threads}"], before)
        runs = [(1, 1)] + [(int(w), args.threads) for w in args.workers.split(",")]
        for workers, threads in runs:
            dst = registries.start(name="dst")
            before = load()
            rows[f"queue-{workers}-{threads}"] = run_queue(
                images,
                src,
                dst,
                workers,
                threads,
                redis.fresh_url(),
                pg.create_database(),
                base,
                servers,
            )
            dst.stop()
            row("queue", workers, threads, rows[f"queue-{workers}-{threads}"], before)
        q, e = rows["queue-1-1"], rows["embedded-1"]
        print(
            f"\nqueue-mode overhead per image, 1 worker x 1 thread against embedded 1 thread: "
            f"wall {(q[0] - e[0]) * 1000 / args.images:+.1f} ms, copier CPU "
            f"{(q[1] - e[1]) * 1000 / args.images:+.1f} ms, PostgreSQL+Redis CPU "
            f"{q[2] * 1000 / args.images:+.1f} ms; load after: {load()}"
        )
    finally:
        registries.close()
        redis.stop()
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
