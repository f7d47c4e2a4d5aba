"""``index.extended``: the builder says whether a bundle's index uses a table beyond
the core, and a decision under ``"extended": false`` finds exactly the candidates a
full read of the index finds (real builder, real regorus and OPA engines)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from migrate.bundle.builder import Bundle, BundleBuilder
from migrate.contract.image import ImageMetadata
from migrate.engine.embedded import EmbeddedEngine
from migrate.policy.loader import parse_policy_text
from tests.opa_cli import opa_decisions

NOW = "2026-11-30T00:00:00Z"

# Filed under the core tables only: an exact repository, a label value, a
# repository prefix, and an always-evaluated size bound (guarded_above) and
# absent label (guarded_absent).
CORE = """
- id: repo
  conditions: [{type: repository, operator: equals, value: team/app}]
  actions: [{type: replicate, target_registry: m, target_repo: "a/{repository}"}]
- id: label
  conditions: [{type: label, operator: equals, value: env=prod}]
  actions: [{type: replicate, target_registry: m, target_repo: "b/{repository}"}]
- id: team
  conditions:
    - {type: repository, operator: glob, value: "team/*"}
    - {type: tag, operator: matches, value: "^v[0-9]"}
  actions: [{type: replicate, target_registry: m, target_repo: "c/{repository}"}]
- id: big
  conditions: [{type: metadata, key: size, operator: gt, value: 1000}]
  actions: [{type: block, parameters: {reason: too big}}]
- id: unscanned
  conditions: [{type: label, operator: not_exists, value: scanned}]
  actions: [{type: notify, parameters: {url: 'https://hooks.example/sec'}}]
"""

# Each of these needs a table beyond the core.
EXTENDED = {
    "annotation": "[{type: annotation, operator: equals, value: owner=core}]",
    "suffix": "[{type: repository, operator: matches, value: '-svc$'}]",
    "contains": "[{type: tag, operator: matches, value: 'hotfix'}]",
    "guarded_below": "[{type: metadata, key: size, operator: lt, value: 10}]",
    "guarded": "[{type: tag, operator: not_equals, value: latest}]",
    "always": (
        "[{any: [{type: tag, operator: not_equals, value: latest},"
        " {type: label, operator: exists, value: env}]}]"
    ),
}


def _build(text: str) -> Bundle:
    return BundleBuilder(generate_tests=False).build(parse_policy_text(text, "p.yaml"))


def _extended_policy(conditions: str) -> str:
    return (
        f"- id: extra\n  conditions: {conditions}\n"
        "  actions: [{type: replicate, target_registry: x, target_repo: '{repository}'}]\n"
    )


def _index(bundle: Bundle) -> dict[str, Any]:
    index: dict[str, Any] = bundle.data()["freightliner"]["policy_set"]["index"]
    return index


def test_an_index_of_core_tables_says_it_is_not_extended() -> None:
    index = _index(_build(CORE))
    assert index["extended"] is False
    assert [g["id"] for g in index["guarded_above"]] == ["big"]
    assert [g["id"] for g in index["guarded_absent"]] == ["unscanned"]


@pytest.mark.parametrize("table", sorted(EXTENDED))
def test_any_table_beyond_the_core_makes_it_extended(table: str) -> None:
    assert _index(_build(CORE + _extended_policy(EXTENDED[table])))["extended"] is True


def _policy(pid: str, glob: str, env: str) -> str:
    return (
        f"- id: {pid}\n  conditions:\n"
        f"    - {{type: repository, operator: glob, value: '{glob}'}}\n"
        f"    - {{type: label, operator: equals, value: 'env={env}'}}\n"
        "  actions: [{type: replicate, target_registry: x, target_repo: '{repository}'}]\n"
    )


# 20 policies under the prefix crowd/ (more than the 16 that make a key crowded),
# half with env=e0, half env=e1; env=e0 is crowded too (20 more policies elsewhere):
# the crowd policies are filed under crowd/ + their env value (10 each).
CROWDED = "".join(_policy(f"crowd{i}", "crowd/*", f"e{i % 2}") for i in range(20)) + "".join(
    _policy(f"other{i}", f"other{i}/*", "e0") for i in range(20)
)


def test_composite_keys_make_it_extended() -> None:
    bundle = _build(CORE + CROWDED)
    index = _index(bundle)
    assert index["composite_lengths"] == {"repository": [6]}
    assert index["extended"] is True
    image = ImageMetadata(registry="r", repository="crowd/app", tag="v1", labels={"env": "e1"})
    decision = EmbeddedEngine(bundle.modules(), bundle.data()).decide(image, now=NOW)
    # (and "unscanned": the image has no label "scanned"); equal priorities, by id
    assert decision.matched_policies == sorted(
        [f"crowd{i}" for i in range(1, 20, 2)] + ["unscanned"]
    )
    assert decision.metadata["candidates"] == 11


def _images() -> list[ImageMetadata]:
    images = []
    for repo in ["team/app", "team/x-svc", "other/app"]:
        for tag in ["v1", "latest", "1.0-hotfix2"]:
            for labels in [{}, {"env": "prod", "scanned": "yes"}]:
                for size in [5, 500, 5000]:
                    images.append(
                        ImageMetadata(
                            registry="r",
                            repository=repo,
                            tag=tag,
                            labels=labels,
                            annotations={"owner": "core"} if size == 500 else {},
                            size=size,
                        )
                    )
    return images


@pytest.mark.parametrize("extra", ["", *sorted(EXTENDED)])
def test_core_only_decisions_equal_a_full_read_of_the_index(extra: str) -> None:
    """The same decisions (candidates included) with the builder's ``extended`` and with
    the key removed (an index without it is read whole)."""
    bundle = _build(CORE + (_extended_policy(EXTENDED[extra]) if extra else ""))
    whole = copy.deepcopy(bundle.data())
    del whole["freightliner"]["policy_set"]["index"]["extended"]
    built = EmbeddedEngine(bundle.modules(), bundle.data())
    read_whole = EmbeddedEngine(bundle.modules(), whole)
    decided = 0
    for image in _images():
        a = built.decide(image, now=NOW)
        assert a == read_whole.decide(image, now=NOW)
        decided += bool(a.matched_policies)
    assert decided > 50  # the images do reach the policies


@pytest.mark.opa
def test_opa_decides_a_core_only_bundle_as_it_reads_the_whole_index(
    opa_bin: str, tmp_path: Path
) -> None:
    bundle = _build(CORE)
    whole = copy.deepcopy(bundle.data())
    del whole["freightliner"]["policy_set"]["index"]["extended"]
    built_dir, whole_dir = tmp_path / "built", tmp_path / "whole"
    bundle.write_directory(built_dir)
    bundle.write_directory(whole_dir)
    (whole_dir / "data.json").write_text(json.dumps(whole))
    images = [i.as_input() for i in _images()]
    decided = opa_decisions(opa_bin, built_dir, images, NOW)
    assert len(decided) == len(images)
    assert decided == opa_decisions(opa_bin, whole_dir, images, NOW)
    assert sum(bool(d["matched_policies"]) for d in decided) > 50
