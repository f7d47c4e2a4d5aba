"""ImageCopier under injected faults and bad credentials: nothing partial is ever tagged."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

import pytest

from adapter.actions.replicate import ImageCopier
from adapter.registry.config import Credentials
from adapter.registry.http import RetrySchedule
from migrate.core.errors import AuthenticationError, DigestMismatch, RegistryError
from migrate.core.retry import RetrySettings
from tests.fixtures.faults import FaultProxy
from tests.fixtures.images import push_image
from tests.fixtures.registry import USERNAME, RunningRegistry

pytestmark = pytest.mark.registry
FAST = RetrySettings(max_attempts=3, initial_backoff_seconds=0.05, max_backoff_seconds=0.2)
ProxyFactory = Callable[[RunningRegistry], FaultProxy]


def test_500_and_429_then_recovery(
    registry: RunningRegistry,
    fresh_registry: RunningRegistry,
    fault_proxy_factory: ProxyFactory,
    unique_repo: str,
) -> None:
    image = push_image(registry, unique_repo, "v1")
    proxy = fault_proxy_factory(fresh_registry)
    proxy.fail(r"/blobs/sha256:", status=500, times=2, method="HEAD")
    proxy.fail(r"/manifests/v1", status=429, method="PUT", headers={"Retry-After": "1"})
    target = fresh_registry.client(url=proxy.url, retry=FAST)
    result = ImageCopier().copy((registry.client(), unique_repo, "v1"), (target, "app", "v1"))
    assert result.target_digest == image.digest
    assert [r.status for r in proxy.requests("PUT", "/manifests/v1")] == [429, 201]
    heads = [r.status for r in proxy.requests("HEAD", "/blobs/")]
    assert heads[:3] == [500, 500, 404]
    assert fresh_registry.client().get_manifest("app", "v1").content == image.manifest


def test_connection_cut_during_blob_upload_restarts_the_upload(
    registry: RunningRegistry,
    fresh_registry: RunningRegistry,
    fault_proxy_factory: ProxyFactory,
    unique_repo: str,
) -> None:
    """Without any retry_policy: one cut restarts that blob's upload session (and download)."""
    image = push_image(registry, unique_repo, "v1", layers=3, layer_size=400_000, tar=False)
    proxy = fault_proxy_factory(fresh_registry)
    proxy.cut(path=r"/blobs/uploads/", method="PUT", after_bytes=100_000)
    target = fresh_registry.client(url=proxy.url, retry=FAST)
    sleeps: list[float] = []
    result = ImageCopier(sleep=sleeps.append).copy(
        (registry.client(), unique_repo, "v1"), (target, "app", "v1")
    )
    assert (result.attempts, result.target_digest, result.blobs_copied) == (1, image.digest, 4)
    assert len(sleeps) == 1 and 0.25 <= sleeps[0] <= 0.5  # jittered first backoff of 0.5 s
    assert len(proxy.requests("POST", "/blobs/uploads/")) == 5  # 4 blobs + 1 restarted session
    assert fresh_registry.client().get_manifest("app", "v1").content == image.manifest


def test_upload_that_keeps_failing_tags_nothing_and_a_rerun_completes(
    registry: RunningRegistry,
    fresh_registry: RunningRegistry,
    fault_proxy_factory: ProxyFactory,
    unique_repo: str,
) -> None:
    image = push_image(registry, unique_repo, "v1", layers=3, layer_size=400_000, tar=False)
    proxy = fault_proxy_factory(fresh_registry)
    proxy.cut(path=r"/blobs/uploads/", method="PUT", after_bytes=100_000, times=4)
    target = fresh_registry.client(url=proxy.url, retry=FAST)
    source = registry.client()
    copier = ImageCopier(blob_retry=RetrySchedule(attempts=4, initial=0.01))
    with pytest.raises(RegistryError, match=r"PUT /v2/app/blobs/uploads/"):
        copier.copy((source, unique_repo, "v1"), (target, "app", "v1"))
    direct = fresh_registry.client()
    assert direct.head_manifest("app", "v1") is None  # nothing tagged
    rerun = copier.copy((source, unique_repo, "v1"), (target, "app", "v1"))
    assert rerun.target_digest == image.digest
    assert rerun.blobs_copied + rerun.blobs_skipped == 4
    assert direct.get_manifest("app", "v1").content == image.manifest


def test_connection_cut_is_retried_with_a_retry_policy(
    registry: RunningRegistry,
    fresh_registry: RunningRegistry,
    fault_proxy_factory: ProxyFactory,
    unique_repo: str,
) -> None:
    image = push_image(registry, unique_repo, "v1", layers=2, layer_size=300_000, tar=False)
    proxy = fault_proxy_factory(fresh_registry)
    proxy.cut(path=r"/blobs/uploads/", method="PUT", after_bytes=50_000)
    target = fresh_registry.client(url=proxy.url, retry=FAST)
    # blob-level retries off: the policy's retry_policy repeats the whole copy
    result = ImageCopier(blob_retry=RetrySchedule(attempts=1)).copy(
        (registry.client(), unique_repo, "v1"), (target, "app", "v1"), retry=FAST
    )
    assert (result.attempts, result.target_digest, result.blobs_copied) == (2, image.digest, 3)


def test_429_with_retry_after_on_a_blob_upload_is_retried_without_a_retry_policy(
    registry: RunningRegistry,
    fresh_registry: RunningRegistry,
    fault_proxy_factory: ProxyFactory,
    unique_repo: str,
) -> None:
    image = push_image(registry, unique_repo, "v1", layers=1, layer_size=200_000, tar=False)
    proxy = fault_proxy_factory(fresh_registry)
    proxy.fail(r"/blobs/uploads/", status=429, method="PUT", headers={"Retry-After": "1"})
    target = fresh_registry.client(url=proxy.url)
    started = time.monotonic()
    result = ImageCopier().copy((registry.client(), unique_repo, "v1"), (target, "app", "v1"))
    elapsed = time.monotonic() - started
    assert (result.attempts, result.target_digest, result.blobs_copied) == (1, image.digest, 2)
    puts = [r.status for r in proxy.requests("PUT", "/blobs/uploads/")]
    assert puts == [429, 201, 201]
    assert len(proxy.requests("POST", "/blobs/uploads/")) == 3  # the session was restarted
    assert 1.0 <= elapsed < 5.0  # Retry-After: 1 honoured (plus at most 10 % jitter)


def test_corrupted_blob_is_never_tagged(
    registry: RunningRegistry,
    fresh_registry: RunningRegistry,
    fault_proxy_factory: ProxyFactory,
    unique_repo: str,
) -> None:
    image = push_image(registry, unique_repo, "v1", layers=2)
    proxy = fault_proxy_factory(registry)
    proxy.corrupt(path=image.layer_digests[1], times=10)
    source = registry.client(url=proxy.url)
    target = fresh_registry.client()
    with pytest.raises(DigestMismatch, match=f"blob {unique_repo}@{image.layer_digests[1]}"):
        ImageCopier().copy((source, unique_repo, "v1"), (target, "app", "v1"), retry=FAST)
    assert target.head_manifest("app", "v1") is None
    assert not target.blob_exists("app", image.layer_digests[1])


def test_bad_target_credentials(
    registry: RunningRegistry, htpasswd_registry: RunningRegistry, unique_repo: str
) -> None:
    push_image(registry, unique_repo, "v1")
    target = htpasswd_registry.client(credentials=Credentials(USERNAME, "wrong"), name="basic")
    with pytest.raises(AuthenticationError) as info:
        ImageCopier().copy(
            (registry.client(), unique_repo, "v1"), (target, "app", "v1"), retry=FAST
        )
    assert info.value.lines() == [
        "registry 'basic': credentials for user 'alice' were rejected "
        "(HTTP 401 on HEAD /v2/app/manifests/v1)"
    ]


CHILD = textwrap.dedent("""
    import resource, sys
    from adapter.actions.replicate import ImageCopier
    from adapter.registry.client import RegistryClient
    from adapter.registry.config import RegistryConfig
    src = RegistryClient(RegistryConfig(name="a", url=sys.argv[1]), credentials=None)
    dst = RegistryClient(RegistryConfig(name="b", url=sys.argv[2]), credentials=None)
    result = ImageCopier().copy((src, "big/app", "v1"), (dst, "big/app", "v1"))
    print(result.bytes_copied, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
""")
#: Linux carries ru_maxrss across fork+exec: start the measured child from a small wrapper.
WRAPPER = textwrap.dedent("""
    import subprocess, sys
    sys.stdout.write(subprocess.run(sys.argv[1:], check=True, capture_output=True,
                                    text=True).stdout)
""")


@pytest.mark.slow
def test_copying_a_200_mib_layer_stays_under_150_mb(
    registry: RunningRegistry, fresh_registry: RunningRegistry
) -> None:
    from tests.fixtures.images import push_large_image

    image = push_large_image(registry, "big/app", "v1", 200 << 20)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            WRAPPER,
            sys.executable,
            "-c",
            CHILD,
            registry.url,
            fresh_registry.url,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=True,
    )
    copied, max_rss_kib = (int(x) for x in out.stdout.split())
    assert copied == image.size
    assert max_rss_kib * 1024 < 150 * 1000 * 1000, f"peak RSS {max_rss_kib} KiB"
