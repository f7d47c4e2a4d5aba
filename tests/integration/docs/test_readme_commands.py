"""Every shell command of README.md and docs/*.md runs, in order, as written, and exits as stated.

The commands run in one ``bash`` session (so ``export`` carries over) in a copy of the
repository: the files a fresh clone has (``git ls-files``: tracked and new, not ignored).
Two things differ from a fresh clone, both for the shared test machine:

* ``.venv`` is a symlink to this checkout's virtualenv. ``scripts/setup.sh`` (run by the
  Quick start's ``scripts/demo.sh``) installs only when ``.venv/.installed-<hash of
  pyproject.toml>`` is missing; the copy has the same pyproject.toml, so the stamp is there
  and nothing is reinstalled (asserted before and after).
* ``examples/config.yaml`` in the copy points its registries at free loopback ports instead
  of 5000-5002 (others may use those) and gets ``serve.listen`` on a free port; the demo
  registries script reads the ports from that file, so the commands stay as written.

README conventions (documented in README.md's source, an HTML comment at its end):
``<!-- not-run: REASON -->`` before a block skips it; ``# exit N`` in a command's trailing
comment is its expected exit code (else 0); ``# runs until stopped`` starts it in the
background, waits for its /health, sends SIGTERM and expects exit 0; comment lines
``#   TEXT`` right after a command must appear in its output.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.fixtures.registry import ensure_registry_installed, free_port

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
_NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(\S.*?)\s*-->$")
_EXIT = re.compile(r"\bexit (\d+)\b")


@dataclass
class Command:
    text: str
    line: int
    expected_exit: int = 0
    background: bool = False
    expected_output: list[str] = field(default_factory=list)


@dataclass
class Block:
    line: int
    commands: list[Command]
    not_run: str = ""


def _split_comment(line: str) -> tuple[str, str]:
    """``command  # comment`` -> (command, comment); a ``#`` inside quotes is not one."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1 :].strip()
    return line.rstrip(), ""


def readme_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    i, previous, in_comment = 0, "", False
    while i < len(lines):
        line = lines[i]
        if in_comment:
            in_comment = "-->" not in line
        elif line.startswith("<!--") and "-->" not in line:
            in_comment = True
        elif re.match(r"^```(sh|bash)\s*$", line):
            marker = _NOT_RUN.match(previous)
            block = Block(i + 1, [], marker.group(1) if marker else "")
            i += 1
            pending = ""
            while not lines[i].startswith("```"):
                raw = lines[i]
                if raw.startswith("#"):
                    expected = raw[1:].strip()
                    if block.commands and raw.startswith("#   ") and expected != "...":
                        block.commands[-1].expected_output.append(expected)
                elif raw.strip():
                    command, comment = _split_comment(pending + (raw.lstrip() if pending else raw))
                    if command.endswith("\\"):
                        pending = command[:-1].rstrip() + " "
                    else:
                        pending = ""
                        exit_code = _EXIT.search(comment)
                        block.commands.append(
                            Command(
                                command,
                                i + 1,
                                int(exit_code.group(1)) if exit_code else 0,
                                "runs until stopped" in comment,
                            )
                        )
                i += 1
            blocks.append(block)
        if line.strip():
            previous = line.strip()
        i += 1
    return blocks


def test_readme_parser() -> None:
    text = "\n".join(
        [
            "```sh",
            "a --x 'y # z'   # exit 5: blocked",
            "#   outcome: block",
            "#   ...",
            "b \\",
            "  --c  # runs until stopped",
            "```",
            "<!-- not-run: too slow -->",
            "```bash",
            "c",
            "```",
            "<!--",
            "```sh",
            "hidden",
            "```",
            "-->",
            "```",
            "not shell",
            "```",
        ]
    )
    blocks = readme_blocks(text)
    assert [(b.line, b.not_run, [c.text for c in b.commands]) for b in blocks] == [
        (1, "", ["a --x 'y # z'", "b --c"]),
        (9, "too slow", ["c"]),
    ]
    first = blocks[0].commands
    assert (first[0].expected_exit, first[0].expected_output, first[0].background) == (
        5,
        ["outcome: block"],
        False,
    )
    assert (first[1].expected_exit, first[1].background) == (0, True)


def _copy_repository(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        source = ROOT / rel
        if not source.is_file():  # deleted in the working tree
            continue
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / rel)


def _venv_stamp() -> Path:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    return ROOT / ".venv" / f".installed-{digest}"


def _script(
    commands: list[Command],
    copy: Path,
    logs: Path,
    health_url: str,
    prologue: tuple[str, ...] = (),
) -> str:
    """One bash session: each command's output to ``logs/N.log``, its exit code to
    ``logs/N.rc``; background ones are probed, stopped and their SIGTERM exit recorded."""
    lines = ["set +e", f"cd {shlex.quote(str(copy))}", *prologue]
    for n, command in enumerate(commands):
        log, rc = shlex.quote(str(logs / f"{n}.log")), shlex.quote(str(logs / f"{n}.rc"))
        if command.background:
            probe = (
                "import sys, time, urllib.request\n"
                "for _ in range(300):\n"
                "    try:\n"
                f"        urllib.request.urlopen({health_url!r}, timeout=1); sys.exit(0)\n"
                "    except Exception:\n"
                "        time.sleep(0.1)\n"
                "sys.exit(1)\n"
            )
            lines += [
                f"{command.text} > {log} 2>&1 &",
                "__pid=$!",
                f"python3 -c {shlex.quote(probe)}; __up=$?",
                'kill -TERM "$__pid"; wait "$__pid"; __rc=$?',
                f'[ "$__up" = 0 ] || __rc=up-$__up; echo "$__rc" > {rc}',
            ]
        else:
            lines += [f"{command.text} > {log} 2>&1", f"echo $? > {rc}"]
    return "\n".join(lines) + "\n"


def _prepare_copy(tmp_path: Path) -> tuple[Path, Path, str]:
    """The copy (see the module docstring), its logs directory and serve's listen address."""
    copy, logs = tmp_path / "clone", tmp_path / "logs"
    logs.mkdir()
    _copy_repository(copy)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    config_path = copy / "examples" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    text = config_path.read_text()
    for entry in config["registries"].values():
        text = text.replace(entry["url"], f"http://127.0.0.1:{free_port()}")
    listen = f"127.0.0.1:{free_port()}"
    text += f"\nserve:\n  listen: {listen}\n"
    config_path.write_text(text)
    return copy, logs, listen


def _run_commands(
    commands: list[Command],
    copy: Path,
    logs: Path,
    listen: str,
    source: str,
    prologue: tuple[str, ...] = (),
) -> float:
    """Run them in one session; fail naming each command that did not exit as stated or
    whose output lacks a stated line. Returns the seconds taken."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FREIGHTLINER_", "PYTEST_"))
    }
    started = time.monotonic()
    try:
        run = subprocess.run(
            ["bash", "-c", _script(commands, copy, logs, f"http://{listen}/health", prologue)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        subprocess.run(
            ["bash", "scripts/demo-registries.sh", "stop"],
            cwd=copy,
            capture_output=True,
            timeout=60,
        )
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr

    results = []
    for n, command in enumerate(commands):
        rc_file = logs / f"{n}.rc"
        got = rc_file.read_text().strip() if rc_file.exists() else "not run"
        results.append((command.line, command.text, got))
    expected = [(c.line, c.text, str(c.expected_exit)) for c in commands]
    if results != expected:
        details = "\n".join(
            f"{source}:{line}: {text!r} exited {got}:\n"
            + (logs / f"{n}.log").read_text(errors="replace")[-3000:]
            for n, ((line, text, got), want) in enumerate(zip(results, expected, strict=True))
            if (line, text, got) != want
        )
        pytest.fail(f"{source} commands that did not exit as stated:\n{details}")
    for n, command in enumerate(commands):
        output = (logs / f"{n}.log").read_text(errors="replace")
        for line in command.expected_output:
            assert line in output, f"{source}:{command.line}: {line!r} not in:\n{output}"
    return elapsed


def test_every_readme_command_runs_as_written(tmp_path: Path) -> None:
    ensure_registry_installed()
    stamp = _venv_stamp()
    assert stamp.is_file(), f"run `. scripts/setup.sh` first: {stamp} is missing"
    entry_point = ROOT / ".venv" / "bin" / "freightliner-policy"
    before = (stamp.stat().st_mtime_ns, entry_point.stat().st_mtime_ns)
    blocks = readme_blocks(README.read_text())
    skipped = [b for b in blocks if b.not_run]
    assert [b.not_run for b in skipped] == [
        "the whole test suite (20+ minutes); the README test runs inside it"
    ]
    commands = [c for b in blocks if not b.not_run for c in b.commands]
    assert commands[0].text.startswith("bash scripts/demo.sh")
    assert commands[-1].text == "bash scripts/demo-registries.sh stop"

    copy, logs, listen = _prepare_copy(tmp_path)
    elapsed = _run_commands(commands, copy, logs, listen, "README.md")
    # what the commands left behind
    assert (copy / "bundle.tar.gz").is_file() and (copy / "migrated" / "bundle.tar.gz").is_file()
    assert not (copy / ".demo").exists()  # stopped and cleaned
    # setup.sh found the stamp: no pip install (it would rewrite the entry point)
    assert (stamp.stat().st_mtime_ns, entry_point.stat().st_mtime_ns) == before
    assert elapsed < 240, f"README commands took {elapsed:.0f} s"


DOCS_WITH_COMMANDS = sorted(
    p.relative_to(ROOT).as_posix()
    for p in (ROOT / "docs").glob("*.md")
    if any(not b.not_run and b.commands for b in readme_blocks(p.read_text()))
)


def test_docs_with_commands_are_known() -> None:
    assert DOCS_WITH_COMMANDS == ["docs/migration.md"]


@pytest.mark.parametrize("document", DOCS_WITH_COMMANDS)
def test_docs_commands_run_as_written(document: str, tmp_path: Path) -> None:
    """Each page's blocks in one session from the repository root, after the Quick start
    (PATH has .venv/bin, the demo registries run)."""
    ensure_registry_installed()
    blocks = readme_blocks((ROOT / document).read_text())
    commands = [c for b in blocks if not b.not_run for c in b.commands]
    copy, logs, listen = _prepare_copy(tmp_path)
    prologue = (
        'export PATH="$PWD/.venv/bin:$PATH"',
        "bash scripts/demo-registries.sh start > /dev/null || exit 1",
    )
    _run_commands(commands, copy, logs, listen, document, prologue)
