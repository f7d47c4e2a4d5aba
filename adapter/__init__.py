"""Run time half of freightliner-policy: image metadata, decisions, actions.

The public surface (tested in tests/adapter/test_public_api.py)::

    ImageMetadata, ReplicationDecision, DecisionAction   the contract's documents
    DecisionEngine                                      the engine interface
    EmbeddedEngine                                      regorus, in-process
    FreightlinerError and its tree                      adapter.errors
"""

from adapter.decision.embedded import EmbeddedEngine
from adapter.decision.interface import DecisionEngine
from adapter.decision.model import DecisionAction, ReplicationDecision
from adapter.errors import (
    ActionError,
    AuthenticationError,
    BundleError,
    ConfigError,
    Diagnostic,
    DigestMismatch,
    EngineError,
    EngineUnavailable,
    FreightlinerError,
    PolicyError,
    RegistryError,
    UndefinedDecision,
)
from adapter.metadata.model import ImageMetadata

__all__ = [
    "ActionError",
    "AuthenticationError",
    "BundleError",
    "ConfigError",
    "DecisionAction",
    "DecisionEngine",
    "Diagnostic",
    "DigestMismatch",
    "EmbeddedEngine",
    "EngineError",
    "EngineUnavailable",
    "FreightlinerError",
    "ImageMetadata",
    "PolicyError",
    "RegistryError",
    "ReplicationDecision",
    "UndefinedDecision",
]
