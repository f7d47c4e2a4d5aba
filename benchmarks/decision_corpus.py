"""Decisions before and after a change, on the contract test's generated corpus.

    python benchmarks/decision_corpus.py generate corpus.json --seed 13 --examples 150
    python OLD_TREE/benchmarks/decision_corpus.py decide corpus.json > old.jsonl
    python benchmarks/decision_corpus.py decide corpus.json > new.jsonl
    python benchmarks/decision_corpus.py compare old.jsonl new.jsonl

(the script decides with the tree it is in: copy it into a checkout of the
old code, e.g. ``git worktree add`` or ``git archive``).

``generate`` draws policy sets and images with ``tests/test_contract.py``'s
strategies; ``decide`` decides every image with the embedded engine (with
``explain`` when the engine takes it, unless ``--no-explain``: the path a
decision takes by default, the policies' compiled checks) and prints one JSON line per decision,
``metadata.candidates`` left out and the explanation keyed by policy id;
``compare`` reports decisions that differ (explanations aside) and
explanation entries that differ for policies that were candidates in both
(their verdicts only, when one side has no condition lines).
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import warnings
from pathlib import Path
from typing import Any


def generate(out: Path, seed_value: int, examples: int) -> None:
    from hypothesis import HealthCheck, given, seed, settings
    from hypothesis import strategies as st

    from tests.integration.test_contract import _image, _policy

    cases: list[Any] = []

    @seed(seed_value)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        policies=st.lists(_policy, min_size=1, max_size=6),
        images=st.lists(_image, min_size=20, max_size=20),
    )
    def collect(policies: list[dict[str, Any]], images: list[dict[str, Any]]) -> None:
        cases.append([policies, images])

    collect()
    out.write_text(json.dumps(cases), encoding="utf-8")
    print(f"{len(cases)} policy sets")


def decide(corpus: Path, no_explain: bool = False) -> None:
    from migrate.bundle.builder import BundleBuilder
    from migrate.contract.image import ImageMetadata
    from migrate.engine.embedded import EmbeddedEngine
    from tests.integration.test_contract import NOW, _policy_set

    explain = "explain" in inspect.signature(EmbeddedEngine.decide).parameters and not no_explain
    for raw, images in json.loads(corpus.read_text(encoding="utf-8")):
        bundle = BundleBuilder(generate_tests=False).build(_policy_set(raw))
        engine = EmbeddedEngine(bundle.modules(), bundle.data())
        for value in images:
            image = ImageMetadata.model_validate(value)
            decision = (
                engine.decide(image, now=NOW, explain=True)  # type: ignore[call-arg]
                if explain
                else engine.decide(image, now=NOW)
            )
            doc = decision.model_dump(mode="json")
            doc["metadata"].pop("candidates")
            doc["explanation"] = {e["policy_id"]: e for e in doc["explanation"]}
            print(json.dumps(doc, sort_keys=True))


def compare(old_path: Path, new_path: Path) -> None:
    old = [json.loads(line) for line in old_path.read_text(encoding="utf-8").splitlines()]
    new = [json.loads(line) for line in new_path.read_text(encoding="utf-8").splitlines()]
    differ = common = entries_differ = merged = 0
    for before, after in zip(old, new, strict=True):
        explained_before, explained_after = before.pop("explanation"), after.pop("explanation")
        differ += before != after
        merged += any(len(a["policy_ids"]) > 1 for a in before["actions"])
        for pid, entry in explained_after.items():
            if pid in explained_before:
                common += 1
                first = explained_before[pid]
                if not first["conditions"] or not entry["conditions"]:
                    # one side decided without explain: its verdict, not its lines
                    first, entry = (
                        {k: v for k, v in e.items() if k != "conditions"} for e in (first, entry)
                    )
                entries_differ += first != entry
    print(
        f"{len(old)} decisions ({merged} with merged actions): {differ} differ "
        f"(explanations aside); {common} explanation entries in both, {entries_differ} differ"
    )


def main() -> None:
    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("out", type=Path)
    g.add_argument("--seed", type=int, default=13)
    g.add_argument("--examples", type=int, default=150)
    d = sub.add_parser("decide")
    d.add_argument("corpus", type=Path)
    d.add_argument("--no-explain", action="store_true")
    c = sub.add_parser("compare")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    args = parser.parse_args()
    if args.command == "generate":
        generate(args.out, args.seed, args.examples)
    elif args.command == "decide":
        decide(args.corpus, args.no_explain)
    else:
        compare(args.old, args.new)


if __name__ == "__main__":
    main()
