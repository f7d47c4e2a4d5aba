"""What the CLI and the service call to evaluate and replicate images.

An image flows: ``ImageReference`` (parsed from ``registry/repository:tag``,
``registry/repository`` or ``registry``) → ImageMetadata (one per platform,
from the registry) → ReplicationDecision (the DecisionEngine) → actions
(replicate / block / notify) → ``ImageOutcome``; a run over many images adds up
to a ``RunSummary``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from adapter.registry.reference import (
    DOCKER_SCHEME,
    InvalidName,
    is_digest,
    parse_docker_reference,
    parse_reference,
    shown,
)
from migrate.contract.decision import ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.core.exit_codes import ExitCode

__all__ = [
    "DOCKER_REGISTRY",
    "CopyRecord",
    "ImageOutcome",
    "ImageReference",
    "OutcomeStatus",
    "ProgressCallback",
    "RunSummary",
    "TotalCallback",
]

#: ``input.image.registry`` of an image read from the local Docker engine (``docker://``);
#: a configured registry may not have this name while a docker:// reference is used.
DOCKER_REGISTRY = "docker"

OutcomeStatus = Literal["replicated", "skipped", "blocked", "not_replicated", "failed", "planned"]


@dataclass(frozen=True)
class ImageReference:
    """``registry[/repository[:tag]]`` (registry a configured registry name), or
    ``docker://repository[:tag]``: one image of the local Docker engine (``engine``
    true, ``registry`` :data:`DOCKER_REGISTRY`, tag ``latest`` when absent)."""

    registry: str
    repository: str | None = None
    tag: str | None = None
    engine: bool = False

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        """Parse and check every part against the name grammar
        (:func:`adapter.registry.reference.parse_reference`); ``ValueError`` (an
        :class:`~adapter.registry.reference.InvalidName`) with the reason otherwise."""
        if isinstance(text, str) and text.lower().startswith(DOCKER_SCHEME):
            name, latest = parse_docker_reference(text)
            return cls(DOCKER_REGISTRY, name, latest, engine=True)
        registry, repository, tag = parse_reference(text)
        if tag is not None and is_digest(tag):
            raise InvalidName(
                f"invalid image reference {shown(text)}: name a tag (registry/repository:tag); "
                "digest references are not supported here"
            )
        return cls(registry, repository, tag)

    def __str__(self) -> str:
        if self.engine:
            return f"{DOCKER_SCHEME}{self.repository}:{self.tag}"
        text = self.registry
        if self.repository:
            text += f"/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        return text


@dataclass(frozen=True)
class CopyRecord:
    """One replicate action of an outcome: where to, what happened, what the target holds.

    ``source_digest`` is the decided digest (the source index for ``platforms:
    allowed``), ``target_digest`` what the target tag holds now (copied, found,
    or the new index of the allowed platforms). The platform lists are set only
    for ``platforms: allowed``, the referrer lists only for ``with_referrers``.
    """

    target: str  # registry/repo:tag
    registry: str  # the target registry's configured name
    status: str  # replicated | skipped | failed | planned
    target_digest: str = ""
    source_digest: str = ""
    bytes_copied: int = 0
    seconds: float = 0.0
    platforms_copied: tuple[str, ...] | None = None
    platforms_left_out: tuple[str, ...] | None = None
    referrers_copied: tuple[str, ...] | None = None
    referrers_present: tuple[str, ...] | None = None
    referrers_blocked: tuple[str, ...] | None = None

    def view(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "target": self.target,
            "registry": self.registry,
            "status": self.status,
            "source_digest": self.source_digest,
            "target_digest": self.target_digest,
            "bytes_copied": self.bytes_copied,
            "seconds": round(self.seconds, 3),
        }
        for name in _OPTIONAL_COPY_FIELDS:
            value = getattr(self, name)
            if value is not None:
                view[name] = list(value)
        return view


_OPTIONAL_COPY_FIELDS = (
    "platforms_copied",
    "platforms_left_out",
    "referrers_copied",
    "referrers_present",
    "referrers_blocked",
)


@dataclass
class ImageOutcome:
    """What happened to one image (one tag; all its platforms together)."""

    image: ImageMetadata
    decision: ReplicationDecision | None
    status: OutcomeStatus
    targets: list[str] = field(default_factory=list)  # "registry/repo:tag" replicated / planned
    bytes_copied: int = 0
    error: str = ""
    notifications_failed: int = 0
    detail: str = ""  # why: the decision's reason, a sweep limit, a platform conflict
    platforms: int = 1
    #: failed only because a registry was given up earlier in the run (no request was made)
    not_attempted: bool = False
    warnings: list[str] = field(default_factory=list)  # e.g. a source tag that moved
    copies: list[CopyRecord] = field(default_factory=list)  # one per replicate action

    @property
    def decided_digest(self) -> str:
        """The digest the decision was made for (the index digest of a multi-platform
        image): what a replicate action copies."""
        return self.image.index_digest or self.image.digest

    def view(self) -> dict[str, Any]:
        """The JSON fields every report of an outcome has (CLI ``--output json`` and the API).

        The one serializer: each caller adds only how it names the image and
        the decision (``reference``/``decision`` on the CLI, ``decision_id``/
        ``image``/``outcome`` in the API).
        """
        return {
            "status": self.status,
            "targets": self.targets,
            "bytes_copied": self.bytes_copied,
            "error": self.error,
            "detail": self.detail,
            "platforms": self.platforms,
            "notifications_failed": self.notifications_failed,
            "warnings": self.warnings,
            "decided_digest": self.decided_digest,
            "copies": [c.view() for c in self.copies],
        }

    @property
    def engine_failed(self) -> bool:
        """The decision is a fail-closed block because no engine could decide."""
        metadata = self.decision.metadata if self.decision is not None else {}
        return metadata.get("fallback") == "fail-closed" and "engine_error" in metadata


@dataclass
class RunSummary:
    """Counts over a run; ``exit_code`` follows docs/cli.md."""

    outcomes: list[ImageOutcome] = field(default_factory=list)
    #: registries this run gave up after a clear error: name -> one line (name, URL, cause)
    registries_down: dict[str, str] = field(default_factory=dict)
    #: the run was stopped (SIGINT/SIGTERM): images not started are ``failed`` / not_attempted
    interrupted: bool = False

    def count(self, status: OutcomeStatus) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def notifications_failed(self) -> int:
        return sum(o.notifications_failed for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """130 when interrupted, else 6 when the engine failed (fail-closed) or a registry was
        given up, else 7 when any image or notification failed, 5 when any was blocked,
        else 0 (the most severe wins)."""
        if self.interrupted:
            return int(ExitCode.INTERRUPTED)
        if self.registries_down or any(o.engine_failed for o in self.outcomes):
            return int(ExitCode.UNAVAILABLE)
        if self.count("failed") or self.notifications_failed:
            return int(ExitCode.PARTIAL)
        if self.count("blocked"):
            return int(ExitCode.BLOCKED)
        return int(ExitCode.OK)


ProgressCallback = Callable[[ImageOutcome], None]
TotalCallback = Callable[[int], None]
