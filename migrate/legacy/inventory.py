"""Inventories of (registry, repository, tag) from a JSON file.

JSON forms accepted::

    {"images": [{"registry": "docker-hub", "repository": "library/nginx", "tags": ["1.25"]}]}
    {"docker-hub": {"library/nginx": ["1.25", "latest"]}}

A live inventory (``--registry NAME=URL``) is read by the adapter's registry
client (``adapter/registry/inventory.py``) and handed to ``verify`` as a
:data:`LiveInventory`: the translator makes no HTTP requests of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from migrate.core.errors import ConfigError, Diagnostic
from migrate.legacy.cases import Image

__all__ = ["LiveInventory", "load_inventory", "parse_registry_option"]

#: ``{registry name: URL}`` -> every ``(registry, repository, tag)`` they list.
LiveInventory = Callable[[Mapping[str, str]], list[Image]]


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
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            "inventory", [Diagnostic(f"invalid JSON: {exc.msg}", str(path), exc.lineno)]
        ) from exc
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
        ) from exc
    return sorted(set(images))
