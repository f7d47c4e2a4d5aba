"""A CLI run meets a dead registry, rejected credentials and Ctrl-C (issue 14).

Real ``docker-registry`` processes on loopback, the real CLI in a subprocess.

Before: every tag went through the whole retry schedule against a dead registry
(16 tags: 8 s; 1,000 tags: about 7 minutes), each failure printed twice; a wrong
password gave one failure line per tag and exit 7; Ctrl-C printed "Aborted!" (exit 1)
while copies went on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fixtures.faults import FaultProxy
from tests.fixtures.images import push_image, push_large_image, push_manifest
from tests.fixtures.registry import PASSWORD, USERNAME, RegistryFactory, free_port

pytestmark = [pytest.mark.registry, pytest.mark.slow]

CLI = str(Path(sys.executable).parent / "freightliner-policy")
POLICY = """policies:
  - id: mirror
    priority: 1
    conditions:
      - type: tag
        operator: matches
        value: ".*"
    actions:
      - type: replicate
        target_registry: dst
        target_repo: "mirror/{repository}"
"""


def _setup(
    tmp: Path, registries: dict[str, dict[str, Any]], grace: float = 60, **policy: Any
) -> Path:
    (tmp / "policies").mkdir(exist_ok=True)
    (tmp / "policies" / "mirror.yaml").write_text(POLICY)
    config = {
        "policy": {"maxConcurrency": 4, **policy},
        "registries": registries,
        "serve": {"shutdown_grace_seconds": grace},
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _command(tmp: Path, reference: str) -> list[str]:
    return [
        CLI,
        "replicate",
        reference,
        "--config",
        str(tmp / "config.yaml"),
        "--policies",
        str(tmp / "policies"),
    ]


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp), **extra}


def _tag_many(registry: Any, repository: str, count: int) -> None:
    pushed = push_image(registry, repository, "t0", seed=3)
    with registry.http() as http:
        for i in range(1, count):
            push_manifest(http, repository, f"t{i}", pushed.manifest, pushed.media_type)


def test_a_dead_registry_is_one_error_line_and_a_fast_exit_over_1000_tags(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    src = registry_factory.start(name="src")
    _tag_many(src, "team/app", 1000)
    dead = f"http://127.0.0.1:{free_port()}"
    _setup(tmp_path, {"src": {"url": src.url}, "dst": {"url": dead}})
    started = time.monotonic()
    proc = subprocess.run(
        _command(tmp_path, "src/team/app"),
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(tmp_path),
    )
    elapsed = time.monotonic() - started
    print(f"dead registry, 1000 tags: {elapsed:.1f} s")
    assert proc.returncode == 6, proc.stderr
    # progress lines (the run takes over 2 s) aside, one error line
    errors = [e for e in proc.stderr.splitlines() if not e.startswith("progress: images: ")]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"error: registry 'dst' at {dead} is unavailable: cannot connect: ")
    failed_lines = [line for line in proc.stdout.splitlines() if line.startswith("failed ")]
    assert 1 <= len(failed_lines) <= 4  # only the copies in flight when it went down
    summary = proc.stdout.splitlines()[-1]
    assert summary.startswith("summary: replicated 0, skipped 0, blocked 0, failed 1000 (")
    assert f"({1000 - len(failed_lines)} not attempted)" in summary
    # measured: 12.2 s at load average 14-16 on 2 cores, metadata of 1,000 tags included
    # (before: every tag waited out the retry schedule, about 7 minutes)
    assert elapsed < 90, elapsed


def test_rejected_credentials_are_one_error_line_and_exit_6(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    src = registry_factory.start(name="src")
    dst = registry_factory.start(auth="htpasswd", name="dst")
    _tag_many(src, "team/app", 40)
    _setup(
        tmp_path,
        {
            "src": {"url": src.url},
            "dst": {"url": dst.url, "username_env": "DST_USER", "password_env": "DST_PASS"},
        },
    )
    proc = subprocess.run(
        _command(tmp_path, "src/team/app"),
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(tmp_path, DST_USER=USERNAME, DST_PASS=PASSWORD + "-wrong"),
    )
    assert proc.returncode == 6, proc.stdout + proc.stderr
    # progress lines (the run takes over 2 s) aside, one error line
    errors = [e for e in proc.stderr.splitlines() if not e.startswith("progress: images: ")]
    assert len(errors) == 1, errors
    assert errors[0].startswith(
        f"error: registry 'dst' at {dst.url} is unavailable: credentials rejected ("
    )
    assert len([line for line in proc.stdout.splitlines() if line.startswith("failed ")]) <= 4
    with dst.http() as http:
        http.auth = (USERNAME, PASSWORD)
        assert http.get("/v2/mirror/team/app/tags/list").status_code == 404  # nothing written


def test_sigint_during_a_copy_exits_130_and_leaves_no_partial_tag(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    src = registry_factory.start(name="src")
    dst = registry_factory.start(name="dst")
    proxy = FaultProxy(dst)
    images = [push_large_image(src, "team/big", f"v{i}", 48 << 20, seed=i) for i in range(3)]
    _setup(tmp_path, {"src": {"url": src.url}, "dst": {"url": proxy.url}}, maxConcurrency=1)
    proc = subprocess.Popen(
        _command(tmp_path, "src/team/big"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    try:
        deadline = time.monotonic() + 120
        while not proxy.requests("POST", r"/blobs/uploads/$"):  # the first copy has begun
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no copy started"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        proxy.stop()
    assert proc.returncode == 130, out + err
    assert "Aborted!" not in err
    assert err.splitlines()[0].startswith("interrupted (SIGINT): starting no new copy")
    assert err.splitlines()[-1] == "interrupted: 2 image(s) not started"
    with httpx.Client(base_url=dst.url, timeout=30) as http:
        tags = http.get("/v2/mirror/team/big/tags/list").json().get("tags") or []
        # the copy in flight finished within the grace period; no other copy was started
        assert len(tags) == 1, tags
        [copied] = [i for i in images if i.tag == tags[0]]
        manifest = http.get(
            f"/v2/mirror/team/big/manifests/{copied.tag}", headers={"Accept": copied.media_type}
        )
        assert manifest.content == copied.manifest  # whole, byte for byte
        for layer in manifest.json()["layers"]:
            assert http.head(f"/v2/mirror/team/big/blobs/{layer['digest']}").status_code == 200


def test_a_failed_notification_is_in_the_summary_and_exits_7(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    """Issue 14: a failed notification exited 0 and was missing from the text summary."""
    src = registry_factory.start(name="src")
    dst = registry_factory.start(name="dst")
    push_image(src, "team/app", "v1", seed=1)
    _setup(tmp_path, {"src": {"url": src.url}, "dst": {"url": dst.url}})
    dead_hook = f"http://127.0.0.1:{free_port()}/hook"
    (tmp_path / "policies" / "notify.yaml").write_text(
        POLICY.replace("id: mirror", "id: announce").replace(
            """      - type: replicate
        target_registry: dst
        target_repo: "mirror/{repository}"
""",
            f"""      - type: notify
        parameters: {{url: "{dead_hook}"}}
""",
        )
    )
    proc = subprocess.run(
        _command(tmp_path, "src/team/app:v1"),
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(tmp_path),
    )
    assert proc.returncode == 7, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == (
        "summary: replicated 1, skipped 0, blocked 0, failed 0, notifications failed 1"
    )


def test_sigterm_past_the_grace_period_exits_130_and_leaves_no_tag(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    """The copy in flight is cut short when the grace period ends: the tag, written last,
    is not there."""
    src = registry_factory.start(name="src")
    dst = registry_factory.start(name="dst")
    proxy = FaultProxy(dst)
    push_large_image(src, "team/big", "v0", 96 << 20, seed=7)
    _setup(
        tmp_path, {"src": {"url": src.url}, "dst": {"url": proxy.url}}, grace=0, maxConcurrency=1
    )
    proc = subprocess.Popen(
        _command(tmp_path, "src/team/big"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    try:
        deadline = time.monotonic() + 120
        while not proxy.requests("POST", r"/blobs/uploads/$"):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no copy started"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proxy.stop()
    assert proc.returncode == 130, out + err
    assert err.splitlines()[-1] == "interrupted: copies still running after 0s; exiting"
    assert not proxy.requests("PUT", r"/manifests/")  # the tag was never written
    with httpx.Client(base_url=dst.url, timeout=30) as http:
        assert http.get("/v2/mirror/team/big/tags/list").status_code == 404
