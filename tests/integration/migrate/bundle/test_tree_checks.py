"""Policies too large for a short list of ANDs are one ``tree`` check: on generated
nested ``any``/``all``/``not`` groups, deciding through the check (no ``explain``)
matches what evaluating every leaf and group says (``explain``), in both engines.
Real builder, regorus and the reference ``opa``."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrate.bundle.builder import Bundle, BundleBuilder
from migrate.contract.image import ImageMetadata
from migrate.engine.embedded import EmbeddedEngine
from migrate.policy.loader import parse_policy_text
from tests.opa_cli import opa_eval

NOW = "2026-11-30T00:00:00Z"
LEAVES: list[dict[str, Any]] = [
    {"type": "tag", "operator": "equals", "value": "v1"},
    {"type": "tag", "operator": "matches", "value": "^dev-"},
    {"type": "tag", "operator": "semver", "value": ">=1.0.0 <2.0.0"},
    {"type": "label", "operator": "equals", "value": "team=a"},
    {"type": "label", "operator": "exists", "value": "scan"},
    {"type": "label", "operator": "not_exists", "value": "skip"},
    {"type": "repository", "operator": "glob", "value": "team/*"},
    {"type": "metadata", "key": "size", "operator": "gt", "value": 1000},
    {"type": "age", "operator": "older_than", "value": "30d"},
]


def _node(rng: random.Random, depth: int) -> dict[str, Any]:
    if depth == 0 or rng.random() < 0.3:
        return dict(rng.choice(LEAVES))
    op = rng.choice(["any", "all", "any", "not"])
    if op == "not":
        return {"not": _node(rng, depth - 1)}
    return {op: [_node(rng, depth - 1) for _ in range(rng.randint(2, 3))]}


def _case(seed: int) -> tuple[Bundle, list[ImageMetadata]]:
    rng = random.Random(seed)
    policies = [
        {
            "id": f"p{i}",
            "priority": rng.randint(0, 5),
            "enabled": rng.random() > 0.1,
            "conditions": [_node(rng, 3) for _ in range(rng.randint(1, 3))],
            "actions": [{"type": "replicate", "target_registry": "m", "target_repo": f"r{i}"}],
        }
        for i in range(40)
    ]
    text = yaml.safe_dump({"policies": policies})
    bundle = BundleBuilder(generate_tests=False).build(parse_policy_text(text, "t.yaml"))
    images = []
    for _ in range(150):
        labels = {}
        if rng.random() < 0.5:
            labels["team"] = rng.choice(["a", "b"])
        if rng.random() < 0.5:
            labels["scan"] = "ok"
        if rng.random() < 0.3:
            labels["skip"] = "1"
        images.append(
            ImageMetadata(
                registry="r",
                repository=rng.choice(["team/app", "team/x/y", "other/app"]),
                tag=rng.choice(["v1", "dev-3", "1.5.0", "2.0.0", "latest"]),
                labels=labels,
                size=rng.choice([10, 5000]),
                created_at=rng.choice(["2026-01-01T00:00:00Z", "2026-11-29T00:00:00Z"]),
            )
        )
    return bundle, images


def _trees(bundle: Bundle) -> list[str]:
    policies = bundle.data()["freightliner"]["policy_set"]["policies"]
    return sorted(
        pid
        for pid, p in policies.items()
        if [[c["op"] for c in a] for a in p["alternatives"]] == [["tree"]]
    )


def _verdicts(decision: dict[str, Any]) -> tuple[list[str], list[tuple[str, bool]]]:
    return decision["matched_policies"], [
        (e["policy_id"], e["matched"]) for e in decision["explanation"]
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_embedded_tree_checks_agree_with_the_explained_tree(seed: int) -> None:
    bundle, images = _case(seed)
    assert len(_trees(bundle)) >= 8  # the case does exercise the tree check
    engine = EmbeddedEngine(bundle.modules(), bundle.data())
    matched = 0
    for image in images:
        fast = engine.decide(image, now=NOW).model_dump(mode="json")
        full = engine.decide(image, now=NOW, explain=True).model_dump(mode="json")
        assert _verdicts(fast) == _verdicts(full)
        matched += len(fast["matched_policies"])
    assert matched > 100


@pytest.mark.opa
def test_opa_tree_checks_agree_with_the_explained_tree(opa_bin: str, tmp_path: Path) -> None:
    bundle, images = _case(4)
    trees = _trees(bundle)
    assert len(trees) >= 8
    tarball = tmp_path / "bundle.tar.gz"
    bundle.write_tarball(tarball)
    query = "data.freightliner.replication.decisions"
    inputs = [i.as_input() for i in images]
    fast = opa_eval(opa_bin, tarball, query, {"images": inputs, "now": NOW})
    full = opa_eval(opa_bin, tarball, query, {"images": inputs, "now": NOW, "explain": True})
    assert [_verdicts(d) for d in fast] == [_verdicts(d) for d in full]
    # and the embedded engine decides the same
    engine = EmbeddedEngine(bundle.modules(), bundle.data())
    embedded = [engine.decide(i, now=NOW).model_dump(mode="json") for i in images]
    assert [_verdicts(d) for d in embedded] == [_verdicts(d) for d in fast]
    assert {pid for d in fast for pid in d["matched_policies"]} & set(trees)
