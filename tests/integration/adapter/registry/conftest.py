"""Registry-test fixtures: a loopback token server and a docker-registry using it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.registry import PASSWORD, USERNAME, RegistryFactory, RunningRegistry
from tests.integration.adapter.registry.token_server import TokenServer


@pytest.fixture(scope="session")
def token_server() -> Iterator[TokenServer]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to sign tokens")
    directory = Path(tempfile.mkdtemp(prefix="freightliner-tokens-"))
    server = TokenServer(directory, {USERNAME: PASSWORD})
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def token_registry(registry_factory: RegistryFactory, token_server: TokenServer) -> RunningRegistry:
    """docker-registry with ``auth: token`` trusting ``token_server``'s certificate."""
    return registry_factory.start(
        auth="token", token_auth=token_server.registry_auth(), name="bearer"
    )
