"""Live inventories for ``freightliner-migrate verify --registry NAME=URL``.

Every tag of every repository of the named registries, read through the one
registry client (:class:`adapter.registry.client.RegistryClient`): requests go
only to each registry's own origin on checked paths, pagination is bounded and
stays on that origin, retries honour ``Retry-After``. Names outside the image
grammar are left out with a warning, as a sweep leaves them out. Anonymous
access: a verify needs names, not images.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from adapter.registry.client import RegistryClient
from adapter.registry.config import RegistryConfig
from migrate.core.reference import InvalidName, check_repository, check_tag

__all__ = ["live_inventory"]

_log = logging.getLogger("freightliner.registry.inventory")


def live_inventory(
    registries: Mapping[str, str], page_size: int = 100
) -> list[tuple[str, str, str]]:
    """Sorted ``(registry name, repository, tag)`` of every tag the registries list."""
    images: set[tuple[str, str, str]] = set()
    for name, url in sorted(registries.items()):
        with RegistryClient(RegistryConfig(name=name, url=url), credentials=None) as client:
            for repository in client.catalog(page_size):
                try:
                    check_repository(repository)
                except InvalidName as exc:
                    _log.warning("registry %s: left out of the inventory: %s", name, exc)
                    continue
                for tag in client.tags(repository, page_size):
                    try:
                        check_tag(tag)
                    except InvalidName as exc:
                        _log.warning("registry %s: %s: left out: %s", name, repository, exc)
                        continue
                    images.add((name, repository, tag))
    return sorted(images)
