"""The compose ``scale`` profile, checked statically (no Docker engine here): services,
ordering, the queue and state wiring of deploy/config-scale.yaml, and its secrets script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from adapter.config import FreightlinerConfig

ROOT = Path(__file__).resolve().parents[3]
SCALE = {"redis", "postgres", "adapter-1", "adapter-2", "worker"}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return dict(document["services"])


def test_the_scale_profile_has_redis_postgres_two_replicas_and_workers(
    services: dict[str, Any],
) -> None:
    assert {n for n, s in services.items() if s.get("profiles") == ["scale"]} == SCALE
    assert services["redis"]["image"] == "redis:7.2.4"
    assert services["redis"]["command"] == ["redis-server", "--save", "", "--appendonly", "no"]
    assert services["postgres"]["image"] == "postgres:15.8"
    for name in ("redis", "postgres"):
        assert "ports" not in services[name], f"{name} must stay on the compose network"
        assert services[name]["healthcheck"]["test"][0] == "CMD"
    for name in ("adapter-1", "adapter-2"):
        adapter = services[name]
        assert adapter["build"] == "."
        assert adapter["command"][:3] == ["serve", "--config", "/config/config.yaml"]
        assert "./deploy/config-scale.yaml:/config/config.yaml:ro" in adapter["volumes"]
        assert {k: v["condition"] for k, v in adapter["depends_on"].items()} == {
            "registry-src": "service_healthy",
            "registry-dst": "service_healthy",
            "redis": "service_healthy",
            "postgres": "service_healthy",
        }
        assert "pgpass" in adapter["secrets"]
    assert services["adapter-1"]["ports"] == ["127.0.0.1:8081:8080"]
    assert services["adapter-2"]["ports"] == ["127.0.0.1:8082:8080"]
    worker = services["worker"]
    assert worker["command"][:3] == ["worker", "--config", "/config/config.yaml"]
    assert worker["deploy"]["replicas"] == 3
    assert worker["secrets"] == ["pgpass"]
    assert worker["depends_on"] == services["adapter-1"]["depends_on"]
    assert 'pip install ".[scale]"' in (ROOT / "Dockerfile").read_text()


def test_config_scale_points_at_the_compose_redis_and_postgres(services: dict[str, Any]) -> None:
    config = FreightlinerConfig.load(ROOT / "deploy" / "config-scale.yaml")
    assert config.queue is not None and config.state is not None
    broker = urlsplit(config.queue.broker)
    assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)
    state = urlsplit(config.state.url)
    environment = services["postgres"]["environment"]
    assert (state.hostname, state.port, state.username, state.path) == (
        "postgres",
        5432,
        environment["POSTGRES_USER"],
        "/" + environment["POSTGRES_DB"],
    )
    assert state.password is None  # the password is a secret, never in the config
    assert parse_qs(state.query) == {"passfile": ["/run/secrets/pgpass"]}
    assert environment["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert services["postgres"]["secrets"] == ["postgres_password"]
    assert config.queue.rate_limits == {"dst": 20.0}
    assert set(config.registries.registries) == {"src", "dst"}


def test_scale_secrets_are_one_password_in_both_formats(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    script = [sys.executable, str(ROOT / "deploy" / "make_scale_secrets.py"), str(secrets)]
    subprocess.run(script, check=True, capture_output=True, timeout=60)
    password = (secrets / "postgres_password").read_text()
    assert len(password) >= 40 and ":" not in password
    assert (secrets / "pgpass").read_text() == (
        f"postgres:5432:freightliner:freightliner:{password}\n"
    )
    for name in ("postgres_password", "pgpass"):
        assert os.stat(secrets / name).st_mode & 0o777 == 0o600
    again = subprocess.run(script, capture_output=True, text=True, timeout=60)
    assert again.returncode == 1
    assert again.stderr == (
        f"error: {secrets}: already has postgres_password, pgpass; not overwritten\n"
    )
