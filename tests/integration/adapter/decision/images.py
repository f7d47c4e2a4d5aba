"""Images for decision tests, and what the example policies (examples/policies/seed.yaml) decide for them."""

from __future__ import annotations

from migrate.contract.image import ImageMetadata

NOW = "2026-11-23T12:00:00Z"
SCANNED = {"environment": "production", "security.scan.status": "passed"}


def image(
    tag: str, labels: dict[str, str] | None = None, repository: str = "team/app", **fields: object
) -> ImageMetadata:
    return ImageMetadata.model_validate(
        {
            "registry": "local",
            "repository": repository,
            "tag": tag,
            "labels": labels or {},
            "digest": "sha256:" + "ab" * 32,
            "size": 1234,
            "created_at": "2026-01-02T03:04:05Z",
            "architecture": "amd64",
            "os": "linux",
            "media_type": "application/vnd.oci.image.manifest.v1+json",
            **fields,
        }
    )


PROD_SCANNED = image("prod-v1.0.0", SCANNED)
PROD_UNSCANNED = image("prod-v1.0.1", {"environment": "production"})
DEV_SCANNED = image("dev-42", {"environment": "dev", "security.scan.status": "passed"})
PROD_STAGING_LABEL = image("prod-v2", {"environment": "staging", "security.scan.status": "ok"})

#: A set of images covering every outcome of the example policies.
ALL = [
    PROD_SCANNED,
    PROD_UNSCANNED,
    DEV_SCANNED,
    PROD_STAGING_LABEL,
    image("latest", {}),
    image("prod-", SCANNED, repository="a/b/c"),
    image("PROD-x", SCANNED),
    image("prod-ü", SCANNED, repository="x"),
]
