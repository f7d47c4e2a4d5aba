"""ImageMetadata from a JSON file: a list of ImageMetadata objects, or ``{"images": [...]}``.

Useful for dry runs, tests and air-gapped evaluation. The file is read once,
at construction; unknown fields are rejected (the model forbids them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from migrate.contract.image import ImageMetadata
from migrate.core.errors import ConfigError, Diagnostic, ImageNotFound

__all__ = ["FileMetadataSource", "load_metadata_file"]


def load_metadata_file(path: str | Path) -> list[ImageMetadata]:
    """Parse the file; :class:`ConfigError` listing every invalid entry."""
    source = str(path)
    try:
        document: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{source}: cannot read image metadata: {exc}") from exc
    entries = document.get("images") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise ConfigError(f'{source}: expected a list of images or {{"images": [...]}}')
    images: list[ImageMetadata] = []
    problems: list[Diagnostic] = []
    for i, entry in enumerate(entries):
        try:
            images.append(ImageMetadata.model_validate(entry))
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                problems.append(Diagnostic(err["msg"], file=source, field=f"images[{i}].{loc}"))
    if problems:
        raise ConfigError(f"{source}: {len(problems)} invalid image metadata field(s)", problems)
    return images


class FileMetadataSource:
    """A :class:`MetadataSource` answering from a metadata file.

    ``get_metadata`` returns the entries with that registry, repository and
    tag, in file order; none is an :class:`ImageNotFound` (as for a missing tag: exit 3).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.images = load_metadata_file(path)

    def get_metadata(self, registry: str, repository: str, tag: str) -> list[ImageMetadata]:
        found = [
            m
            for m in self.images
            if (m.registry, m.repository, m.tag) == (registry, repository, tag)
        ]
        if not found:
            raise ImageNotFound(f"{self.path}: no image {registry}/{repository}:{tag}")
        return found
