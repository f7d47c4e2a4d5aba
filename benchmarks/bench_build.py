"""`freightliner-policy policy build` timed as users run it, on the realistic organisation.

Writes the policies of ``bench_decisions.py``'s realistic organisation (N
policies) as one YAML file, then runs the CLI in a subprocess (Python start,
YAML loading and validation, compilation, index, generated tests, tarball
written) ``--runs`` times, interleaved with ``--no-tests`` builds, and prints
each wall time and CPU time (user + system of the child) with the machine load.

    python benchmarks/bench_build.py [--policies 10000] [--runs 3] [--baseline EXE]

``--baseline EXE`` (another checkout's ``freightliner-policy``, e.g. main's) runs
that CLI on the same file right after each run, a second row per run, so both
are measured under the same load, and says whether their tarballs are identical.

On a shared machine, ``--wait-quiet S`` waits (at most S seconds) before each
build for two seconds in which the machine's CPU (``/proc/stat``) stays under
0.15 cores busy, and the "others" columns give the CPU the rest of the machine
used during each build (machine minus ours, in cores): 0.0 is a quiet run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_decisions import loadavg, make_policies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policies", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another freightliner-policy to compare")
    parser.add_argument("--wait-quiet", type=float, default=0.0, help="seconds to wait for quiet")
    args = parser.parse_args()
    exe = Path(sys.executable).with_name("freightliner-policy")
    programs = [("this", exe)] + ([("baseline", args.baseline)] if args.baseline else [])
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "org.yaml"
        raw = make_policies(args.policies, "realistic")
        source.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        print(f"{len(raw):,} policies, {source.stat().st_size / 1024:,.0f} KiB of YAML")
        print(
            "| run | code | build wall (s) | build CPU (s) | others (cores) "
            "| --no-tests wall (s) | --no-tests CPU (s) | others (cores) | loadavg before |"
        )
        print("|---:|---|---:|---:|---:|---:|---:|---:|---|")
        for run in range(1, args.runs + 1):
            for name, program in programs:
                load = loadavg()
                cells = []
                for extra in ([], ["--no-tests"]):
                    _wait_quiet(args.wait_quiet)
                    wall, cpu, others = _timed(program, source, _out(tmp, run, name, extra), extra)
                    cells += [f"{wall:.2f}", f"{cpu:.2f}", others]
                print(f"| {run} | {name} | {' | '.join(cells)} | {load} |")
        if args.baseline:  # the same bundles, byte for byte
            same = all(
                _out(tmp, run, "this", extra).read_bytes()
                == _out(tmp, run, "baseline", extra).read_bytes()
                for run in range(1, args.runs + 1)
                for extra in ([], ["--no-tests"])
            )
            print(f"tarballs identical to the baseline's: {'yes' if same else 'NO'}")


def _out(tmp: str, run: int, name: str, extra: list[str]) -> Path:
    return Path(tmp) / f"b-{run}-{name}{'-no-tests' if extra else ''}.tar.gz"


def _machine() -> tuple[int, int] | None:
    """(busy, idle) jiffies of the whole machine so far, from /proc/stat (None elsewhere)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(values[0:3]) + sum(values[5:8]), values[3] + values[4]


def _wait_quiet(limit_s: float) -> None:
    """Wait (at most ``limit_s``) for two seconds in which the machine is nearly idle."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = _machine()
        time.sleep(2.0)
        after = _machine()
        if before is None or after is None:
            return
        busy, idle = after[0] - before[0], after[1] - before[1]
        if busy * (os.cpu_count() or 1) < 0.15 * max(1, busy + idle):
            return


def _timed(program: Path, source: Path, out: Path, extra: list[str]) -> tuple[float, float, str]:
    """(wall, CPU, others) of one build by ``program``: CPU is user + system of it and its
    children; others the cores the rest of the machine used meanwhile ("-" if unknown)."""
    start, before, machine = time.perf_counter(), os.times(), _machine()
    subprocess.run(
        [str(program), "policy", "build", str(source), "-o", str(out), "-q", *extra],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ,
    )
    wall, after, machine_after = time.perf_counter() - start, os.times(), _machine()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    others = "-"
    if machine is not None and machine_after is not None:
        hz = os.sysconf("SC_CLK_TCK")
        used = (machine_after[0] - machine[0]) / hz
        others = f"{max(0.0, used - cpu) / wall:.2f}"
    return wall, cpu, others


if __name__ == "__main__":
    main()
