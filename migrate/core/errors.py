"""The exception tree shared by the adapter and the translator.

Every error raised on purpose by freightliner-policy derives from
:class:`FreightlinerError`. Each carries zero or more :class:`Diagnostic`
records, so one failure can report every problem found in an input (all errors
of a policy file, not just the first) and each problem renders as one line::

    prod.yaml:12: policy 'production-replication': conditions[0].value: invalid RE2 pattern

Tree::

    FreightlinerError
    ├── PolicyError            invalid policy input (YAML, schema, patterns)
    ├── BundleError            building or reading a bundle
    ├── EngineError            evaluating a decision (embedded engine or OPA)
    │   ├── EngineUnavailable      OPA unreachable, timed out, 5xx, circuit open
    │   └── UndefinedDecision      the decision document was undefined
    ├── RegistryError          talking to a container registry
    │   ├── AuthenticationError    bad or missing credentials
    │   ├── ImageNotFound          the named tag does not exist (input error, exit 3)
    │   └── DigestMismatch         content did not hash to the expected digest
    ├── ActionError            executing replicate / block / notify
    └── ConfigError            the config file or CLI options
        └── UnknownRegistry        a registry name that is not configured
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ActionError",
    "AuthenticationError",
    "BundleError",
    "ConfigError",
    "Diagnostic",
    "DigestMismatch",
    "EngineError",
    "EngineUnavailable",
    "FreightlinerError",
    "ImageNotFound",
    "PolicyError",
    "RegistryError",
    "UndefinedDecision",
    "UnknownRegistry",
]


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem, located as precisely as the input allows."""

    message: str
    file: str | None = None
    line: int | None = None
    policy_id: str | None = None
    field: str | None = None

    def render(self) -> str:
        """The one-line form: ``file:line: policy 'id': field: message``."""
        parts: list[str] = []
        if self.file is not None:
            parts.append(f"{self.file}:{self.line}" if self.line is not None else self.file)
        if self.policy_id is not None:
            shown = self.policy_id if len(self.policy_id) <= 80 else self.policy_id[:60] + "…"
            parts.append(f"policy {shown!r}")
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


class FreightlinerError(Exception):
    """Base class of every error freightliner-policy raises on purpose."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.diagnostics: list[Diagnostic] = list(diagnostics or [])

    def lines(self) -> list[str]:
        """One line per problem, for printing to stderr."""
        if not self.diagnostics:
            return [self.message]
        return [d.render() for d in self.diagnostics]


class PolicyError(FreightlinerError):
    """A policy source is malformed: YAML, schema, pattern or value errors."""


class BundleError(FreightlinerError):
    """A bundle could not be built, read or verified."""


class ConfigError(FreightlinerError):
    """The configuration file or command-line options are invalid."""


class UnknownRegistry(ConfigError):
    """A registry name (in a reference, a policy target or a config) that is not configured."""


class EngineError(FreightlinerError):
    """A decision could not be evaluated."""


class EngineUnavailable(EngineError):
    """The decision engine could not be reached in time (OPA down, timeout, 5xx, circuit open)."""


class UndefinedDecision(EngineError):
    """The engine answered, but the decision document was undefined.

    OPA answers HTTP 200 without a ``result`` key in that case; it is never
    read as "replicate".
    """


class RegistryError(FreightlinerError):
    """A container registry request failed."""


class AuthenticationError(RegistryError):
    """Credentials were missing or rejected by a registry or token service."""


class ImageNotFound(RegistryError):
    """The image the user named (``registry/repository:tag``) does not exist: the registry
    answered, so this is an input error (exit 3), not an unavailable registry."""


class DigestMismatch(RegistryError):
    """Content did not hash to the digest it was announced with."""


class ActionError(FreightlinerError):
    """An action (replicate, block, notify) could not be executed."""
