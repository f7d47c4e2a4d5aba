#!/usr/bin/env python3
"""Regenerate the command reference of docs/cli.md from the commands' own ``--help``.

docs/cli.md is a hand-written part (exit codes, JSON errors, environment,
completion, notes per command) followed by the marker line below; everything
after the marker is generated here from click's help of every command of both
entry points (``freightliner-policy`` and ``freightliner-migrate``), at a fixed
width of 100 columns so the output does not depend on the terminal.

    python scripts/gen_cli_docs.py          # rewrite docs/cli.md
    python scripts/gen_cli_docs.py --check  # exit 1 if docs/cli.md is stale

tests/unit/adapter/cli/test_cli_docs.py fails when the committed file drifts.
Rerun after adding or changing a command or an option.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import click  # noqa: E402

MARKER = "<!-- generated below by scripts/gen_cli_docs.py from --help: do not edit -->"
WIDTH = 100
DOC = ROOT / "docs" / "cli.md"


def _walk(
    command: click.Command, name: str, parent: click.Context | None
) -> Iterator[tuple[str, str]]:
    """(command path, help text) of ``command`` and, for a group, of every subcommand."""
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    ctx = click.Context(command, info_name=name, parent=parent, **settings)
    yield ctx.command_path, command.get_help(ctx)
    if isinstance(command, click.Group):
        for sub in command.list_commands(ctx):
            child = command.get_command(ctx, sub)
            if child is None or child.hidden:
                continue
            if ctx.command_path == "freightliner-policy" and sub == "migrate":
                continue  # the same group as freightliner-migrate, documented once below
            yield from _walk(child, sub, ctx)


def generated() -> str:
    """The generated part (after the marker)."""
    os.environ.pop("FREIGHTLINER_LOG_FORMAT", None)  # help shows declared defaults only
    from adapter.cli.main import cli
    from migrate.cli import cli as migrate_cli

    lines = [
        "## Reference (generated from --help)",
        "",
        "`freightliner-policy migrate ...` is the same group as `freightliner-migrate ...`.",
        "",
    ]
    for root, name in ((cli, "freightliner-policy"), (migrate_cli, "freightliner-migrate")):
        for path, text in _walk(root, name, None):
            lines += [f"### `{path}`", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(lines)


def render(current: str) -> str:
    """``current`` (docs/cli.md) with everything after the marker regenerated."""
    head, found, _ = current.partition(MARKER)
    if not found:
        raise SystemExit(f"{DOC}: no marker line {MARKER!r}")
    return head + MARKER + "\n\n" + generated()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/cli.md is stale")
    args = parser.parse_args()
    current = DOC.read_text(encoding="utf-8")
    wanted = render(current)
    if args.check:
        if wanted != current:
            print(f"{DOC} is stale: run python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        fd, tmp = tempfile.mkstemp(prefix=".cli.md.", dir=DOC.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(wanted)
        os.chmod(tmp, 0o644)
        os.replace(tmp, DOC)
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
