"""Inventories of (registry, repository, tag): from a JSON file or live registries.

JSON forms accepted::

    {"images": [{"registry": "docker-hub", "repository": "library/nginx", "tags": ["1.25"]}]}
    {"docker-hub": {"library/nginx": ["1.25", "latest"]}}

Live: the distribution API's ``/v2/_catalog`` and ``/v2/<name>/tags/list``,
following ``Link: <...>; rel="next"`` pagination (anonymous access).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import httpx

from migrate.core.errors import ConfigError, Diagnostic, RegistryError
from migrate.legacy.cases import Image

__all__ = ["live_inventory", "load_inventory", "parse_registry_option"]


def parse_registry_option(values: tuple[str, ...]) -> dict[str, str]:
    """``NAME=URL`` options → {name: url}."""
    out: dict[str, str] = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not name or not url:
            raise ConfigError(
                "bad --registry", [Diagnostic(f"--registry {value!r}: expected NAME=URL")]
            )
        out[name] = url if "://" in url else f"https://{url}"
    return out


def load_inventory(path: Path) -> list[Image]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            "inventory", [Diagnostic(f"cannot read inventory: {exc.strerror}", str(path))]
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            "inventory", [Diagnostic(f"invalid JSON: {exc.msg}", str(path), exc.lineno)]
        ) from None
    images: list[Image] = []
    try:
        if isinstance(data, dict) and isinstance(data.get("images"), list):
            for entry in data["images"]:
                for tag in entry.get("tags", [entry.get("tag", "")]):
                    images.append((str(entry["registry"]), str(entry["repository"]), str(tag)))
        elif isinstance(data, dict):
            for registry, repos in data.items():
                for repository, tags in repos.items():
                    images.extend((str(registry), str(repository), str(tag)) for tag in tags)
        else:
            raise TypeError("expected an object")
    except (TypeError, KeyError, AttributeError) as exc:
        raise ConfigError(
            "inventory",
            [Diagnostic(f"unexpected inventory shape ({exc}); see docs/migration.md", str(path))],
        ) from None
    return sorted(set(images))


def _next_link(response: httpx.Response) -> str | None:
    link = response.headers.get("link")
    if not link:
        return None
    for part in link.split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            return str(urljoin(str(response.url), url.strip().strip("<>")))
    return None


def _pages(client: httpx.Client, url: str, key: str) -> list[str]:
    items: list[str] = []
    next_url: str | None = url
    while next_url:
        response = client.get(next_url)
        if response.status_code != 200:
            raise RegistryError(f"GET {next_url}: HTTP {response.status_code}")
        body: dict[str, Any] = response.json()
        items.extend(body.get(key) or [])
        next_url = _next_link(response)
    return items


def live_inventory(
    registries: dict[str, str], page_size: int = 100, timeout: float = 30.0
) -> list[Image]:
    """Every tag of every repository of the given registries."""
    images: list[Image] = []
    for name, base in sorted(registries.items()):
        root = base.rstrip("/") + "/"
        try:
            with httpx.Client(timeout=timeout, follow_redirects=True) as client:
                repos = _pages(client, urljoin(root, f"v2/_catalog?n={page_size}"), "repositories")
                for repo in repos:
                    for tag in _pages(
                        client, urljoin(root, f"v2/{repo}/tags/list?n={page_size}"), "tags"
                    ):
                        images.append((name, repo, tag))
        except httpx.HTTPError as exc:
            host = urlparse(root).netloc
            raise RegistryError(f"registry {name} ({host}): {exc}") from None
    return sorted(set(images))
