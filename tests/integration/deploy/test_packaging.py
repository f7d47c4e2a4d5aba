"""Packaging: the wheel (py.typed, LICENSE, version, URLs), the LICENSE text, the changelog,
and the Dockerfile / .dockerignore checked statically (no Docker engine here): pinned base,
HEALTHCHECK (its command run against a real ``serve``), the build context it would send."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import migrate
from tests.fixtures.registry import free_port
from tests.fixtures.topology import TopologyFactory
from tests.integration.adapter.service.policies import tag_policy

ROOT = Path(__file__).resolve().parents[3]
#: sha256 of the Apache License 2.0 text as distributed (Debian's
#: /usr/share/common-licenses/Apache-2.0, apache.org's LICENSE-2.0.txt)
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    [path] = out.glob("*.whl")
    return path


def test_wheel_has_py_typed_license_version_and_urls(wheel: Path) -> None:
    version = migrate.__version__
    assert wheel.name == f"freightliner_policy-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"freightliner_policy-{version}.dist-info/METADATA").decode()
        license_text = archive.read(f"freightliner_policy-{version}.dist-info/licenses/LICENSE")
    assert {"adapter/py.typed", "migrate/py.typed"} <= names
    assert license_text == (ROOT / "LICENSE").read_bytes()
    assert f"\nVersion: {version}\n" in metadata
    assert "\nLicense-Expression: Apache-2.0\n" in metadata
    urls = dict(
        line.removeprefix("Project-URL: ").split(", ", 1)
        for line in metadata.splitlines()
        if line.startswith("Project-URL: ")
    )
    assert set(urls) == {"Homepage", "Documentation", "Changelog", "Issues", "Legacy Freightliner"}
    assert urls["Changelog"].endswith("/CHANGELOG.md")
    assert all(u.startswith("https://") for u in urls.values())


def test_version_has_one_place() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"] == {"path": "migrate/__init__.py"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", migrate.__version__)


def test_license_is_the_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_SHA256
    debian = Path("/usr/share/common-licenses/Apache-2.0")
    if debian.is_file():
        assert text == debian.read_bytes()


def test_changelog_names_the_current_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog\n")
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.MULTILINE)
    assert headings[0] == "Unreleased" and migrate.__version__ in headings


# -- Dockerfile ------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    steps = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            steps.append((instruction.upper(), rest.strip()))
    return steps


def test_dockerfile_base_pinned_by_digest_non_root_no_demo_files() -> None:
    steps = _dockerfile()
    [base] = [args for instruction, args in steps if instruction == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base)
    copies = [args.split() for instruction, args in steps if instruction == "COPY"]
    sources = [s for args in copies for s in args[:-1]]
    assert sources == [
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "CHANGELOG.md",
        "adapter",
        "migrate",
        "rego",
    ]
    assert all((ROOT / s).exists() for s in sources)
    [user] = [args for instruction, args in steps if instruction == "USER"]
    assert user == "10001"
    assert not any(i == "ADD" for i, _ in steps)


def test_dockerfile_healthcheck_command_probes_a_real_serve(
    topology_factory: TopologyFactory,
) -> None:
    steps = _dockerfile()
    [healthcheck] = [args for instruction, args in steps if instruction == "HEALTHCHECK"]
    options, _, command = healthcheck.partition(" CMD ")
    assert set(re.findall(r"--([a-z-]+)=", options)) == {
        "interval",
        "timeout",
        "start-period",
        "retries",
    }
    argv = json.loads(command)
    env_line = next(args for instruction, args in steps if instruction == "ENV")
    default_url = re.search(r"FREIGHTLINER_HEALTH_URL=(\S+)", env_line)
    assert default_url and default_url.group(1) == "http://127.0.0.1:8080/health"
    cmd_line = next(args for instruction, args in steps if instruction == "CMD")
    assert "0.0.0.0:8080" in json.loads(cmd_line)  # the port the default URL probes

    topo = topology_factory.start({"p.yaml": tag_policy("^prod-")}, opa=False)
    argv[0] = sys.executable  # the image's `python`
    up = subprocess.run(
        argv,
        env={**os.environ, "FREIGHTLINER_HEALTH_URL": f"{topo.adapter_url}/health"},
        capture_output=True,
        timeout=30,
    )
    assert up.returncode == 0, up.stderr
    down = subprocess.run(
        argv,
        env={**os.environ, "FREIGHTLINER_HEALTH_URL": f"http://127.0.0.1:{free_port()}/health"},
        capture_output=True,
        timeout=30,
    )
    assert down.returncode == 1 and b"Connection refused" in down.stderr


def _ignored(rel: str, rules: list[tuple[bool, str]]) -> bool:
    """Docker's .dockerignore: the last matching pattern wins (``!`` re-includes); a pattern
    matches a path or any of its parent directories; ``**`` spans directories."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negated, pattern in rules:
        regex = "^" + re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\?", "[^/]") + "$"
        if any(re.match(regex, p) for p in prefixes):
            ignored = not negated
    return ignored


def test_dockerignore_build_context() -> None:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, line.lstrip("!").rstrip("/")))
    assert _ignored(".venv/bin/python", rules)
    assert _ignored("adapter/__pycache__/x.pyc", rules)
    assert not _ignored("adapter/cli/main.py", rules)
    # the context `docker build .` would send, from the files of this checkout
    context = []
    reincluded = [pattern for negated, pattern in rules if negated]
    for directory, dirs, files in os.walk(ROOT):
        rel_dir = os.path.relpath(directory, ROOT)
        # skip ignored directories nothing re-includes (.venv, .git: thousands of files)
        dirs[:] = [
            d
            for d in dirs
            if not (
                _ignored(rel := d if rel_dir == "." else f"{rel_dir}/{d}", rules)
                and not any(p.startswith(rel) for p in reincluded)
            )
        ]
        for name in files:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if not _ignored(rel, rules):
                context.append(rel)
    tops = {c.split("/")[0] for c in context}
    assert tops == {
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "CHANGELOG.md",
        "adapter",
        "migrate",
        "rego",
    }
    assert not [c for c in context if "__pycache__" in c or fnmatch.fnmatch(c, "*.pyc")]
    size = sum((ROOT / c).stat().st_size for c in context)
    assert size < 5 * 1024 * 1024, size
    for excluded in [".venv", ".git", ".demo", "deploy", "tests", ".pytest_cache", ".mypy_cache"]:
        assert _ignored(f"{excluded}/x", rules), excluded
