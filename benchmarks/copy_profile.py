"""Count what one image copy costs: HTTP requests by method and kind, and CPU time.

    .venv/bin/python benchmarks/copy_profile.py [--root TREE] [--images 20] [--layers 4]
                                                [--layer-mib 1] [--concurrency 8] [--profile N]

Unlike ``bench_copy.py`` (wall time, which a loaded machine inflates), these
figures do not depend on the machine's load: the requests each copy sends
(counted by an httpx transport that wraps the real one, per registry), the
CPU time of this process per copy (``time.process_time``: all threads), and
the CPU time the two ``docker-registry`` processes spent serving them
(``/proc/PID/stat``), and the bytes hashed (``DigestVerifier.update``). ``--root`` runs another checkout's code (e.g. a ``git
worktree`` of an older commit) with this script, so before and after are
counted by the same instrument. ``--profile N`` prints the N most expensive
functions (cProfile, cumulative, sequential copies only). Needs Debian's
docker-registry (see tests/fixtures/registry.py).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

_PATH = re.compile(
    r"^/v2/(?P<repo>.+?)/(?P<kind>manifests|blobs/uploads|blobs|tags)(?:/(?P<ref>.*))?$"
)
_TICKS = os.sysconf("SC_CLK_TCK")


def kind_of(method: str, path: str) -> str:
    """``METHOD kind`` of a distribution API request, e.g. ``PUT manifest by tag``."""
    match = _PATH.match(path)
    if match is None:
        return f"{method} {path}"
    kind, ref = match.group("kind"), match.group("ref") or ""
    if kind == "manifests":
        return f"{method} manifest by {'digest' if ref.startswith('sha') else 'tag'}"
    if kind == "blobs/uploads":
        return f"{method} upload {'start' if not ref else 'session'}"
    return f"{method} {kind}"


class CountingTransport(httpx.HTTPTransport):
    """The real transport, counting requests by :func:`kind_of` (thread-safe)."""

    def __init__(self) -> None:
        super().__init__(limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))
        self.counts: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)  # until the response headers
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = kind_of(request.method, request.url.path)
        with self._lock:
            self.counts[key] += 1
        request.extensions = {**request.extensions, "trace": self._trace}
        started = time.perf_counter()
        try:
            return super().handle_request(request)
        finally:
            with self._lock:
                self.seconds[key] += time.perf_counter() - started

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            with self._lock:
                self.counts["(new TCP connection)"] += 1


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--layer-mib", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--sort", default="tottime", help="cProfile sort key (tottime, cumulative)")
    parser.add_argument("--dump", type=Path, help="write the cProfile stats (pstats file) here")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root.resolve()))
    from adapter.actions.replicate import CopyJob, CopyOutcome, ImageCopier
    from adapter.registry.client import RegistryClient
    from adapter.registry.config import RegistryConfig
    from adapter.registry.digest import DigestVerifier
    from tests.fixtures.images import push_image
    from tests.fixtures.registry import RegistryFactory

    hashed = [0]  # bytes through DigestVerifier (downloads, uploads, manifests)
    update = DigestVerifier.update

    def counting(self: Any, chunk: bytes) -> None:
        hashed[0] += len(chunk)
        update(self, chunk)

    DigestVerifier.update = counting  # type: ignore[method-assign]
    base = Path(tempfile.mkdtemp(prefix="freightliner-copyprof-"))
    factory = RegistryFactory(base)
    try:
        source = factory.start(name="a")
        repos = [f"bench/img{i:03d}" for i in range(args.images)]
        size = int(args.layer_mib * (1 << 20))
        with ThreadPoolExecutor(4) as pool:
            list(
                pool.map(
                    lambda i: push_image(
                        source,
                        repos[i],
                        "v1",
                        layers=args.layers,
                        layer_size=size,
                        tar=True,
                        seed=1000 + i,
                    ),
                    range(args.images),
                )
            )
        print(f"code: {args.root.resolve()}")
        print(f"{args.images} images x {args.layers} layers x {args.layer_mib} MiB\n")
        for concurrency in [1, args.concurrency] * args.repeat:
            target = factory.start(name="b")
            src_t, dst_t = CountingTransport(), CountingTransport()
            kw: dict[str, Any] = {"credentials": None}
            src = RegistryClient(RegistryConfig(name="a", url=source.url), transport=src_t, **kw)
            dst = RegistryClient(RegistryConfig(name="b", url=target.url), transport=dst_t, **kw)
            jobs = [CopyJob((src, r, "v1"), (dst, r, "v1")) for r in repos]
            copier = ImageCopier()
            profiler = cProfile.Profile() if args.profile and concurrency == 1 else None
            reg_cpu = process_cpu(source.process.pid) + process_cpu(target.process.pid)
            hashed[0] = 0
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler is not None:
                profiler.enable()
            if concurrency == 1:  # on this thread, so cProfile sees it
                outcomes = [CopyOutcome(j, result=copier.copy(j.source, j.target)) for j in jobs]
            else:
                outcomes = copier.copy_many(jobs, max_concurrency=concurrency)
            if profiler is not None:
                profiler.disable()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            reg_cpu = process_cpu(source.process.pid) + process_cpu(target.process.pid) - reg_cpu
            assert all(o.ok for o in outcomes), [o.error for o in outcomes if o.error]
            n = args.images
            print(f"## concurrency {concurrency}: loadavg {Path('/proc/loadavg').read_text()}")
            print(
                f"wall {wall:.2f} s; our CPU {cpu:.3f} s ({cpu / n * 1000:.1f} ms/image); "
                f"registries' CPU {reg_cpu:.2f} s ({reg_cpu / n * 1000:.1f} ms/image); "
                f"hashed {hashed[0] / n / (1 << 20):.2f} MiB/image\n"
            )
            print(
                "| registry | request | per image | ms until headers, mean |\n|---|---|---:|---:|"
            )
            for name, transport in (("source", src_t), ("target", dst_t)):
                for key, count in sorted(transport.counts.items()):
                    mean = transport.seconds[key] / count * 1000 if key in transport.seconds else 0
                    print(f"| {name} | {key} | {count / n:g} | {mean:.2f} |")
                print(f"| {name} | **total** | {sum(transport.counts.values()) / n:g} |")
            print()
            if profiler is not None and args.dump is not None:
                profiler.dump_stats(args.dump)
            if profiler is not None:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.profile)
                print(out.getvalue())
            src.close()
            dst.close()
            target.stop()
    finally:
        factory.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
