"""Where an OPA decision's time goes, stage by stage, on the realistic organisation.

Builds the realistic organisation's bundle (``bench_decisions.py``) and adds
one module of rules, each computing a decision's first stages and counting
the result: the call alone, the clock, the image's facts, the index's
candidates, ``passing``, the matched policies in order, their rendered
actions, resolved, and the whole decision. Each stage's rule includes the
ones before it, so the difference between two rows is what a stage adds.
The rules are evaluated by OPA v1.20.2's Go engine in-process (the reference
``opa``'s vendored bindings), every image once per pass, the rules in a
random order for each image (a fixed order favours some rows by a few per
cent), and an image's time per rule is the fastest of the passes (thread
CPU time, which a loaded machine inflates much less than wall time).

    python benchmarks/opa_stages.py [--policies 1000] [--passes 6]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_decisions import (
    DECISION,
    NOW,
    OpaInProcess,
    loadavg,
    make_images,
    make_policies,
    policy_set,
)

from migrate.bundle.builder import BundleBuilder

_STAGES = """package stages

import data.freightliner.actions
import data.freightliner.conditions
import data.freightliner.index
import data.freightliner.replication

_policies := data.freightliner.policy_set.policies

call := 1

clock := replication.now_ns(input)

facts := count(conditions.facts_at(input.image, replication.now_ns(input)))

candidates := count(index.candidates(input.image, f)) if {
	f := conditions.facts_at(input.image, replication.now_ns(input))
}

passing := count(replication.passing(index.candidates(input.image, f), f)) if {
	f := conditions.facts_at(input.image, replication.now_ns(input))
}

ordered := count(_ordered) if {
	f := conditions.facts_at(input.image, replication.now_ns(input))
	matched := replication.passing(index.candidates(input.image, f), f)
	_ordered := [k[1] | some k in sort({[0 - _policies[id].priority, id] | some id in matched})]
}

rendered := count(r) if {
	f := conditions.facts_at(input.image, replication.now_ns(input))
	matched := replication.passing(index.candidates(input.image, f), f)
	o := [k[1] | some k in sort({[0 - _policies[id].priority, id] | some id in matched})]
	vars := actions.image_vars(input.image)
	r := [actions.render_with(a, id, _policies[id].priority, vars) | some id in o; some a in _policies[id].actions]
}

resolved := count(actions.resolve(r)) if {
	f := conditions.facts_at(input.image, replication.now_ns(input))
	matched := replication.passing(index.candidates(input.image, f), f)
	o := [k[1] | some k in sort({[0 - _policies[id].priority, id] | some id in matched})]
	vars := actions.image_vars(input.image)
	r := [actions.render_with(a, id, _policies[id].priority, vars) | some id in o; some a in _policies[id].actions]
}

decision := count(replication.decision)

# What a function call costs with arguments of three sizes: 20 calls of a
# function that returns its second argument.
_ignore(_, i) := i

calls_none := count([i | some i in numbers.range(1, 20)]) if {
	f := conditions.facts_at(input.image, 0)
	p := _policies[_first]
}

calls_number := count([_ignore(1, i) | some i in numbers.range(1, 20)]) if {
	f := conditions.facts_at(input.image, 0)
	p := _policies[_first]
}

calls_facts := count([_ignore(f, i) | some i in numbers.range(1, 20)]) if {
	f := conditions.facts_at(input.image, 0)
	p := _policies[_first]
}

calls_policy := count([_ignore(p, i) | some i in numbers.range(1, 20)]) if {
	f := conditions.facts_at(input.image, 0)
	p := _policies[_first]
}

_first := FIRST_POLICY_ID
"""

STAGES = [
    "call",
    "clock",
    "facts",
    "candidates",
    "passing",
    "ordered",
    "rendered",
    "resolved",
    "decision",
]
CALLS = ["calls_none", "calls_number", "calls_facts", "calls_policy"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policies", type=int, default=1000)
    parser.add_argument("--passes", type=int, default=6)
    args = parser.parse_args()
    raw = make_policies(args.policies, "realistic")
    inputs = [i.as_input() for i in make_images(args.policies, 300, random.Random(13))]
    bundle = BundleBuilder(generate_tests=False).build(policy_set(raw))
    first = min(bundle.data()["freightliner"]["policy_set"]["policies"])
    stages = _STAGES.replace("FIRST_POLICY_ID", json.dumps(first))
    modules = {**bundle.modules(), "stages.rego": stages}
    opa = OpaInProcess(modules, bundle.data(), DECISION)
    engine = opa._engine  # the bindings' OpaEngine: eval_document of each stage's rule
    order = random.Random(7)
    load_before = loadavg()
    best = {stage: [float("inf")] * len(inputs) for stage in STAGES + CALLS}
    for _ in range(args.passes):
        for i, image in enumerate(inputs):
            rules = STAGES + CALLS
            order.shuffle(rules)
            for stage in rules:
                start = time.thread_time()
                engine.eval_document(f"stages.{stage}", {"image": image, "now": NOW})
                best[stage][i] = min(best[stage][i], (time.thread_time() - start) * 1000)
    opa.close()
    print(f"{len(raw):,} policies, {len(inputs)} images, loadavg {load_before} -> {loadavg()}")
    print("| stage (cumulative) | CPU mean (ms) | p50 | p99 | adds (mean) |")
    print("|---|---:|---:|---:|---:|")
    previous = 0.0
    for stage in STAGES:
        times = sorted(best[stage])
        mean = statistics.mean(times)
        p99 = times[int(len(times) * 0.99)]
        print(
            f"| {stage} | {mean:.3f} | {statistics.median(times):.3f} | {p99:.3f} "
            f"| {mean - previous:+.3f} |"
        )
        previous = mean
    none = statistics.mean(best["calls_none"])
    print("\n| 20 calls of a function, argument | CPU mean (ms) | per call (µs) |")
    print("|---|---:|---:|")
    for stage, what in zip(
        CALLS[1:], ["a number", "an image's facts", "a compiled policy"], strict=True
    ):
        mean = statistics.mean(best[stage])
        print(f"| {what} | {mean:.3f} | {(mean - none) * 1000 / 20:.1f} |")


if __name__ == "__main__":
    main()
