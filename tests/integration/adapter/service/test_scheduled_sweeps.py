"""Scheduled sweeps against real registries: new tags, restarts, ``kill -9`` mid-sweep."""

from __future__ import annotations

import signal
import sqlite3
import time
from typing import Any

import httpx

from tests.fixtures.images import PushedImage, push_image
from tests.fixtures.registry import RunningRegistry
from tests.fixtures.topology import Topology, TopologyFactory, wait_for
from tests.integration.adapter.service.policies import tag_policy

EVERY_SECOND = "*/1 * * * * *"
MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


def _policy() -> dict[str, str]:
    return {
        "mirror.yaml": tag_policy("^v.*", policy_id="mirror", schedule=EVERY_SECOND, registry="src")
    }


def _digest_at(registry: RunningRegistry, repository: str, tag: str) -> str | None:
    response = httpx.head(
        f"{registry.url}/v2/{repository}/manifests/{tag}",
        headers={"Accept": MANIFEST_ACCEPT},
        timeout=5,
    )
    return response.headers["docker-content-digest"] if response.status_code == 200 else None


def _manifest_puts(topo: Topology, since: float = 0.0) -> list[str]:
    """Tag PUTs at the target (an index's child manifests are pushed by digest, not counted)."""
    assert topo.proxy is not None
    return [
        r.path
        for r in topo.proxy.log
        if r.method == "PUT"
        and "/manifests/" in r.path
        and "/manifests/sha256:" not in r.path
        and r.status == 201
        and r.at >= since
    ]


def _last_sweep(topo: Topology) -> dict[str, Any] | None:
    schedules = topo.api().get("/v1/policies").json()["schedules"]
    assert [s["policy_id"] for s in schedules] == ["mirror"]
    last: dict[str, Any] | None = schedules[0]["last_sweep"]
    return last


def _sweep_after(topo: Topology, moment: float) -> dict[str, Any]:
    """The first finished sweep started after wall-clock ``moment``."""

    def done() -> dict[str, Any] | None:
        last = _last_sweep(topo)
        return last if last and last["started_at"] > moment and last["finished_at"] else None

    result: dict[str, Any] = wait_for(done, 15.0, interval=0.1, what="a finished sweep")
    return result


def test_cron_policy_replicates_new_tags_and_not_again_after_restart(
    topology_factory: TopologyFactory,
) -> None:
    topo = topology_factory.start(_policy(), opa=False, proxy_dst=True)
    schedules = topo.api().get("/v1/policies").json()["schedules"]
    assert [(s["policy_id"], s["schedule"], s["registries"]) for s in schedules] == [
        ("mirror", EVERY_SECOND, ["src"])
    ]

    pushed = [push_image(topo.src, "team/app", tag, seed=i) for i, tag in enumerate(["v1", "v2"])]
    push_image(topo.src, "team/app", "dev-1", seed=9)
    for image in pushed:
        wait_for(
            lambda i=image: _digest_at(topo.dst, "mirror/team/app", i.tag) == i.digest,
            10.0,
            what=f"mirror/team/app:{image.tag} at dst",
        )
    late = push_image(topo.src, "team/other", "v3", seed=3)
    wait_for(
        lambda: _digest_at(topo.dst, "mirror/team/other", "v3") == late.digest,
        10.0,
        what="a tag pushed while sweeps run",
    )
    assert _digest_at(topo.dst, "mirror/team/app", "dev-1") is None
    assert sorted(_manifest_puts(topo)) == [
        "/v2/mirror/team/app/manifests/v1",
        "/v2/mirror/team/app/manifests/v2",
        "/v2/mirror/team/other/manifests/v3",
    ]
    metrics = topo.metrics()
    assert (
        metrics[
            'freightliner_policy_action_executions_total{action="replicate",result="replicated"}'
        ]
        == 3
    )
    assert metrics[
        'freightliner_replication_bytes_total{source_registry="src",target_registry="dst"}'
    ] == sum(i.size for i in [*pushed, late])

    assert topo.stop_serve(signal.SIGTERM) == 0
    restarted = time.time()
    topo.start_serve()
    sweep = _sweep_after(topo, restarted)
    assert (
        sweep["result"],
        sweep["images"],
        sweep["copied"],
        sweep["already"],
        sweep["failed"],
    ) == ("ok", 4, 0, 3, 0)
    assert topo.proxy is not None
    assert [r for r in topo.proxy.log if r.at >= time.monotonic() - (time.time() - restarted)] == []
    assert (
        'freightliner_policy_action_executions_total{action="replicate",result="replicated"}'
        not in topo.metrics()
    )


def _images(registry: RunningRegistry, count: int) -> list[PushedImage]:
    return [
        push_image(
            registry,
            "bulk/app",
            f"v{i:02d}",
            seed=100 + i,
            layers=2,
            layer_size=1_500_000,
            tar=False,
        )
        for i in range(count)
    ]


def test_kill_9_mid_sweep_then_restart_no_partial_tag_no_duplicate_copy(
    topology_factory: TopologyFactory,
) -> None:
    topo = topology_factory.start(_policy(), opa=False, proxy_dst=True, max_concurrency=2)
    assert topo.stop_serve(signal.SIGTERM) == 0
    images = _images(topo.src, 24)
    topo.start_serve()
    wait_for(lambda: len(_manifest_puts(topo)) >= 2, 30.0, interval=0.005, what="the first copies")
    assert topo.stop_serve(signal.SIGKILL) == -signal.SIGKILL
    copied_before = len(_manifest_puts(topo))
    assert 2 <= copied_before < len(images), "the kill did not land mid-sweep"

    topo.start_serve()
    for image in images:
        wait_for(
            lambda i=image: _digest_at(topo.dst, "mirror/bulk/app", i.tag) == i.digest,
            60.0,
            interval=0.1,
            what=f"mirror/bulk/app:{image.tag}",
        )
    puts = _manifest_puts(topo)
    assert sorted(puts) == sorted(f"/v2/mirror/bulk/app/manifests/{i.tag}" for i in images)
    # No partial tag: every tag at the target resolves, with every blob present.
    tags = httpx.get(f"{topo.dst.url}/v2/mirror/bulk/app/tags/list").json()["tags"]
    assert sorted(tags) == sorted(i.tag for i in images)
    for image in images:
        for digest in [image.config_digest, *image.layer_digests]:
            assert (
                httpx.head(f"{topo.dst.url}/v2/mirror/bulk/app/blobs/{digest}").status_code == 200
            )
    sweeps = [s for s in topo.api().get("/v1/policies").json()["schedules"]]
    assert sweeps[0]["last_sweep"]["failed"] == 0


def test_state_records_the_digest_a_skip_existing_target_really_holds(
    topology_factory: TopologyFactory,
) -> None:
    """Issue 14: the state db said ``target_digest = source digest`` for a skip_existing
    target that holds another image."""
    policy = (
        tag_policy("^v.*", policy_id="mirror", schedule=EVERY_SECOND, registry="src")
        + '        parameters: {skip_existing: "true"}\n'
    )
    topo = topology_factory.start({"mirror.yaml": policy}, opa=False)
    other = push_image(topo.dst, "mirror/team/app", "v1", seed=50)
    source = push_image(topo.src, "team/app", "v1", seed=1)
    assert other.digest != source.digest
    sweep = _sweep_after(topo, time.time())
    assert (sweep["images"], sweep["copied"], sweep["already"]) == (1, 0, 1)
    assert _digest_at(topo.dst, "mirror/team/app", "v1") == other.digest  # kept
    with sqlite3.connect(topo.root / "state.sqlite") as db:
        rows = db.execute(
            "SELECT source_digest, target, target_digest FROM replications"
        ).fetchall()
    assert rows == [(source.digest, "dst/mirror/team/app:v1", other.digest)], topo.logs()[-3000:]


def test_a_schedule_that_cannot_run_rejects_the_change_like_a_bad_bundle(
    topology_factory: TopologyFactory,
) -> None:
    """Issue 14: a failing ``Scheduler.refresh`` was logged as "bundle listener failed" while
    the new bundle went live and the old schedules silently stayed."""
    topo = topology_factory.start(_policy(), opa=False)
    api = topo.api()
    before = api.get("/v1/policies").json()
    never = "0 0 0 30 2 *"  # February 30th: valid syntax, never fires
    topo.write_policy(
        "mirror.yaml", tag_policy("^v.*", policy_id="mirror", schedule=never, registry="src")
    )
    rejected = wait_for(
        lambda: api.get("/v1/policies").json()["last_rejected_change"], 20, what="the rejection"
    )
    message = (
        f"policy 'mirror': schedule '{never}': schedule '{never}' never fires within five years"
    )
    assert message in rejected["message"]
    after = api.get("/v1/policies").json()
    assert after["bundle"]["revision"] == before["bundle"]["revision"]
    assert [(s["policy_id"], s["schedule"]) for s in after["schedules"]] == [
        ("mirror", EVERY_SECOND)
    ]
    ready = httpx.get(f"{topo.adapter_url}/ready", timeout=5).json()
    assert message in ready["checks"]["bundle"]["last_rejected_change"]["message"]
    assert topo.metrics()["freightliner_policy_bundle_rebuild_failures_total"] == 1
    assert "bundle listener failed" not in topo.logs()
