"""`freightliner-policy policy build` timed as users run it, on the realistic organisation.

Writes the policies of ``bench_decisions.py``'s realistic organisation (N
policies) as one YAML file, then runs the CLI in a subprocess (Python start,
YAML loading and validation, compilation, index, generated tests, tarball
written) ``--runs`` times, interleaved with ``--no-tests`` builds, and prints
each wall time and CPU time (user + system of the child) with the machine load.

    python benchmarks/bench_build.py [--policies 10000] [--runs 3] [--baseline EXE]

``--baseline EXE`` (another checkout's ``freightliner-policy``, e.g. main's) runs
that CLI on the same file right after each run, a second row per run, so both
are measured under the same load.
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
    args = parser.parse_args()
    exe = Path(sys.executable).with_name("freightliner-policy")
    programs = [("this", exe)] + ([("baseline", args.baseline)] if args.baseline else [])
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "org.yaml"
        raw = make_policies(args.policies, "realistic")
        source.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        print(f"{len(raw):,} policies, {source.stat().st_size / 1024:,.0f} KiB of YAML")
        print(
            "| run | code | build wall (s) | build CPU (s) | --no-tests wall (s) "
            "| --no-tests CPU (s) | loadavg before |"
        )
        print("|---:|---|---:|---:|---:|---:|---|")
        for run in range(1, args.runs + 1):
            for name, program in programs:
                load = loadavg()
                times = [
                    t
                    for extra in ([], ["--no-tests"])
                    for t in _timed(program, source, _out(tmp, run, name, extra), extra)
                ]
                print(
                    f"| {run} | {name} | {times[0]:.2f} | {times[1]:.2f} | {times[2]:.2f} "
                    f"| {times[3]:.2f} | {load} |"
                )
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


def _timed(program: Path, source: Path, out: Path, extra: list[str]) -> tuple[float, float]:
    """(wall, CPU) of one build by ``program`` (user + system of it and its children)."""
    start, before = time.perf_counter(), os.times()
    subprocess.run(
        [str(program), "policy", "build", str(source), "-o", str(out), "-q", *extra],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ,
    )
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return time.perf_counter() - start, cpu


if __name__ == "__main__":
    main()
