"""The proof: on >= 10,000 generated cases the bundle decides exactly like the legacy rules,
under the embedded engine and the reference opa; the bundle's own tests pass too."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from migrate.bundle.builder import read_bundle
from migrate.bundle.tester import run_bundle_tests
from migrate.legacy.cases import edge_cases
from migrate.legacy.convert import convert_legacy
from migrate.legacy.emit import write_output
from migrate.legacy.reader import read_legacy
from migrate.legacy.synthetic import (
    HARD_PATTERNS,
    HARD_REGEXES,
    SEMVER_CONSTRAINTS,
    SUBSTITUTION_SOURCES,
    synthetic_rules,
    synthetic_sync,
    synthetic_tree,
)
from migrate.legacy.verify import engines_available, verify_images


def test_ten_thousand_cases_zero_mismatches(tmp_path: Path, opa_bin: str) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        yaml.safe_dump(synthetic_rules(190, seed=7), allow_unicode=True), encoding="utf-8"
    )
    sync = tmp_path / "sync.json"
    sync.write_text(json.dumps(synthetic_sync(100, seed=8)), encoding="utf-8")
    tree = tmp_path / "config.yaml"
    tree.write_text(yaml.safe_dump(synthetic_tree(seed=5)), encoding="utf-8")
    legacy = read_legacy([rules, sync, tree])
    sources = {r.source_repository for r in legacy.rules}
    assert len(sources & set(HARD_PATTERNS)) >= 20
    assert sources >= set(SUBSTITUTION_SOURCES)
    dests = {r.destination_repository for r in legacy.rules}
    assert {"dest/$1", "dest/$2/$1", "d/$3-$1/$2"} <= dests  # 1-3 captures
    images_ = [i for s in legacy.syncs for i in s.images]
    assert {i.tag_regex for i in images_} >= set(HARD_REGEXES)
    assert {i.semver_constraint for i in images_} >= set(SEMVER_CONSTRAINTS)
    assert {i.limit for i in images_} >= {0, -1, 1, 2, 5}
    assert legacy.trees
    conversion = convert_legacy(legacy)
    write_output(tmp_path / "out", legacy, conversion)
    bundle = tmp_path / "out" / "bundle.tar.gz"

    images = edge_cases(legacy, samples=12, seed=3)
    assert len(images) >= 10_000
    engines = engines_available(bundle)
    assert sorted(engines) == ["embedded", "opa"]
    result = verify_images(legacy, images, engines)
    assert [m.render() for m in result.mismatches] == []
    assert result.images == len(images)
    assert result.replicated > 1000  # the corpus exercises both verdicts

    assert run_bundle_tests(read_bundle(bundle), runner="embedded").ok
    proc = subprocess.run(
        [opa_bin, "test", str(bundle)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_verify_detects_a_wrong_bundle(tmp_path: Path) -> None:
    """A bundle built from different rules is caught, per image, with the rule named."""
    good = tmp_path / "good.yaml"
    good.write_text(
        yaml.safe_dump(
            {
                "rules": [
                    {
                        "source_registry": "hub",
                        "source_repository": "lib/*",
                        "destination_registry": "ecr",
                        "destination_repository": "m/*",
                        "tag_filter": "v*",
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(good.read_text().replace("v*", "v1*"), encoding="utf-8")
    legacy_wrong = read_legacy([wrong])
    write_output(tmp_path / "out", legacy_wrong, convert_legacy(legacy_wrong))
    engines = engines_available(tmp_path / "out" / "bundle.tar.gz", ["embedded"])
    result = verify_images(
        read_legacy([good]), [("hub", "lib/a", "v2"), ("hub", "lib/a", "v1")], engines
    )
    assert [m.render() for m in result.mismatches] == [
        "MISMATCH [embedded] hub/lib/a:'v2': legacy {ecr/m/a:v2}, policy {} (should_replicate=false; "
        "legacy items: rules[0]; matched policies: -)"
    ]
