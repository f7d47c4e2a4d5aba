"""A policy's compiled ``alternatives`` (the small OR of ANDs a decision tests without
explaining) decide exactly what its condition tree decides (the path taken with
``explain``), in both engines: the reference ``opa`` and the embedded regorus engine.

Every image of a small grid is decided both ways; the matched policies, actions and
outcome must be the same, and the explanation lists the same candidates and verdicts
(condition lines only when asked for)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrate.bundle.builder import Bundle, BundleBuilder
from migrate.bundle.decides import check_bundle_decides
from migrate.contract.image import ImageMetadata
from migrate.core.errors import BundleError
from migrate.engine.embedded import EmbeddedEngine
from migrate.policy.loader import load_policy_documents
from tests.opa_cli import opa_eval

pytestmark = [pytest.mark.opa]

NOW = "2026-11-29T12:00:00Z"
DEV = {"type": "tag", "operator": "matches", "value": "^dev-"}
TEAM = {"type": "label", "operator": "exists", "value": "team"}
SCRATCH = {"type": "repository", "operator": "glob", "value": "scratch/*"}
BIG = {"type": "metadata", "key": "size", "operator": "gt", "value": "1000"}
LAB = {"type": "label", "operator": "equals", "value": "lab.skip=true"}

TREES: dict[str, list[dict[str, Any]]] = {
    "any": [{"any": [DEV, TEAM]}],
    "not-all": [{"not": {"all": [DEV, SCRATCH]}}],
    "any-and": [{"any": [DEV, {"all": [TEAM, {"not": {"any": [SCRATCH, BIG]}}]}]}, SCRATCH],
    "nested": [
        {"any": [{"not": DEV}, {"all": [TEAM, {"not": {"any": [SCRATCH, BIG]}}]}]},
        {"not": LAB},
    ],
    "redundant": [{"any": [DEV, {"not": DEV}]}, {"not": DEV}],
    "contradiction": [{"any": [{"all": [DEV, {"not": DEV}]}, {"all": [TEAM, {"not": TEAM}]}]}],
    "or-op": [DEV, {**BIG, "logical_op": "OR"}],
    "too-big": [
        {"any": [DEV, SCRATCH]},
        {"any": [TEAM, BIG]},
        {"any": [LAB, DEV]},
        {"any": [TEAM, SCRATCH]},
    ],
}


def _images() -> list[dict[str, Any]]:
    images = []
    for tag, repo, labels, size in itertools.product(
        ["dev-1", "v1"],
        ["scratch/app", "team/app"],
        [{}, {"team": "a"}, {"lab.skip": "true"}, {"team": "a", "lab.skip": "true"}],
        [10, 5000],
    ):
        images.append(
            {"registry": "r", "repository": repo, "tag": tag, "labels": labels, "size": size}
        )
    return images


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    path = tmp_path_factory.mktemp("alternatives") / "trees.yaml"
    policies = [
        {
            "id": name,
            "priority": 10,
            "conditions": conditions,
            "actions": [{"type": "replicate", "target_registry": "m", "target_repo": name}],
        }
        for name, conditions in TREES.items()
    ]
    path.write_text(yaml.safe_dump({"policies": policies}, sort_keys=False))
    return BundleBuilder(generate_tests=False).build(load_policy_documents([path]))


def test_the_trees_compile_as_expected(bundle: Bundle) -> None:
    compiled = bundle.data()["freightliner"]["policy_set"]["policies"]
    trees = {pid for pid, p in compiled.items() if _is_tree(p["alternatives"])}
    assert trees == {"too-big"}
    ors = {pid for pid, p in compiled.items() if not p["checked"] and pid not in trees}
    assert ors == {
        "any",
        "not-all",
        "any-and",
        "nested",
        "redundant",
        "contradiction",
        "or-op",
    }
    # (dev or not dev) and not dev: the AND "dev and not dev" is dropped, "not dev" tested once
    assert [
        [(c["base"], c["negate"]) for c in a] for a in compiled["redundant"]["alternatives"]
    ] == [[("prefix", True)]]
    assert compiled["contradiction"]["alternatives"] == []
    # (dev or (team and not (scratch or big))) and scratch: the second AND tests scratch
    # both ways and is dropped
    assert [len(a) for a in compiled["any-and"]["alternatives"]] == [2]
    assert [len(a) for a in compiled["nested"]["alternatives"]] == [2, 4]


def _is_tree(alternatives: list[list[dict[str, Any]]]) -> bool:
    return [[c["op"] for c in a] for a in alternatives] == [["tree"]]


def _matches(decisions: list[dict[str, Any]]) -> list[list[str]]:
    return [d["matched_policies"] for d in decisions]


def test_embedded_alternatives_agree_with_the_tree(bundle: Bundle) -> None:
    engine = EmbeddedEngine(bundle.modules(), bundle.data(), bundle.revision)
    images = [ImageMetadata(**i) for i in _images()]
    fast = [engine.decide(i, now=NOW) for i in images]
    explained = [engine.decide(i, now=NOW, explain=True) for i in images]
    for short, full in zip(fast, explained, strict=True):
        assert [(e.policy_id, e.matched, e.conditions) for e in short.explanation] == [
            (e.policy_id, e.matched, []) for e in full.explanation
        ]
        assert short.model_dump(exclude={"explanation"}) == full.model_dump(exclude={"explanation"})
        assert sorted(short.matched_policies) == sorted(
            e.policy_id for e in full.explanation if e.matched
        )
    # the grid reaches every policy both ways (contradiction never matches)
    reached = {p for d in fast for p in d.matched_policies}
    assert reached == set(TREES) - {"contradiction"}
    assert {p for d in fast for p in d.matched_policies if p == "nested"} == {"nested"}


def test_opa_alternatives_agree_with_the_tree(bundle: Bundle, opa_bin: str, tmp_path: Path) -> None:
    tarball = tmp_path / "bundle.tar.gz"
    bundle.write_tarball(tarball)
    query = "data.freightliner.replication.decisions"
    images = _images()
    fast = opa_eval(opa_bin, tarball, query, {"images": images, "now": NOW})
    full = opa_eval(opa_bin, tarball, query, {"images": images, "now": NOW, "explain": True})
    for short, explained in zip(fast, full, strict=True):
        assert [(e["policy_id"], e["matched"], e["conditions"]) for e in short["explanation"]] == [
            (e["policy_id"], e["matched"], []) for e in explained["explanation"]
        ]
        assert {k: v for k, v in short.items() if k != "explanation"} == {
            k: v for k, v in explained.items() if k != "explanation"
        }
        assert sorted(short["matched_policies"]) == sorted(
            e["policy_id"] for e in explained["explanation"] if e["matched"]
        )
    engine = EmbeddedEngine(bundle.modules(), bundle.data(), bundle.revision)
    embedded = [engine.decide(ImageMetadata(**i), now=NOW) for i in images]
    assert _matches(fast) == [d.matched_policies for d in embedded]


def test_a_bundle_whose_checks_disagree_with_its_conditions_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "policies:\n  - id: p\n    conditions:\n"
        "      - {type: label, operator: exists, value: team}\n"
        "    actions:\n      - {type: block}\n"
    )
    bundle = BundleBuilder(generate_tests=False).build(load_policy_documents([path]))
    check_bundle_decides(bundle)  # passes: the synthetic image has the label, both match
    data = bundle.data()
    data["freightliner"]["policy_set"]["policies"]["p"]["alternatives"][0][0]["op"] = "absent"
    files = dict(bundle.files)
    files["data.json"] = json.dumps(data).encode()
    with pytest.raises(BundleError) as info:
        check_bundle_decides(Bundle(files, bundle.revision))
    assert str(info.value) == (
        f"{path}:2: policy 'p': its compiled checks decide False where its conditions "
        "decide True on a synthetic image (a translator bug: please report it)"
    )
