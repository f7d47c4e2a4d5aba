"""Queue mode end to end: real redis-server, PostgreSQL, docker-registry, ``serve`` replicas and
Celery workers as subprocesses (tests/fixtures/scale.py)."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from adapter.state.postgres import PostgresState
from tests.fixtures.images import PushedImage, push_image, push_large_image
from tests.fixtures.registry import RunningRegistry
from tests.fixtures.scale import Request, ScaleCluster, ScaleFactory, registry_requests
from tests.fixtures.topology import parse_metrics, wait_for
from tests.integration.adapter.service.policies import tag_policy

EVERY_3S = "*/3 * * * * *"
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


def _policies() -> dict[str, str]:
    return {
        "mirror.yaml": tag_policy("^v.*", policy_id="mirror", schedule=EVERY_3S, registry="src"),
        # no schedule: only POST /v1/replicate copies rc tags
        "adhoc.yaml": tag_policy("^rc.*", policy_id="adhoc", target_repo="adhoc/{repository}"),
    }


def _push_many(src: RunningRegistry, repos: int, tags: int) -> list[PushedImage]:
    names = [(r, t) for r in range(repos) for t in range(tags)]
    with ThreadPoolExecutor(8) as pool:
        return list(
            pool.map(
                lambda n: push_image(
                    src,
                    f"team/app{n[0]:02d}",
                    f"v{n[1]}",
                    seed=n[0] * 1000 + n[1],
                    layers=1,
                    layer_size=512,
                ),
                names,
            )
        )


def _digest_at(registry: RunningRegistry, repository: str, tag: str) -> str | None:
    response = httpx.head(
        f"{registry.url}/v2/{repository}/manifests/{tag}", headers={"Accept": ACCEPT}, timeout=10
    )
    return response.headers["docker-content-digest"] if response.status_code == 200 else None


def _tag_puts(requests: list[Request]) -> Counter[str]:
    """Successful manifest PUTs by tag (a copy writes the tag last, once)."""
    return Counter(
        r.path
        for r in requests
        if r.method == "PUT"
        and "/manifests/" in r.path
        and "/manifests/sha256:" not in r.path
        and r.status == 201
    )


def _blob_uploads(requests: list[Request]) -> Counter[tuple[str, str]]:
    """Completed blob uploads by (repository, digest)."""
    counts: Counter[tuple[str, str]] = Counter()
    for r in requests:
        match = re.match(
            r"^/v2/(.+)/blobs/uploads/[^?]+\?.*digest=(sha256(?::|%3A)[0-9a-f]{64})", r.path
        )
        if r.method == "PUT" and r.status == 201 and match:
            counts[(match.group(1), match.group(2).replace("%3A", ":"))] += 1
    return counts


def _target_tags(dst: RunningRegistry) -> dict[str, str]:
    """``repository:tag`` -> digest of every tag at the target; each must resolve to a manifest
    whose blobs are all there (no tag points at a missing manifest)."""
    with httpx.Client(
        base_url=dst.url,
        timeout=30,
        headers={"Accept": ACCEPT},
        limits=httpx.Limits(max_connections=8),
    ) as http:
        repositories = http.get("/v2/_catalog", params={"n": 1000}).json()["repositories"]
        names = [
            (repository, tag)
            for repository in repositories
            for tag in http.get(f"/v2/{repository}/tags/list").json().get("tags") or []
        ]

        def check(name: tuple[str, str]) -> tuple[str, str]:
            repository, tag = name
            manifest = http.get(f"/v2/{repository}/manifests/{tag}")
            assert manifest.status_code == 200, f"{repository}:{tag} -> {manifest.status_code}"
            body = manifest.json()
            for blob in [body["config"], *body["layers"]]:
                status = http.head(f"/v2/{repository}/blobs/{blob['digest']}").status_code
                assert status == 200, f"{repository}:{tag} blob {blob['digest']}: {status}"
            return f"{repository}:{tag}", manifest.headers["docker-content-digest"]

        with ThreadPoolExecutor(8) as pool:
            return dict(pool.map(check, names))


def _wait_copied(state: PostgresState, count: int, timeout: float) -> None:
    wait_for(
        lambda: len(state.replications()) >= count and state.task_counts().queued == 0,
        timeout,
        interval=0.25,
        what=f"{count} replications and no open task",
    )


def _check_targets(cluster: ScaleCluster, pushed: list[PushedImage], state: PostgresState) -> None:
    """Exactly the decided digests at the target, each copied once (request log and rows)."""
    assert _target_tags(cluster.dst) == {f"mirror/{i.repository}:{i.tag}": i.digest for i in pushed}
    requests = registry_requests(cluster.dst)
    puts = _tag_puts(requests)
    assert puts == Counter(f"/v2/mirror/{i.repository}/manifests/{i.tag}" for i in pushed)
    uploads = _blob_uploads(requests)
    assert max(uploads.values()) == 1
    expected_blobs = {
        (f"mirror/{i.repository}", blob["digest"])
        for i in pushed
        for blob in [json.loads(i.manifest)["config"], *json.loads(i.manifest)["layers"]]
    }
    assert set(uploads) == expected_blobs
    rows = state.replications()
    assert sorted((r.source_digest, r.target, r.target_digest) for r in rows) == sorted(
        (i.digest, f"dst/mirror/{i.repository}:{i.tag}", i.digest) for i in pushed
    )


def _sweeps(state: PostgresState) -> list[Any]:
    return sorted(state.sweeps("mirror", limit=1000), key=lambda s: s.id)


@pytest.mark.slow  # about 100 s on the loaded 2-core machine
def test_two_replicas_three_workers_copy_200_images_once(
    scale_factory: ScaleFactory, pg_url: str, redis_url: str
) -> None:
    cluster = scale_factory.create(_policies(), pg_url, redis_url)
    pushed = _push_many(cluster.src, 20, 10)
    for index in range(3):
        cluster.start_worker(index, concurrency=2)
    cluster.start_serves(0, 1)
    state = PostgresState(pg_url)
    snapshots: list[dict[str, Any]] = []

    def progress() -> bool:
        last = cluster.schedules(0)[0]["last_sweep"]
        if last:
            snapshots.append(last)
        return len(state.replications()) >= len(pushed) and state.task_counts().queued == 0

    wait_for(progress, 180.0, interval=0.2, what="200 replications")
    _check_targets(cluster, pushed, state)

    sweeps = _sweeps(state)
    first = next(s for s in sweeps if s.copied)
    assert (first.result, first.images, first.tasks, first.copied, first.already, first.failed) == (
        "ok",
        200,
        200,
        200,
        0,
        0,
    )
    assert [s.id for s in sweeps if s.copied] == [first.id]  # later sweeps find them recorded
    fire_times = [s.fire_time for s in sweeps]
    assert len(set(fire_times)) == len(fire_times) and None not in fire_times
    assert all(int(t[17:19]) % 3 == 0 for t in fire_times)  # on the cron's grid
    for earlier, later in itertools.pairwise(sweeps):
        if earlier.finished_at is not None:  # a fire time during a running sweep is skipped
            assert later.started_at >= earlier.finished_at
    # live progress in /v1/policies while the workers copied
    mid = [s for s in snapshots if s["id"] == first.id and 0 < s["copied"] < 200]
    assert mid and all(
        s["tasks"] == 200 and s["queued"] == 200 - s["copied"] for s in mid if s["planned"]
    )
    assert {s["fire_time"] for s in mid} == {first.fire_time}
    # one leader, and it planned every sweep
    leaders = [i for i in (0, 1) if cluster.schedules(i)[0]["leader"]]
    assert len(leaders) == 1
    with_workers = Counter(
        row[0]
        for row in state._exec(
            "SELECT worker FROM sweep_tasks WHERE sweep_id=%s AND status='copied'", (first.id,)
        )
    )
    assert len(with_workers) == 3 and sum(with_workers.values()) == 200
    metrics = parse_metrics(cluster.api(1 - leaders[0]).get("/metrics").text)
    assert metrics["freightliner_queue_depth"] == 0
    assert metrics["freightliner_queue_in_flight"] == 0
    assert metrics["freightliner_queue_task_failures_total"] == 0
    assert metrics["freightliner_queue_tasks_copied_total"] == 200
    # audit records in the shared state: the leader's decisions, the workers' executions
    executions = state.audit_records("execution")
    assert sorted(r["target"] for r in executions if r["status"] == "copied") == sorted(
        f"dst/mirror/{i.repository}:{i.tag}" for i in pushed
    )
    assert {r["source"] for r in state.audit_records("decision")} == {"sweep"}

    # POST /v1/replicate in queue mode: planned here, copied by a worker
    extra = push_image(cluster.src, "team/extra", "rc1", seed=99999, layers=1, layer_size=512)
    answer = cluster.api(1 - leaders[0]).post(
        "/v1/replicate", json={"reference": "src/team/extra:rc1"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["queued"], body["summary"]) == (
        True,
        {"images": 1, "enqueued": 1, "already": 0, "failed": 0},
    )
    assert body["tasks"][0]["target"] == "dst/adhoc/team/extra:rc1"
    assert body["tasks"][0]["source_digest"] == extra.digest
    wait_for(
        lambda: _digest_at(cluster.dst, "adhoc/team/extra", "rc1") == extra.digest,
        60.0,
        what="the requested copy",
    )
    wait_for(lambda: (state.sweep(body["sweep_id"]) or first).result == "ok", 30.0, what="ok")
    state.close()


def test_kill_9_of_a_worker_mid_copy_and_the_task_runs_elsewhere(
    scale_factory: ScaleFactory, pg_url: str, redis_url: str, tmp_path: Any
) -> None:
    cluster = scale_factory.create(_policies(), pg_url, redis_url)
    big = push_large_image(cluster.src, "team/big", "v1", size=48 << 20)
    pushed = [big, *_push_many(cluster.src, 2, 10)]
    for index in range(3):
        cluster.start_worker(index, concurrency=1)
    cluster.start_serve(0)

    def copying_big() -> list[int]:
        return [
            index
            for index in cluster.workers
            if re.search(
                r'"event":"copy_started".*"target":"dst/mirror/team/big:v1"',
                cluster.log(f"worker-{index}"),
            )
        ]

    [victim] = wait_for(copying_big, 60.0, interval=0.02, what="the big copy to start")

    def layer_upload_started() -> bool:
        posts = [
            r
            for r in registry_requests(cluster.dst)
            if r.method == "POST" and r.path.startswith("/v2/mirror/team/big/blobs/uploads/")
        ]
        return len(posts) >= 2  # the config's, then the layer's

    wait_for(layer_upload_started, 30.0, interval=0.01, what="the layer upload")
    victim_pid = cluster.workers[victim].pid
    cluster.kill(cluster.workers[victim])
    assert _digest_at(cluster.dst, "mirror/team/big", "v1") is None, (
        "the copy ended before the kill"
    )

    state = PostgresState(pg_url)
    _wait_copied(state, len(pushed), 120.0)
    _check_targets(cluster, pushed, state)
    [(worker,)] = state._exec(
        "SELECT worker FROM sweep_tasks WHERE target='dst/mirror/team/big:v1' AND status='copied'"
    )
    assert not worker.endswith(f":{victim_pid}")
    first = next(s for s in _sweeps(state) if s.copied)
    assert (first.result, first.tasks, first.copied, first.failed) == ("ok", 21, 21, 0)
    state.close()


def test_kill_9_of_the_leader_mid_sweep_resumes_the_same_fire_time(
    scale_factory: ScaleFactory, pg_url: str, redis_url: str
) -> None:
    cluster = scale_factory.create(_policies(), pg_url, redis_url)
    pushed = _push_many(cluster.src, 20, 4)  # planned one repository at a time
    for index in range(2):
        cluster.start_worker(index, concurrency=2)
    cluster.start_serves(0, 1)
    state = PostgresState(pg_url)

    def planning() -> Any:
        sweeps = _sweeps(state)
        return sweeps and not sweeps[0].planned and 0 < sweeps[0].tasks < 80 and sweeps[0]

    sweep = wait_for(planning, 60.0, interval=0.02, what="the first sweep mid-planning")
    leader = cluster.leader()
    assert leader is not None
    cluster.kill(cluster.serves[leader])
    killed_at = time.time()
    survivor = 1 - leader

    _wait_copied(state, len(pushed), 150.0)
    _check_targets(cluster, pushed, state)
    assert cluster.schedules(survivor)[0]["leader"] is True
    sweeps = _sweeps(state)
    resumed = next(s for s in sweeps if s.id == sweep.id)
    assert (resumed.fire_time, resumed.result, resumed.tasks, resumed.copied, resumed.failed) == (
        sweep.fire_time,
        "ok",
        80,
        80,
        0,
    )
    assert [s.id for s in sweeps if s.copied] == [sweep.id]
    fire_times = [s.fire_time for s in sweeps]
    assert len(set(fire_times)) == len(fire_times)
    assert '"event":"sweep_resumed"' in cluster.log(f"serve-{survivor}")
    assert resumed.finished_at is not None and resumed.finished_at > killed_at
    state.close()
