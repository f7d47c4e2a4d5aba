"""Hot reloads do not grow memory and print nothing: each regorus engine lives and dies on its
own thread (issue 14: RSS 68 -> 364 MiB after 5 reloads, 32 tracebacks per reload, because
replaced engines were dropped on the bundle watcher thread).

The reloads run in a child process (its RSS only, its stderr only): the real
:class:`BundleManager` watcher thread publishes each revision while 16 worker threads decide
through :class:`CurrentBundleEngine`, as ``serve``'s API pool does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

_CHILD = textwrap.dedent(
    """
    import json, shutil, sys, time
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    from migrate.engine.embedded import thread_engine_count
    from migrate.contract.image import ImageMetadata
    from adapter.service.audit import JsonlWriter
    from adapter.service.bundles import BundleManager
    from adapter.service.engine import CurrentBundleEngine
    from adapter.service.metrics import ServiceMetrics

    def rss_mib() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    work = Path(sys.argv[1])
    reloads = int(sys.argv[2])
    shutil.copytree(sys.argv[3], work / "policies")
    target = work / "policies" / "reload.yaml"
    policy = (
        "policies:\\n  - id: reload\\n    priority: 1\\n    conditions:\\n"
        "      - type: tag\\n        operator: matches\\n        value: \\"^reload-{n}-.*\\"\\n"
        "    actions:\\n      - type: block\\n"
    )
    manager = BundleManager([work / "policies"], ServiceMetrics(), JsonlWriter(None), 0.05)
    manager.load_initial()
    manager.start()
    engine = CurrentBundleEngine(manager)
    pool = ThreadPoolExecutor(16)
    images = [ImageMetadata(registry="hub", repository="team/app", tag=f"prod-{i}")
              for i in range(64)]
    now = "2026-11-23T12:00:00Z"
    rss, counts = [], []
    for n in range(reloads):
        before = manager.current.revision
        target.write_text(policy.replace("{n}", str(n)))
        deadline = time.monotonic() + 60
        while manager.current.revision == before:
            assert time.monotonic() < deadline, "no reload within 60 s"
            time.sleep(0.02)
        revisions = set(pool.map(lambda i: engine.decide_traced(i, now)[1].revision, images))
        assert revisions == {manager.current.revision}, revisions
        # and directly on the workers too (as the CLI's threads do): an EmbeddedEngine used
        # by 16 threads, released here on the main thread
        direct = manager.current.engine
        assert set(pool.map(lambda i: direct.decide(i, now).outcome, images))
        del direct
        counts.append(max(pool.map(lambda _: thread_engine_count(), range(64))))
        rss.append(rss_mib())
    manager.stop()
    pool.shutdown(wait=True)
    print(json.dumps({"rss": rss, "engines_per_thread": counts}))
    """
)


def test_memory_is_flat_across_reloads_and_nothing_is_printed(
    repo_root: Path, tmp_path: Path
) -> None:
    reloads = 16
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            str(tmp_path),
            str(reloads),
            str(repo_root / "examples/policies"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=repo_root,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no "unsendable" traceback, nothing at all
    result = json.loads(proc.stdout)
    rss = result["rss"]
    assert len(rss) == reloads
    # each thread holds at most one engine: the current revision's
    assert max(result["engines_per_thread"]) <= 1
    # Measured after the fix: RSS grows over the first 3-10 reloads (allocator arenas of
    # the 16 threads, bundle builder warm-up; how fast varies from run to run), then stays
    # flat: 4 runs of 16 reloads on 2026-11-29 ended at 203-217 MiB, the last 6 reloads
    # within 7 MiB of the first 10's highest. Before the fix each reload leaked the
    # replaced engines of all 16 threads (several MiB each): +80 MiB or more over the last
    # 6 reloads. (Comparing against the first 6 reloads' highest, x1.10, failed about one
    # run in three when the warm-up went on past the sixth reload.)
    assert max(rss[10:]) <= max(rss[:10]) + 24, rss
