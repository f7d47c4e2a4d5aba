"""Evaluation steps per OPA decision (load-independent), on the realistic organisation.

OPA's wall time on a shared machine swings with the load; the number of
evaluation steps does not. For each size, the realistic organisation's
bundle (``bench_decisions.py``) is built and loaded into OPA v1.20.2's Go
engine in-process (the reference ``opa``'s vendored bindings), and each of
the first ``--images`` images is decided once with OPA's trace on; a
decision's steps are the events of that trace (Enter, Eval, Unify, Redo,
Exit, Fail, Index...). Prints avg / p50 / max per size and, with
``--lines``, the steps per Rego source line (the profile used in
docs/benchmarks.md).

    python benchmarks/count_opa_steps.py [--sizes 1000,10000] [--images 100] [--lines 20]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_decisions import (
    DECISION,
    NOW,
    OpaInProcess,
    make_images,
    make_policies,
    policy_set,
)

from migrate.bundle.builder import BundleBuilder


def count(n: int, images: int, lines: int) -> dict[str, object]:
    raw = make_policies(n, "realistic")
    inputs = [i.as_input() for i in make_images(n, 300, random.Random(13))][:images]
    bundle = BundleBuilder(generate_tests=False).build(policy_set(raw))
    opa = OpaInProcess(bundle.modules(), bundle.data(), DECISION)
    engine = opa._engine  # the bindings' OpaEngine: eval_query with trace=True
    steps: list[int] = []
    by_line: Counter[str] = Counter()
    for image in inputs:
        engine.eval_query(f"x := data.{DECISION}", {"image": image, "now": NOW}, trace=True)
        trace = engine.last_trace or []
        steps.append(len(trace))
        for event in trace:
            by_line[str(event.get("location", "?"))] += 1
    opa.close()
    result: dict[str, object] = {
        "policies": len(raw),
        "images": len(inputs),
        "steps_avg": round(sum(steps) / len(steps)),
        "steps_p50": statistics.median(steps),
        "steps_max": max(steps),
    }
    if lines:
        result["per_line_avg"] = {
            where: round(k / len(inputs), 1) for where, k in by_line.most_common(lines)
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--lines", type=int, default=0)
    args = parser.parse_args()
    print("| policies | images | OPA steps per decision avg / p50 / max |")
    print("|---:|---:|---:|")
    results = []
    for n in [int(s) for s in args.sizes.split(",")]:
        r = count(n, args.images, args.lines)
        results.append(r)
        print(
            f"| {r['policies']:,} | {r['images']} | {r['steps_avg']:,} / {r['steps_p50']:,} "
            f"/ {r['steps_max']:,} |",
            flush=True,
        )
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
