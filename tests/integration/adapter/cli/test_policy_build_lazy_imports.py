"""`policy build` through the real entry point imports only what it needs: the root
group's subcommands are imported when used (migrate/core/lazy_commands.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]


def test_policy_build_imports_only_what_it_needs(tmp_path: Path) -> None:
    """Through the real entry point: no httpx, runner, serve or legacy translator."""
    out = tmp_path / "b.tar.gz"
    code = textwrap.dedent(
        f"""
        import sys
        from adapter.cli.main import cli
        try:
            cli.main(["policy", "build", {str(ROOT / "examples" / "policies")!r},
                      "-o", {str(out)!r}, "-q"], standalone_mode=False)
        finally:
            heavy = ("httpx", "adapter.cli.runtime", "adapter.cli.policy_remote",
                     "adapter.cli.serve", "adapter.cli.worker", "migrate.cli",
                     "adapter.registry.inventory")
            print(sorted(m for m in sys.modules if m in heavy))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.splitlines()[-1] == "[]"
    assert out.is_file()
