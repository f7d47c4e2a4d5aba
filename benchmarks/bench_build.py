"""`freightliner-policy policy build` timed as users run it, on the realistic organisation.

Writes the policies of ``bench_decisions.py``'s realistic organisation (N
policies) as one YAML file, then runs the CLI in a subprocess (Python start,
YAML loading and validation, compilation, index, generated tests, tarball
written) ``--runs`` times, interleaved with ``--no-tests`` builds, and prints
each wall time and CPU time (user + system of the child) with the machine load.

    python benchmarks/bench_build.py [--policies 10000] [--runs 3]
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
    args = parser.parse_args()
    exe = Path(sys.executable).with_name("freightliner-policy")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "org.yaml"
        raw = make_policies(args.policies, "realistic")
        source.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        print(f"{len(raw):,} policies, {source.stat().st_size / 1024:,.0f} KiB of YAML")
        print(
            "| run | build wall (s) | build CPU (s) | --no-tests wall (s) | --no-tests CPU (s) "
            "| loadavg before |"
        )
        print("|---:|---:|---:|---:|---:|---|")
        for run in range(1, args.runs + 1):
            times = []
            load = loadavg()
            for extra in ([], ["--no-tests"]):
                out = Path(tmp) / f"bundle-{run}-{len(extra)}.tar.gz"
                start, before = time.perf_counter(), os.times()
                subprocess.run(
                    [str(exe), "policy", "build", str(source), "-o", str(out), "-q", *extra],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=os.environ,
                )
                after = os.times()
                cpu = (after.children_user - before.children_user) + (
                    after.children_system - before.children_system
                )
                times += [time.perf_counter() - start, cpu]
            print(
                f"| {run} | {times[0]:.2f} | {times[1]:.2f} | {times[2]:.2f} | {times[3]:.2f} "
                f"| {load} |"
            )


if __name__ == "__main__":
    main()
