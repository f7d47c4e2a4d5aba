"""Run time half of freightliner-policy: image metadata, decisions, actions.

The public surface (tested in tests/unit/test_public_names.py)::

    ImageMetadata, ReplicationDecision, DecisionAction   the contract's documents
    DecisionEngine                                      the engine interface
    EmbeddedEngine                                      regorus, in-process
    FreightlinerError and its tree                      migrate.core.errors
"""

from adapter.decision.interface import DecisionEngine
from migrate.contract.decision import DecisionAction, ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.core.errors import (
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
    UnknownRegistry,
)
from migrate.engine.embedded import EmbeddedEngine

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
    "UnknownRegistry",
]
