"""The demo registries of examples/config.yaml: start, seed, status, stop.

``scripts/demo-registries.sh start|stop|status`` runs this with the project's Python.

* ``start``: one Debian ``docker-registry`` per registry of ``examples/config.yaml`` whose
  URL is ``http://127.0.0.1:PORT`` (``local`` :5000, ``ecr`` :5001, ``gcr`` :5002), each
  with its storage, config, log and pid file under ``.demo/`` (or ``$FREIGHTLINER_DEMO_DIR``);
  then pushes every ``examples/images/*.json`` into ``local`` (repository, tag, labels,
  created, os/architecture from the file; one small layer). Idempotent: running registries
  are kept, pushes of the same content change nothing.
* ``status``: one line per registry; exit 0 when all run, 3 otherwise.
* ``stop``: stops the registries this directory started (pid file + command line checked)
  and removes the state directory. Idempotent.

Loopback only; never touches a process it did not start.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "config.yaml"
IMAGES = ROOT / "examples" / "images"
SOURCE = "local"  # the registry the example images are pushed to
REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
READY_SECONDS = 20.0


class DemoError(Exception):
    pass


@dataclass(frozen=True)
class Registry:
    name: str
    port: int
    state: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def root(self) -> Path:
        return self.state / self.name

    @property
    def pid_file(self) -> Path:
        return self.state / f"{self.name}.pid"

    @property
    def config_file(self) -> Path:
        return self.root / "config.yml"


def state_dir() -> Path:
    return Path(os.environ.get("FREIGHTLINER_DEMO_DIR") or ROOT / ".demo").absolute()


def registries() -> list[Registry]:
    document = yaml.safe_load(CONFIG.read_text())
    found = []
    for name, entry in (document.get("registries") or {}).items():
        url = str(entry.get("url", "")) if isinstance(entry, dict) else ""
        prefix = "http://127.0.0.1:"
        if not url.startswith(prefix) or not url[len(prefix) :].isdigit():
            raise DemoError(
                f"{CONFIG}: registry {name!r}: url {url!r} is not http://127.0.0.1:PORT"
            )
        found.append(Registry(name, int(url[len(prefix) :]), state_dir()))
    return found


# -- processes -------------------------------------------------------------------


def _pid(registry: Registry) -> int | None:
    """The pid of the docker-registry this state directory started, if it still runs."""
    try:
        pid = int(registry.pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if str(registry.config_file).encode() in cmdline and any(
        part.endswith(b"docker-registry") for part in cmdline
    ):
        return pid
    return None


def _answers(registry: Registry) -> bool:
    try:
        with urllib.request.urlopen(f"{registry.url}/v2/", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _start(registry: Registry) -> str:
    if _pid(registry) is not None and _answers(registry):
        return "already running"
    if _answers(registry):
        raise DemoError(
            f"{registry.name}: port {registry.port} already answers /v2/ but was not started "
            f"from {registry.state}; stop that registry or change {CONFIG.name}"
        )
    if not Path(REGISTRY_BIN).is_file():
        raise DemoError(
            "docker-registry is not installed (Debian: apt-get install docker-registry)"
        )
    (registry.root / "storage").mkdir(parents=True, exist_ok=True)
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {
            "filesystem": {"rootdirectory": str(registry.root / "storage")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{registry.port}"},
    }
    registry.config_file.write_text(yaml.safe_dump(config))
    with (registry.state / f"{registry.name}.log").open("ab") as log:
        process = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(registry.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command
        )
    registry.pid_file.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + READY_SECONDS
    while not _answers(registry):
        if process.poll() is not None or time.monotonic() > deadline:
            log_text = (registry.state / f"{registry.name}.log").read_text(errors="replace")
            _stop(registry)
            raise DemoError(
                f"{registry.name}: docker-registry did not start on {registry.url}:\n{log_text}"
            )
        time.sleep(0.1)
    return f"started (pid {process.pid})"


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it is not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _stop(registry: Registry) -> str:
    pid = _pid(registry)
    registry.pid_file.unlink(missing_ok=True)
    if pid is None:
        return "not running"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaps it when this process started it
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    return f"stopped (pid {pid})"


# -- seeding ---------------------------------------------------------------------


def _request(
    method: str, url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push_blob(base: str, repository: str, data: bytes) -> str:
    digest = _digest(data)
    if _request("HEAD", f"{base}/v2/{repository}/blobs/{digest}")[0] == 200:
        return digest
    status, headers = _request("POST", f"{base}/v2/{repository}/blobs/uploads/", b"")
    if status != 202:
        raise DemoError(f"{base}: upload to {repository} refused: HTTP {status}")
    location = headers["Location"]
    location = base + location if location.startswith("/") else location
    separator = "&" if "?" in location else "?"
    status, _ = _request(
        "PUT",
        f"{location}{separator}digest={digest}",
        data,
        {"Content-Type": "application/octet-stream"},
    )
    if status != 201:
        raise DemoError(f"{base}: upload of {digest} to {repository} failed: HTTP {status}")
    return digest


def _layer(name: str) -> bytes:
    """A gzip'd tar with one small file, the same bytes for the same example."""
    content = f"freightliner-policy demo image {name}\n".encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"demo/{name}.txt")
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


def seed(registry: Registry) -> list[str]:
    """Push each examples/images/*.json as an image; returns ``repo:tag@digest`` lines."""
    pushed = []
    for path in sorted(IMAGES.glob("*.json")):
        meta: dict[str, Any] = json.loads(path.read_text())
        repository, tag = str(meta["repository"]), str(meta["tag"])
        layer = _layer(path.stem)
        diff_id = _digest(gzip.decompress(layer))
        config = json.dumps(
            {
                "architecture": meta.get("architecture", "amd64"),
                "os": meta.get("os", "linux"),
                "created": meta.get("created_at", "2026-01-01T00:00:00Z"),
                "config": {"Labels": meta.get("labels", {})},
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            },
            sort_keys=True,
        ).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": OCI_CONFIG,
                    "digest": _push_blob(registry.url, repository, config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": OCI_LAYER,
                        "digest": _push_blob(registry.url, repository, layer),
                        "size": len(layer),
                    }
                ],
            },
            sort_keys=True,
        ).encode()
        status, _ = _request(
            "PUT",
            f"{registry.url}/v2/{repository}/manifests/{tag}",
            manifest,
            {"Content-Type": OCI_MANIFEST},
        )
        if status != 201:
            raise DemoError(f"{registry.url}: manifest {repository}:{tag}: HTTP {status}")
        pushed.append(f"{repository}:{tag}@{_digest(manifest)}")
    return pushed


# -- commands --------------------------------------------------------------------


def start() -> int:
    found = registries()
    state_dir().mkdir(parents=True, exist_ok=True)
    for registry in found:
        print(f"{registry.name:6} {registry.url}  {_start(registry)}")
    [source] = [r for r in found if r.name == SOURCE]
    for line in seed(source):
        print(f"seeded {source.name}/{line}")
    return 0


def status() -> int:
    running = 0
    for registry in registries():
        pid = _pid(registry)
        up = pid is not None and _answers(registry)
        running += up
        print(f"{registry.name:6} {registry.url}  {f'running (pid {pid})' if up else 'stopped'}")
    return 0 if running == len(registries()) else 3


def stop() -> int:
    for registry in registries():
        print(f"{registry.name:6} {registry.url}  {_stop(registry)}")
    if state_dir().is_dir():
        shutil.rmtree(state_dir())
    return 0


def main(argv: list[str]) -> int:
    commands = {"start": start, "status": status, "stop": stop}
    if len(argv) != 1 or argv[0] not in commands:
        print("usage: scripts/demo-registries.sh start|status|stop", file=sys.stderr)
        return 2
    try:
        return commands[argv[0]]()
    except DemoError as exc:
        print(f"demo-registries: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
