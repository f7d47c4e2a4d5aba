"""Instructions per embedded decision, counted by valgrind (load-independent).

Wall time on a shared machine swings with the load; instruction counts do
not. For each size, the realistic organisation's bundle is built and written
to a directory; then a child process loads it into regorus and decides the
first K images, under ``valgrind --tool=callgrind``, once with K = 0 and once
with K = ``--decisions``. The difference divided by K is the instructions per
decision (engine, input and output JSON, model parsing; no setup).

    python benchmarks/count_instructions.py [--sizes 1000,10000] [--decisions 30]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

_CHILD = """
import json, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from migrate.engine.embedded import EmbeddedEngine
from migrate.contract.image import ImageMetadata
d = Path(sys.argv[1])
modules = json.loads((d / "modules.json").read_text())
data = json.loads((d / "data.json").read_text())
images = [ImageMetadata.model_validate(i) for i in json.loads((d / "images.json").read_text())]
engine = EmbeddedEngine(modules, data)
for image in images[: int(sys.argv[2])]:
    engine.decide(image, now="2026-11-23T12:00:00Z")
"""


def instructions(child: Path, bundle_dir: Path, count: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                str(child),
                str(bundle_dir),
                str(count),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    match = re.search(r"Collected : (\d+)", proc.stderr)
    if not match:
        raise RuntimeError(proc.stderr[-2000:])
    return int(match.group(1))


def main() -> None:
    from bench_decisions import make_images, make_policies, policy_set

    from migrate.bundle.builder import BundleBuilder

    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--decisions", type=int, default=30)
    parser.add_argument("--row", default="realistic")
    args = parser.parse_args()
    root = str(Path(__file__).resolve().parents[1])
    print("| row | policies | instructions per decision (M) | candidates avg |")
    print("|---|---:|---:|---:|")
    for n in [int(s) for s in args.sizes.split(",")]:
        raw = make_policies(n, args.row)
        bundle = BundleBuilder(generate_tests=False).build(policy_set(raw))
        images = make_images(n, args.decisions, random.Random(13))
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            modules = {p: t for p, t in bundle.modules().items() if not p.endswith("_test.rego")}
            (d / "modules.json").write_text(json.dumps(modules))
            (d / "data.json").write_text(json.dumps(bundle.data()))
            (d / "images.json").write_text(json.dumps([i.as_input() for i in images]))
            child = d / "child.py"
            child.write_text(_CHILD.format(root=root))
            base = instructions(child, d, 0)
            full = instructions(child, d, args.decisions)
        from migrate.engine.embedded import EmbeddedEngine

        engine = EmbeddedEngine(bundle.modules(), bundle.data())
        cands = [
            engine.decide(i, now="2026-11-23T12:00:00Z").metadata["candidates"] for i in images
        ]
        per = (full - base) / args.decisions / 1e6
        print(f"| {args.row} | {len(raw):,} | {per:.2f} | {sum(cands) / len(cands):.1f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
