"""scripts/demo-registries.sh: starts the registries examples/config.yaml names, seeds the
example images, is idempotent, reports status, stops only what it started.

Runs a copy of scripts/ and examples/ whose config uses free loopback ports (others on this
machine may use 5000-5002); the script reads the ports from that file."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.fixtures.registry import RunningRegistry, ensure_registry_installed, free_port

ROOT = Path(__file__).resolve().parents[3]


def _copy(tmp_path: Path, urls: dict[str, str] | None = None) -> tuple[Path, dict[str, str]]:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "scripts", copy / "scripts")
    shutil.copytree(ROOT / "examples", copy / "examples")
    (copy / ".venv").symlink_to(ROOT / ".venv")
    config_path = copy / "examples" / "config.yaml"
    text = config_path.read_text()
    chosen: dict[str, str] = {}
    for name, entry in yaml.safe_load(text)["registries"].items():
        chosen[name] = (urls or {}).get(name) or f"http://127.0.0.1:{free_port()}"
        text = text.replace(entry["url"], chosen[name])
    config_path.write_text(text)
    return copy, chosen


def _run(copy: Path, command: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FREIGHTLINER_DEMO_DIR"}
    return subprocess.run(
        ["bash", str(copy / "scripts" / "demo-registries.sh"), command],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _pids(output: str) -> list[int]:
    return [int(p) for p in re.findall(r"\(pid (\d+)\)", output)]


def test_start_seed_status_stop(tmp_path: Path) -> None:
    ensure_registry_installed()
    copy, urls = _copy(tmp_path)
    try:
        before = _run(copy, "status")
        assert before.returncode == 3
        assert [line.split()[-1] for line in before.stdout.splitlines()] == ["stopped"] * 3

        started = _run(copy, "start")
        assert started.returncode == 0, started.stderr
        lines = started.stdout.splitlines()
        assert [line.split()[:2] for line in lines[:3]] == [[n, u] for n, u in urls.items()]
        assert all("started (pid" in line for line in lines[:3])
        seeded = sorted(line.split("@")[0] for line in lines[3:])
        assert seeded == [
            "seeded local/platform/api:v2.3.1",
            "seeded local/team/app:dev-3f2a1c",
            "seeded local/team/app:prod-v1.0.0",
            "seeded local/team/app:prod-v1.0.1",
        ]
        pids = _pids(started.stdout)
        assert (copy / ".demo" / "local.pid").read_text().strip() == str(pids[0])

        # the image carries the example file's labels, creation time and platform
        source = urls["local"]
        tags = httpx.get(f"{source}/v2/team/app/tags/list").json()["tags"]
        assert sorted(tags) == ["dev-3f2a1c", "prod-v1.0.0", "prod-v1.0.1"]
        manifest = httpx.get(
            f"{source}/v2/team/app/manifests/prod-v1.0.0",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        ).json()
        config = httpx.get(f"{source}/v2/team/app/blobs/{manifest['config']['digest']}").json()
        example = json.loads((ROOT / "examples" / "images" / "prod-scanned.json").read_text())
        assert (
            config["config"]["Labels"],
            config["created"],
            config["os"],
            config["architecture"],
        ) == (example["labels"], example["created_at"], "linux", "amd64")
        for name in ("ecr", "gcr"):  # targets start empty
            assert httpx.get(f"{urls[name]}/v2/_catalog").json() == {"repositories": []}

        again = _run(copy, "start")  # idempotent: same processes, same digests
        assert again.returncode == 0
        assert [line.split()[-2:] for line in again.stdout.splitlines()[:3]] == [
            ["already", "running"]
        ] * 3
        assert again.stdout.splitlines()[3:] == lines[3:]

        status = _run(copy, "status")
        assert status.returncode == 0 and _pids(status.stdout) == pids

        # a registry that died is started again, the others are kept
        os.kill(pids[1], signal.SIGKILL)
        _wait_gone(pids[1])
        assert _run(copy, "status").returncode == 3
        restarted = _run(copy, "start")
        assert restarted.returncode == 0
        restarted_lines = restarted.stdout.splitlines()
        assert "already running" in restarted_lines[0] and "started" in restarted_lines[1]
    finally:
        stopped = _run(copy, "stop")
    assert stopped.returncode == 0
    for pid in _pids(stopped.stdout):
        _wait_gone(pid)
    assert len(_pids(stopped.stdout)) == 3
    assert not (copy / ".demo").exists()
    assert [line.split()[-2:] for line in _run(copy, "stop").stdout.splitlines()] == [
        ["not", "running"]
    ] * 3


def test_refuses_a_port_it_did_not_start_and_never_stops_that_process(
    tmp_path: Path, fresh_registry: RunningRegistry
) -> None:
    copy, _ = _copy(tmp_path, {"ecr": fresh_registry.url})
    try:
        refused = _run(copy, "start")
        assert refused.returncode == 1
        assert refused.stderr.strip() == (
            f"demo-registries: ecr: port {fresh_registry.port} already answers /v2/ but was "
            f"not started from {copy / '.demo'}; stop that registry or change config.yaml"
        )
    finally:
        _run(copy, "stop")
    assert fresh_registry.process.poll() is None  # not ours: still running
    assert httpx.get(f"{fresh_registry.url}/v2/").status_code == 200


def test_usage() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo-registries.sh"), "restart"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (
        2,
        "usage: scripts/demo-registries.sh start|status|stop\n",
    )


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        status = Path(f"/proc/{pid}/status").read_text() if Path(f"/proc/{pid}").exists() else ""
        if "State:\tZ" in status:
            return  # a zombie of the script that started it: gone as a registry
        if time.monotonic() > deadline:
            pytest.fail(f"process {pid} still running")
        time.sleep(0.05)
