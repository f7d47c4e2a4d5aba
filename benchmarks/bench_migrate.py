"""Benchmark: convert 10,000 legacy rules (policies + bundle) and verify them.

    .venv/bin/python benchmarks/bench_migrate.py [--rules 10000] [--images 5000] [--opa]

First the command users run, ``freightliner-migrate convert RULES -o OUT`` as a
subprocess (wall clock, and the child's user+sys CPU seconds, which do not
count time spent waiting for a loaded machine; the 1-minute load average is
printed beside it), then the same phases through the library. Prints one line
per phase with wall-clock seconds. The rule mix is the
synthetic corpus (migrate.legacy.synthetic) with a realistic share of
hard glob patterns (10%); verification runs on a sample of the generated
edge cases (all of them with --images 0).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from migrate.legacy.cases import edge_cases
from migrate.legacy.convert import convert_legacy
from migrate.legacy.emit import write_output
from migrate.legacy.reader import read_legacy
from migrate.legacy.synthetic import synthetic_rules
from migrate.legacy.verify import engines_available, verify_images


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=5_000, help="edge cases to verify (0 = all)")
    parser.add_argument("--hard-share", type=float, default=0.1)
    parser.add_argument("--opa", action="store_true", help="also verify with opa eval")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-migrate-"))
    try:
        source = work / "rules.yaml"
        source.write_text(
            yaml.safe_dump(
                synthetic_rules(args.rules, seed=1, hard_share=args.hard_share), allow_unicode=True
            ),
            encoding="utf-8",
        )
        cli = Path(sys.executable).with_name("freightliner-migrate")
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        c0 = time.perf_counter()
        proc = subprocess.run(
            [str(cli), "convert", str(source), "-o", str(work / "cli-out")],
            capture_output=True,
            text=True,
            check=False,
        )
        c1 = time.perf_counter()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"convert failed ({proc.returncode}): {proc.stderr[-2000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(
            f"CLI convert        {c1 - c0:8.2f} s   (user+sys {cpu:.2f} s; load average "
            f"{load:.2f} before, {os.getloadavg()[0]:.2f} after; target < 30 s)"
        )
        t0 = time.perf_counter()
        legacy = read_legacy([source])
        t1 = time.perf_counter()
        conversion = convert_legacy(legacy)
        t2 = time.perf_counter()
        bundle = write_output(work / "out", legacy, conversion)
        t3 = time.perf_counter()
        size = (work / "out" / "bundle.tar.gz").stat().st_size
        print(
            f"rules: {len(legacy.rules)}, policies: {len(conversion.policies)}, bundle {size / 1e6:.1f} MB "
            f"(revision {bundle.revision})"
        )
        print(f"read legacy        {t1 - t0:8.2f} s")
        print(f"convert            {t2 - t1:8.2f} s")
        print(f"write + bundle     {t3 - t2:8.2f} s")
        print(f"convert total      {t3 - t0:8.2f} s   (target < 30 s)")
        images = edge_cases(legacy, samples=4, seed=1)
        t4 = time.perf_counter()
        total = len(images)
        if args.images and args.images < total:
            images = sorted(random.Random(1).sample(images, args.images))
        print(f"edge cases         {t4 - t3:8.2f} s   ({total} generated, verifying {len(images)})")
        wanted = ["embedded", "opa"] if args.opa else ["embedded"]
        for name, decide in engines_available(work / "out" / "bundle.tar.gz", wanted).items():
            t5 = time.perf_counter()
            result = verify_images(legacy, images, {name: decide})
            t6 = time.perf_counter()
            rate = len(images) / (t6 - t5)
            print(
                f"verify [{name:8}]  {t6 - t5:8.2f} s   ({rate:.0f} images/s, "
                f"{result.replicated} replicated, {len(result.mismatches)} mismatches)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
