"""Two bundles' decision times compared on the same images, interleaved (an A/B test).

    python OLD_TREE/benchmarks/decision_ab.py dump old.json [--policies 1000]
    python benchmarks/decision_ab.py dump new.json [--policies 1000]
    python benchmarks/decision_ab.py compare old.json new.json [--engine opa|embedded] [--passes 10]
        [--explain]

``dump`` builds the realistic organisation's bundle (``bench_decisions.py``)
with the tree the script is in and writes its modules and data as JSON.
``compare`` loads every bundle into the engine (OPA v1.20.2's Go engine
in-process through the reference ``opa``'s vendored bindings, or the embedded
engine) and decides each image with each bundle once per pass. With OPA the
bundles take turns in a random order for each image (a fixed order favoured
the bundle decided second by up to 10 %); the embedded engine decides all
images with one bundle, then with the next (regorus keeps per-thread state
that interleaving would thrash). An image's time is its fastest over the
passes, in thread CPU time (a loaded machine inflates it much less than wall
time); p50, p99 and the mean are over the images. ``--explain`` decides with
``explain: true`` (every candidate's condition lines).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_decisions import DECISION, NOW, OpaInProcess, loadavg, make_images, make_policies
from bench_decisions import policy_set as make_policy_set


def dump(out: Path, policies: int) -> None:
    from migrate.bundle.builder import BundleBuilder

    bundle = BundleBuilder(generate_tests=False).build(
        make_policy_set(make_policies(policies, "realistic"))
    )
    out.write_text(
        json.dumps({"policies": policies, "modules": bundle.modules(), "data": bundle.data()})
    )


def _summary(times: list[float]) -> str:
    ordered = sorted(times)
    return (
        f"p50 {statistics.median(ordered):.3f}  p99 {ordered[int(len(ordered) * 0.99)]:.3f}  "
        f"mean {statistics.mean(ordered):.3f} ms"
    )


def compare(files: list[Path], engine: str, passes: int, explain: bool = False) -> None:
    bundles = [json.loads(f.read_text()) for f in files]
    policies = bundles[0]["policies"]
    images = [i.as_input() for i in make_images(policies, 300, random.Random(13))]
    best = [[float("inf")] * len(images) for _ in files]
    load_before = loadavg()
    if engine == "opa":
        engines = [OpaInProcess(b["modules"], b["data"], DECISION) for b in bundles]
        order = random.Random(7)
        turns = list(range(len(engines)))
        for _ in range(passes):
            for i, image in enumerate(images):
                order.shuffle(turns)
                for k in turns:
                    start = time.thread_time()
                    engines[k].decide(image, explain=explain)
                    best[k][i] = min(best[k][i], (time.thread_time() - start) * 1000)
    else:
        from migrate.contract.image import ImageMetadata
        from migrate.engine.embedded import EmbeddedEngine

        embedded = [EmbeddedEngine(b["modules"], b["data"]) for b in bundles]
        metadata = [ImageMetadata.model_validate(i) for i in images]
        for _ in range(passes):
            for k, e in enumerate(embedded):
                e.decide(metadata[0], now=NOW, explain=explain)
                for i, m in enumerate(metadata):
                    start = time.thread_time()
                    e.decide(m, now=NOW, explain=explain)
                    best[k][i] = min(best[k][i], (time.thread_time() - start) * 1000)
    what = f"{engine}{' with explain' if explain else ''}"
    print(f"{what}, {policies:,} policies, loadavg {load_before} -> {loadavg()}")
    for f, times in zip(files, best, strict=True):
        print(f"  {f}: {_summary(times)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("--policies", type=int, default=1000)
    c = sub.add_parser("compare")
    c.add_argument("files", type=Path, nargs="+")
    c.add_argument("--engine", choices=["opa", "embedded"], default="opa")
    c.add_argument("--passes", type=int, default=10)
    c.add_argument("--explain", action="store_true")
    args: Any = parser.parse_args()
    if args.command == "dump":
        dump(args.out, args.policies)
    else:
        compare(args.files, args.engine, args.passes, args.explain)


if __name__ == "__main__":
    main()
