"""`policy build` of a large file with its early child (migrate/bundle/early_prewarm.py:
the tail parsed and its conditions checked in a child forked before the parse): every
refusal (schema, semantics, YAML) is what one process prints, with the same exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from migrate.bundle.early_prewarm import MIN_BYTES

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "benchmarks"))
from bench_decisions import make_policies

_MAIN = "from adapter.cli.main import main; main()"


def _cli(source: Path, out: Path, workers: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FREIGHTLINER_BUILD_WORKERS"}
    if workers is not None:
        env["FREIGHTLINER_BUILD_WORKERS"] = workers
    return subprocess.run(
        [sys.executable, "-c", _MAIN, "policy", "build", str(source), "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _large(tmp_path: Path) -> tuple[Path, str]:
    source = tmp_path / "org.yaml"
    text = yaml.safe_dump(make_policies(2_500, "realistic"), sort_keys=False)
    assert len(text) > MIN_BYTES
    return source, text


@pytest.mark.parametrize(
    "change",
    [
        # a bad regex before the cut and one after it (semantic problems, both reported)
        ("first", "value: v1.(\\d", "last", "value: a[/*"),
        # a duplicate key in the tail: the child's part is unusual, one parse reports it
        ("last", "priority: 3\n  priority: 4", None, None),
        # a YAML syntax error in the tail
        ("last", 'name: "unterminated', None, None),
    ],
)
def test_refusals_are_what_one_process_prints(
    tmp_path: Path, change: tuple[str, str, str | None, str | None]
) -> None:
    source, text = _large(tmp_path)
    lines = text.split("\n")
    items = [n for n, line in enumerate(lines) if line.startswith("- id: ")]
    where = {"first": items[3], "last": items[-5]}
    for place, insert in ((change[0], change[1]), (change[2], change[3])):
        if place is not None and insert is not None:
            lines.insert(where[place] + 1, "  " + insert)
            where = {k: v + (1 if v > where[place] else 0) for k, v in where.items()}
    source.write_text("\n".join(lines))
    early = _cli(source, tmp_path / "a.tar.gz", None)
    alone = _cli(source, tmp_path / "b.tar.gz", "1")
    assert early.returncode == alone.returncode == 3
    assert early.stderr == alone.stderr
    assert early.stderr.count("error") >= 1
    assert not (tmp_path / "a.tar.gz").exists() and not (tmp_path / "b.tar.gz").exists()
