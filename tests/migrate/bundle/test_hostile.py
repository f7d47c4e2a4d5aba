"""Adversarial policy values: no YAML value can change the generated Rego.

Every user string reaches Rego only as an escaped JSON literal. Each hostile
string below goes into every string field of a policy (id, name, condition
values and keys, templates, parameters, example images); the bundle must pass
`opa check`/`opa test` with exactly the expected tests, and decide exactly as
if the string were plain data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from adapter.decision.embedded import EmbeddedEngine
from adapter.errors import BundleError
from adapter.metadata.model import ImageMetadata
from migrate.bundle.builder import BundleBuilder
from migrate.bundle.tester import run_bundle_tests
from migrate.policy.loader import parse_policy_text

HOSTILE = [
    'quote" } else := true { "',
    "back\\slash\\",
    "new\nline\n}\nallow := true",
    "import data.evil\npackage evil",
    "`raw` string ` ",
    "# METADATA\n# title: x",
    "${tests} $image $$",
    "{{ }} {",
    "unicodé 😀 \u202e rtl \u0007 bell",
    "\u2028line separator\u2029",
    "x" * 100_000,
    "",
]
NOW = "2026-11-23T12:00:00Z"


def _policy_id(hostile: str) -> str:
    return f"id {hostile[:250]}"


def _policy_yaml(hostile: str) -> str:
    policy = {
        "id": _policy_id(hostile),
        "name": hostile,
        "description": hostile,
        "priority": 5,
        "metadata": {hostile: hostile},
        "conditions": [
            {"type": "tag", "operator": "equals", "value": hostile},
            {"type": "label", "key": f"k{hostile}", "operator": "equals", "value": hostile},
            {"type": "annotation", "key": hostile, "operator": "exists"},
        ],
        "actions": [
            {
                "type": "replicate",
                "target_registry": f"reg{hostile}",
                "target_repo": "m/"
                + hostile.replace("{", "{{").replace("}", "}}")
                + "/{repository}",
                "target_tag": "{tag}",
                "parameters": {hostile: hostile},
            }
        ],
        "examples": [
            {
                "image": {
                    "registry": "r",
                    "repository": "a/b",
                    "tag": hostile,
                    "labels": {f"k{hostile}": hostile},
                    "annotations": {hostile: ""},
                },
                "matched": True,
            }
        ],
    }
    return yaml.safe_dump({"policies": [policy]}, allow_unicode=True)


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda h: repr(h[:20]))
def test_hostile_strings_stay_data(hostile: str, tmp_path: Path, opa_bin: str) -> None:
    policy_set = parse_policy_text(_policy_yaml(hostile), "hostile.yaml")
    bundle = BundleBuilder().build(policy_set)
    generated = [p for p in bundle.files if p.startswith("freightliner/generated/")]
    assert len(generated) == 1
    # Only our template's rules: 1 example, 3 leaves x 2 witnesses, joint + 3 broken.
    report = run_bundle_tests(bundle, "opa")
    mine = [o for o in report.outcomes if o.package.startswith("freightliner.generated.")]
    assert sorted(o.name for o in mine) == sorted(
        ["test_example_1"]
        + [f"test_condition_{i}_{k}" for i in range(3) for k in ("positive", "negative")]
        + ["test_policy_all_conditions_met"]
        + [f"test_policy_condition_{i}_broken" for i in range(3)]
    )
    assert report.ok, [o for o in report.outcomes if not o.passed]
    if len(hostile) < 60_000:
        embedded = run_bundle_tests(bundle, "embedded")
        assert (embedded.passed, embedded.failed) == (report.passed, 0)
    else:  # regorus's lexer cannot take a line over 65,535 columns: a clear error, not a crash
        with pytest.raises(
            BundleError, match=r"^the embedded engine cannot load freightliner/generated/"
        ):
            run_bundle_tests(bundle, "embedded")

    engine = EmbeddedEngine(bundle.modules(), bundle.data())
    image = ImageMetadata(
        registry="r",
        repository="a/b",
        tag=hostile,
        labels={f"k{hostile}": hostile},
        annotations={hostile: "v"},
    )
    decision = engine.decide(image, now=NOW)
    assert decision.matched_policies == [_policy_id(hostile)]
    assert [
        (a.target_registry, a.target_repo, a.target_tag, a.parameters) for a in decision.actions
    ] == [(f"reg{hostile}", f"m/{hostile}/a/b", hostile, {hostile: hostile})]
    near_miss = image.model_copy(update={"tag": hostile + " "})
    assert engine.decide(near_miss, now=NOW).matched_policies == []


def test_generated_rego_contains_no_raw_user_text() -> None:
    marker = 'zz"\n}\nallow := true # zz'
    bundle = BundleBuilder().build(parse_policy_text(_policy_yaml(marker), "hostile.yaml"))
    generated = {
        p: t for p, t in bundle.modules().items() if p.startswith("freightliner/generated/")
    }
    assert len(generated) == 1
    for path, text in generated.items():
        assert "\nallow" not in text, path  # the newline stays escaped: no new Rego line
        assert "\n}\n" not in text.split("_policy :=")[0], path
    data_text = bundle.files["data.json"].decode()
    assert (
        json.loads(data_text)["freightliner"]["policy_set"]["policies"][_policy_id(marker)]["name"]
        == marker
    )


def test_overlong_id_is_one_clear_error() -> None:
    from adapter.errors import PolicyError

    with pytest.raises(PolicyError) as info:
        parse_policy_text(yaml.safe_dump({"id": "x" * 300}), "long.yaml")
    assert info.value.lines() == [
        f"long.yaml:1: policy '{'x' * 60}…': id: String should have at most 256 characters"
    ]
