"""ImageMetadata: what the policies see of an image (the ``input.image`` of the contract)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from migrate.core.limits import MAX_EXACT_INTEGER

__all__ = ["ImageMetadata"]


class ImageMetadata(BaseModel):
    """One image, for one platform.

    ``registry`` is the configured registry *name* (``ecr``, ``gcr``,
    ``local``), not its URL. ``created_at`` is RFC 3339 text as the image
    config has it ("" when unknown). For a multi-platform image there is one
    ImageMetadata per platform; ``index_digest`` is then the digest of the
    index / manifest list and ``digest`` the platform manifest's.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    size: int = Field(default=0, ge=0, le=MAX_EXACT_INTEGER)  # both engines compare it exactly
    created_at: str = ""
    architecture: str = ""
    os: str = ""
    variant: str = ""
    media_type: str = ""
    index_digest: str = ""

    @property
    def reference(self) -> str:
        """``registry/repository:tag`` (or ``@digest`` when untagged)."""
        suffix = f":{self.tag}" if self.tag else f"@{self.digest}"
        return f"{self.registry}/{self.repository}{suffix}"

    def as_input(self) -> dict[str, Any]:
        """The JSON value placed at ``input.image``."""
        return self.model_dump(mode="json")
