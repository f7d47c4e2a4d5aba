"""Container registries: configuration, authentication and the distribution-API client.

Entry points: :class:`RegistriesConfig` (the ``registries:`` config section),
:class:`RegistryClient` (one registry) and :func:`open_clients` (all of them).
"""

from adapter.registry.client import RegistryClient, open_clients
from adapter.registry.config import Credentials, RegistriesConfig, RegistryConfig
from adapter.registry.interface import Manifest, ManifestInfo

__all__ = [
    "Credentials",
    "Manifest",
    "ManifestInfo",
    "RegistriesConfig",
    "RegistryClient",
    "RegistryConfig",
    "open_clients",
]
