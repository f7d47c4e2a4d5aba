"""`policy build` ends its process without the interpreter's teardown once everything is
written (migrate/core/fast_exit.py): the same output, exit code and bundle; exit handlers
still run; a command called in-process returns as before."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from adapter.cli.main import cli
from migrate.core import fast_exit

ROOT = Path(__file__).resolve().parents[4]
EXAMPLES = ROOT / "examples" / "policies"
EXE = Path(sys.executable).with_name("freightliner-policy")
MAIN = "from adapter.cli.main import main; main()"


def test_the_process_ends_after_writing_everything(tmp_path: Path) -> None:
    out = tmp_path / "b.tar.gz"
    marker = tmp_path / "atexit.txt"
    code = textwrap.dedent(
        f"""
        import atexit, pathlib
        atexit.register(lambda: pathlib.Path({str(marker)!r}).write_text("ran"))
        from adapter.cli.main import main
        main()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "policy", "build", str(EXAMPLES), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"built {out} revision ") and done.stdout.endswith(")\n")
    assert marker.read_text() == "ran"  # exit handlers ran
    via_script = subprocess.run(
        [str(EXE), "policy", "build", str(EXAMPLES), "-o", str(tmp_path / "c.tar.gz"), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert via_script.returncode == 0
    assert via_script.stderr.count("warning: ") == 2  # the index warnings, as before
    assert (tmp_path / "c.tar.gz").read_bytes() == out.read_bytes()


def test_an_error_exits_as_before(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("- id: a\n  actions: [{type: blok}]\n")
    done = subprocess.run(
        [sys.executable, "-c", MAIN, "policy", "build", str(bad), "-o", str(tmp_path / "b.tar.gz")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3
    assert done.stderr == (
        f"error: {bad}:2: policy 'a': actions[0].type: "
        "Input should be 'replicate', 'block' or 'notify'\n"
    )
    assert not (tmp_path / "b.tar.gz").exists()


def test_in_process_the_command_returns(tmp_path: Path) -> None:
    out = tmp_path / "b.tar.gz"
    cli.main(
        ["policy", "build", str(EXAMPLES), "-o", str(out), "-q"],
        standalone_mode=False,
    )
    assert out.is_file()  # and this test is still running
    assert fast_exit.teardown_skipped()
    fast_exit.skip_teardown(False)


def test_a_running_thread_gets_a_normal_exit(tmp_path: Path) -> None:
    """exit_now with a non-daemon thread alive: the normal exit, which waits for it."""
    marker = tmp_path / "thread.txt"
    code = textwrap.dedent(
        f"""
        import pathlib, threading, time
        from migrate.core.fast_exit import exit_now
        def late():
            time.sleep(0.3)
            pathlib.Path({str(marker)!r}).write_text("done")
        threading.Thread(target=late).start()
        exit_now(4)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], timeout=60, check=False)
    assert done.returncode == 4
    assert marker.read_text() == "done"
