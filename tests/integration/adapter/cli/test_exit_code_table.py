"""Walk docs/cli.md's exit-code table and trigger every code with a real process (issue 17).

Each row of the table has a trigger here; a code added to the table without one fails
``test_every_row_has_a_trigger``."""

from __future__ import annotations

import json
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from migrate.core.exit_codes import ExitCode
from tests.fixtures.images import push_image
from tests.fixtures.registry import RunningRegistry

ROOT = Path(__file__).resolve().parents[4]
BIN = Path(sys.executable).parent
EXAMPLES = ROOT / "examples"


def table_codes() -> list[int]:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text.split("## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    return [int(m) for m in re.findall(r"^\| (\d+) \|", section, flags=re.M)]


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd), **(env or {})}
    command = [str(BIN / args[0]), *args[1:]]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=cwd, env=environ
    )


@pytest.fixture
def server_500() -> Iterator[str]:
    """A real HTTP server that answers every request 500 with the API's error shape."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"error": {"code": "internal", "message": "boom"}}).encode()
            self.send_response(500)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _images(tmp: Path) -> Path:
    image = json.loads((EXAMPLES / "images" / "prod-unscanned.json").read_text())
    path = tmp / "images.json"
    path.write_text(json.dumps([image]))
    return path


def _engine_error_bundle(tmp: Path) -> Path:
    """A consistent bundle whose regex regorus cannot compile (as in the hostile corpus)."""
    from migrate.bundle.builder import Bundle as BundleFiles
    from migrate.bundle.builder import BundleBuilder, _digests, _json_bytes, _revision
    from migrate.policy.loader import parse_policy_text

    text = "- id: p\n  conditions: [{type: tag, operator: matches, value: '^v[0-9]'}]\n"
    text += "  actions: [{type: block}]\n"
    built = BundleBuilder(generate_tests=False).build(parse_policy_text(text, "p.yaml"))
    data = built.data()
    policy = data["freightliner"]["policy_set"]["policies"]["p"]
    for leaf in [*policy["leaves"], *policy["alternatives"][0]]:
        leaf["arg"] = "^.{129,}$"
    files = {p: c for p, c in built.files.items() if p != ".manifest"}
    files["data.json"] = _json_bytes(data)
    manifest = json.loads(built.files[".manifest"])
    manifest["revision"] = _revision(files)
    manifest["metadata"]["files"] = _digests(files)
    files[".manifest"] = _json_bytes(manifest)
    BundleFiles(files, manifest["revision"]).write_tarball(tmp / "b.tar.gz")
    (tmp / "v1.json").write_text(json.dumps({"registry": "r", "repository": "a", "tag": "v1"}))
    return tmp / "b.tar.gz"


def _reading_stdin(pid: int) -> bool:
    """The process is blocked in read(0, ...) (Linux /proc/PID/syscall)."""
    number = {"x86_64": "0", "aarch64": "63"}.get(platform.machine())
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    return number is not None and fields[:2] == [number, "0x0"]


def trigger_130(tmp: Path) -> int:
    command = [str(BIN / "freightliner-policy"), "policy", "eval", str(EXAMPLES / "policies")]
    process = subprocess.Popen(
        [*command, "--image", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp,
    )
    try:
        deadline = time.monotonic() + 120
        while not _reading_stdin(process.pid):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "never waited on stdin"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert err == b"interrupted\n"
    return process.returncode


def trigger_7(tmp: Path, registry: RunningRegistry, repository: str) -> int:
    """A copy whose rendered target breaks the name grammar fails; the run goes on: 7."""
    push_image(registry, repository, "V1")
    (tmp / "p.yaml").write_text(
        "- id: upper\n  conditions: [{type: tag, operator: equals, value: V1}]\n"
        "  actions: [{type: replicate, target_registry: local, target_repo: 'm/{tag}'}]\n"
    )
    (tmp / "config.yaml").write_text(
        yaml.safe_dump({"registries": {"local": {"url": registry.url}}})
    )
    result = run(
        "freightliner-policy", "replicate", f"local/{repository}:V1",
        "--config", "config.yaml", "--policies", "p.yaml", cwd=tmp,
    )  # fmt: skip
    assert result.stdout.startswith(f"failed local/{repository}:V1: local/m/V1:V1: rendered target")
    return result.returncode


def triggers(
    tmp: Path, server: str, registry: RunningRegistry, repository: str
) -> dict[int, Callable[[], int]]:
    policies, images = str(EXAMPLES / "policies"), _images(tmp)
    blocked_ref = "docker-hub/team/app:prod-v1.0.1"

    def code(*args: str, env: dict[str, str] | None = None) -> Callable[[], int]:
        return lambda: run(*args, cwd=tmp, env=env).returncode

    return {
        0: code("freightliner-policy", "policy", "validate", policies),
        1: code(
            "freightliner-policy",
            "policy",
            "export",
            "--server",
            server,
            env={"FREIGHTLINER_API_TOKEN": "t"},
        ),
        2: code("freightliner-policy", "evaluate", "local/a:v1", "--opa-url", "localhost:8181"),
        3: code(
            "freightliner-policy", "policy", "validate", str(ROOT / "tests/fixtures/validation")
        ),
        4: code("freightliner-migrate", "report", str(EXAMPLES / "legacy" / "config.yaml")),
        5: code(
            "freightliner-policy",
            "evaluate",
            blocked_ref,
            "--image-file",
            str(images),
            "--policies",
            policies,
        ),
        6: code(
            "freightliner-policy",
            "evaluate",
            blocked_ref,
            "--image-file",
            str(images),
            "--opa-url",
            "http://127.0.0.1:9",
        ),
        7: lambda: trigger_7(tmp, registry, repository),
        8: code(
            "freightliner-policy",
            "policy",
            "eval",
            str(_engine_error_bundle(tmp)),
            "--image",
            str(tmp / "v1.json"),
        ),
        9: code("freightliner-policy", "policy", "validate", policies, "--max-candidates", "1"),
        130: lambda: trigger_130(tmp),
    }


def test_the_table_is_the_enum() -> None:
    assert table_codes() == [int(c) for c in ExitCode]


@pytest.mark.registry
def test_every_row_has_a_trigger_and_exits_with_its_code(
    tmp_path: Path, server_500: str, registry: RunningRegistry, unique_repo: str
) -> None:
    table = triggers(tmp_path, server_500, registry, unique_repo)
    assert sorted(table) == table_codes()
    got = {code: trigger() for code, trigger in table.items()}
    assert got == {code: code for code in table}
