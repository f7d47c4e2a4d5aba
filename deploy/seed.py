"""Push demo images to a registry (the compose demo's one-shot ``seed`` service).

Stdlib only. ``SEED_REGISTRY`` (default http://127.0.0.1:5000) is the registry;
pushes ``demo/app:v1``, ``demo/app:v2``, ``demo/app:dev`` and ``demo/tools:v1``:
one small random layer each, OCI manifests. Idempotent.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
import urllib.error
import urllib.request

IMAGES = [("demo/app", "v1"), ("demo/app", "v2"), ("demo/app", "dev"), ("demo/tools", "v1")]


def _request(
    method: str, url: str, data: bytes | None = None, content_type: str = ""
) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, data=data, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(base: str, repository: str, data: bytes) -> str:
    digest = _digest(data)
    if _request("HEAD", f"{base}/v2/{repository}/blobs/{digest}")[0] == 200:
        return digest
    status, headers = _request("POST", f"{base}/v2/{repository}/blobs/uploads/", b"")
    if status != 202:
        raise RuntimeError(f"upload start failed: HTTP {status}")
    location = headers["Location"]
    if location.startswith("/"):
        location = base + location
    separator = "&" if "?" in location else "?"
    status, _ = _request(
        "PUT", f"{location}{separator}digest={digest}", data, "application/octet-stream"
    )
    if status != 201:
        raise RuntimeError(f"upload of {digest} failed: HTTP {status}")
    return digest


def push_image(base: str, repository: str, tag: str, seed: int) -> str:
    layer = random.Random(seed).randbytes(4096)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2026-01-01T00:00:00Z",
            "config": {"Labels": {"org.example.demo": tag}},
            "rootfs": {"type": "layers", "diff_ids": [_digest(layer)]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": push_blob(base, repository, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": push_blob(base, repository, layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    status, _ = _request(
        "PUT",
        f"{base}/v2/{repository}/manifests/{tag}",
        manifest,
        "application/vnd.oci.image.manifest.v1+json",
    )
    if status != 201:
        raise RuntimeError(f"manifest {repository}:{tag} failed: HTTP {status}")
    return _digest(manifest)


def main() -> int:
    base = os.environ.get("SEED_REGISTRY", "http://127.0.0.1:5000").rstrip("/")
    deadline = time.monotonic() + 60
    while _request("GET", f"{base}/v2/")[0] != 200:
        if time.monotonic() > deadline:
            print(f"registry {base} not reachable", file=sys.stderr)
            return 1
        time.sleep(1)
    for seed, (repository, tag) in enumerate(IMAGES):
        print(f"{repository}:{tag} {push_image(base, repository, tag, seed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
