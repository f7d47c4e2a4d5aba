"""Benchmark: what the hostile-input checks cost on ordinary policy sets.

    .venv/bin/python benchmarks/bench_input_checks.py [--sizes 100,1000,5000]

For N policies (each: a regex tag condition, a label condition, a glob
repository condition) prints wall-clock milliseconds of: the YAML limit scan
(migrate.core.limits.check_yaml_text), parse + validate (which checks every regex
in Go's dialect and compiles its translation in regorus), the bundle build,
and the publish check (every policy decides a synthetic image,
migrate.bundle.decides). Also the per-pattern cost of check_regex.
"""

from __future__ import annotations

import argparse
import os
import time

from migrate.bundle.builder import BundleBuilder
from migrate.bundle.decides import check_bundle_decides
from migrate.core.limits import check_yaml_text
from migrate.patterns.dialect import check_regex
from migrate.policy.loader import parse_policy_text


def _policies(n: int) -> str:
    return "policies:\n" + "".join(
        f"  - id: p{i}\n    conditions:\n"
        f"      - {{type: tag, operator: matches, value: '^v{i}\\.[0-9]+$'}}\n"
        f"      - {{type: label, key: team{i % 7}, operator: equals, value: x}}\n"
        f"      - {{type: repository, operator: glob, value: 'team{i}/*'}}\n"
        "    actions:\n      - {type: block}\n"
        for i in range(n)
    )


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000,5000")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    start = time.perf_counter()
    for i in range(2000):
        check_regex(f"^team-{i}/[a-z]+-v[0-9]+\\.[0-9]+$")
    print(f"check_regex: {_ms(start) / 2000 * 1000:.0f} us per pattern")
    for n in (int(s) for s in args.sizes.split(",")):
        text = _policies(n)
        start = time.perf_counter()
        check_yaml_text(text)
        scan = _ms(start)
        start = time.perf_counter()
        policy_set = parse_policy_text(text, "p.yaml")
        parse = _ms(start)
        start = time.perf_counter()
        bundle = BundleBuilder().build(policy_set)
        build = _ms(start)
        start = time.perf_counter()
        check_bundle_decides(bundle)
        decides = _ms(start)
        print(
            f"{n} policies ({len(text)} bytes): yaml limit scan {scan:.0f} ms, "
            f"parse+validate {parse:.0f} ms, build {build:.0f} ms, decides check {decides:.0f} ms"
        )
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
