"""``evaluate REF --image-file FILE``: the file metadata source wired into a command."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from adapter.cli.main import cli

REPO = Path(__file__).resolve().parents[4]
POLICIES = REPO / "examples" / "policies"


def _images(tmp_path: Path) -> Path:
    unscanned = json.loads((REPO / "examples" / "images" / "prod-unscanned.json").read_text())
    path = tmp_path / "images.json"
    path.write_text(json.dumps({"images": [unscanned]}))
    return path


def _evaluate(tmp_path: Path, reference: str, *options: str) -> Result:
    images = str(_images(tmp_path))
    return CliRunner().invoke(
        cli, ["evaluate", reference, "--image-file", images, "--policies", str(POLICIES), *options]
    )


def test_decides_the_image_from_the_file_without_a_registry(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, "docker-hub/team/app:prod-v1.0.1", "--output", "json")
    assert result.exit_code == 5, result.output  # blocked
    document = json.loads(result.stdout)
    [image] = document["images"]
    assert image["reference"] == "docker-hub/team/app:prod-v1.0.1"
    assert image["decision"]["reason"] == "Missing security scan"
    assert image["decision"]["metadata"]["outcome"] == "block"


def test_a_tag_missing_from_the_file_is_one_error_line(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, "docker-hub/team/app:nope")
    assert (result.exit_code, result.stderr) == (  # an input error (issue 17), not "unavailable"
        3,
        f"error: {tmp_path / 'images.json'}: no image docker-hub/team/app:nope\n",
    )


def test_image_file_needs_a_tag(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, "docker-hub/team/app")
    assert (result.exit_code, result.stderr) == (
        3,
        "error: --image-file needs REF as registry/repository:tag, got 'docker-hub/team/app'\n",
    )
