"""``replicate`` ends with a table per target registry, and JSON carries the same numbers and
the decided and copied digests (issue 17); real docker-registry processes on loopback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fixtures.images import PushedImage, push_image
from tests.fixtures.registry import RegistryFactory, RunningRegistry

pytestmark = [pytest.mark.registry]

CLI = str(Path(sys.executable).parent / "freightliner-policy")
POLICIES = """policies:
  - id: mirror
    priority: 10
    conditions: [{type: tag, operator: matches, value: "^v"}]
    actions:
      - {type: replicate, target_registry: m1, target_repo: "mirror/{repository}"}
      - {type: replicate, target_registry: m2, target_repo: "copy/{repository}"}
  - id: stop-bad
    priority: 20
    conditions: [{type: tag, operator: matches, value: "^bad"}]
    actions: [{type: block, parameters: {reason: "bad tag"}}]
"""


def _size(image: PushedImage) -> int:
    return len(image.config_bytes) + sum(len(layer) for layer in image.layers)


@pytest.fixture
def world(
    tmp_path: Path, registry_factory: RegistryFactory
) -> tuple[Path, dict[str, RunningRegistry], dict[str, PushedImage]]:
    src, m1, m2 = (registry_factory.start() for _ in range(3))
    images = {
        "v1": push_image(src, "team/app", "v1", seed=11, layer_size=3000),
        "v2": push_image(src, "team/app", "v2", seed=12, layer_size=5000),
        "bad-1": push_image(src, "team/app", "bad-1", seed=13),
    }
    push_image(m2, "copy/team/app", "v1", seed=11, layer_size=3000)  # m2 has v1 already
    (tmp_path / "policies.yaml").write_text(POLICIES)
    config = {"registries": {n: {"url": r.url} for n, r in (("src", src), ("m1", m1), ("m2", m2))}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path, {"src": src, "m1": m1, "m2": m2}, images


def _replicate(tmp: Path, *extra: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    command = [CLI, "replicate", "src/team/app", "--config", str(tmp / "config.yaml")]
    command += ["--policies", str(tmp / "policies.yaml"), *extra]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp), **env_extra}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def test_the_table_per_target_registry(
    world: tuple[Path, dict[str, RunningRegistry], dict[str, PushedImage]],
) -> None:
    tmp, _, images = world
    result = _replicate(tmp)
    assert result.returncode == 5, result.stderr  # an image was blocked
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    table = lines[3:-1]
    m1_bytes = _size(images["v1"]) + _size(images["v2"])
    m2_bytes = _size(images["v2"])
    # TIME is measured: only its form is fixed
    times = [re.sub(r"  \d+\.\ds$", "  T", line) for line in table]
    assert times == [
        "TARGET       COPIED  SKIPPED  BLOCKED  FAILED     BYTES  TIME",
        f"m1                2        0        0       0  {_kib(m1_bytes):>8}  T",
        f"m2                1        1        0       0  {_kib(m2_bytes):>8}  T",
        "(no target)       0        0        1       0       0 B     -",
    ]
    assert sorted(lines[:3]) == [
        "blocked src/team/app:bad-1: bad tag",
        "replicated src/team/app:v1 -> m1/mirror/team/app:v1, m2/copy/team/app:v1",
        "replicated src/team/app:v2 -> m1/mirror/team/app:v2, m2/copy/team/app:v2",
    ]
    assert lines[-1] == "summary: replicated 2, skipped 0, blocked 1, failed 0"


def _kib(count: int) -> str:
    return f"{count / 1024:.1f} KiB"


def test_json_has_the_same_numbers_and_the_digests(
    world: tuple[Path, dict[str, RunningRegistry], dict[str, PushedImage]],
) -> None:
    tmp, _, images = world
    result = _replicate(tmp, "--output", "json")
    assert result.returncode == 5, result.stderr
    document = json.loads(result.stdout)
    targets = document["targets"]
    seconds = [row.pop("seconds") for row in targets]
    assert targets == [
        {
            "registry": "m1",
            "copied": 2,
            "skipped": 0,
            "blocked": 0,
            "failed": 0,
            "planned": 0,
            "bytes": _size(images["v1"]) + _size(images["v2"]),
        },
        {
            "registry": "m2",
            "copied": 1,
            "skipped": 1,
            "blocked": 0,
            "failed": 0,
            "planned": 0,
            "bytes": _size(images["v2"]),
        },
        {
            "registry": None,
            "copied": 0,
            "skipped": 0,
            "blocked": 1,
            "failed": 0,
            "planned": 0,
            "bytes": 0,
        },
    ]
    assert seconds[0] > 0 and seconds[1] > 0 and seconds[2] == 0
    by_ref = {o["reference"]: o for o in document["outcomes"]}
    for tag in ("v1", "v2"):
        outcome = by_ref[f"src/team/app:{tag}"]
        digest = images[tag].digest
        assert outcome["decided_digest"] == digest
        assert [(c["target"], c["status"], c["target_digest"]) for c in outcome["copies"]] == [
            (f"m1/mirror/team/app:{tag}", "replicated", digest),
            (f"m2/copy/team/app:{tag}", "skipped" if tag == "v1" else "replicated", digest),
        ]
    blocked = by_ref["src/team/app:bad-1"]
    assert (blocked["decided_digest"], blocked["copies"]) == (images["bad-1"].digest, [])


def test_progress_lines_when_asked_none_under_ci(
    world: tuple[Path, dict[str, RunningRegistry], dict[str, PushedImage]],
) -> None:
    tmp, _, _ = world
    shown = _replicate(tmp, "--progress", "--dry-run")
    lines = [line for line in shown.stderr.splitlines() if line.startswith("progress: images: ")]
    assert lines[-1].startswith("progress: images: [########################] 3/3 done (")
    ci = _replicate(tmp, "--dry-run", CI="true")
    assert (ci.returncode, ci.stderr) == (5, "")
    ci_asked = _replicate(tmp, "--progress", "--dry-run", CI="true")
    assert any(line.startswith("progress: images: ") for line in ci_asked.stderr.splitlines())
