"""One test per legacy construct, with examples read from the legacy Go functions
(hemzaz/freightliner). The bundle cases run under the embedded engine and opa."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from adapter.runner.selection import TagPlan, apply_sweep_limits
from migrate.contract.decision import DecisionAction, ReplicationDecision
from migrate.legacy.convert import convert_legacy
from migrate.legacy.emit import write_output
from migrate.legacy.model import Origin, SyncImage
from migrate.legacy.reader import read_legacy
from migrate.legacy.semantics import sync_select_tags
from migrate.legacy.treematch import tree_match
from migrate.legacy.verify import engines_available
from migrate.patterns.destination import legacy_destination, portable
from migrate.patterns.gosemver import InvalidConstraint, new_constraint, semver_filter

_O = Origin("f.yaml", 1, "images[0]")


def test_destination_dollar_captures() -> None:
    """GetDestinationRepository / substituteWildcard (pkg/replication/rules.go): $N captures."""
    assert legacy_destination("project/*/*", "dest/$2/$1", "project/a/b") == "dest/b/a"
    assert legacy_destination("project/*", "dest/$1", "project/a") == "dest/a"
    assert legacy_destination("*-*-*", "d/$3-$1/$2", "x-y-z") == "d/z-x/y"


def test_destination_several_stars_greedy_and_star_rest() -> None:
    """substituteWildcard: every '*' -> ([^/]+), greedy; remaining '*' -> first capture."""
    assert legacy_destination("**team/x", "mirror/*", "teamteamteam/x") == "mirror/teamtea"
    assert legacy_destination("*/*", "m/*/$2", "a/b") == "m/a/b"


def test_destination_regex_metacharacters_not_escaped() -> None:
    """substituteWildcard does not escape '.', '+', '(': they keep their regex meaning."""
    # '.' matches any character in the regex: 'aXb/c' is captured although the glob differs
    assert legacy_destination("a.b/*", "d/$1", "a.b/c") == "d/c"
    # '(team|grp)' is a group: $1 is 'team', the star is $2; the literal repository
    # '(team|grp)/x' does not match the regex -> fallbackWildcardSubstitution (one '*')
    assert legacy_destination("(team|grp)/*", "d/$2", "team/x") == "d/x"
    assert legacy_destination("(team|grp)/*", "d/*", "(team|grp)/x") == "d/x"
    assert legacy_destination("(team|grp)/*", "d/$1", "(team|grp)/x") == "d/$1"


def test_destination_substitution_order_and_empty_result() -> None:
    """substituteWildcard replaces $1, $2, ... in turn (strings.ReplaceAll on the running
    result); GetDestinationRepository treats "" as "no substitution"."""
    assert legacy_destination("*/*", "$1", "a$2/b") == "ab"
    assert legacy_destination("(a?)*", "$1", "b") == "$1"


def test_destination_fallback_and_literal_cases() -> None:
    """GetDestinationRepository cases 1, 3, 5 and fallbackWildcardSubstitution (empty star)."""
    assert legacy_destination("lib/*", "lib/*", "lib/x") == "lib/x"
    assert legacy_destination("lib/*", "fixed", "lib/x") == "fixed"
    assert legacy_destination("lib/x", "m/*", "lib/x") == "m/*"
    assert legacy_destination("library/*", "m/*", "library/") == "m/"


def test_destination_portability_refuses_engine_dialect_differences() -> None:
    """Go RE2 reads '{a,b}' as a literal, Rust regex rejects it; nested classes differ."""
    assert portable("{a,b}*") is not None
    assert portable("[[a]*") is not None
    assert portable("a\\d*") is not None
    assert portable("project/*/*") is None
    assert portable("x[ab]*/*") is None


def test_semver_dialect() -> None:
    """SemverFilter.parseVersion / Filter (pkg/sync/semver.go) over Masterminds/semver v3."""
    tags = ["v1.5.0", "1.2.0", "latest", "not-a-version", "release-1.3.0", "version-1.4.0"]
    tags += ["1.3.0-rc1", "V1.9", "2.0.0", "1.2"]
    # 'version-' is never stripped: the loop tests 'v' first ('ersion-1.4.0' is no version)
    assert semver_filter("^1.2.0", tags) == ["V1.9", "v1.5.0", "release-1.3.0", "1.2.0", "1.2"]
    assert semver_filter("1.x", ["1.0", "1.9.9", "2.0"]) == ["1.9.9", "1.0"]
    assert semver_filter(">=1.0.0 <1.3.0", ["1.2.9", "1.3.0", "0.9"]) == ["1.2.9"]  # AND
    assert semver_filter(">=1.2.3-rc.1", ["1.2.3-rc.2", "1.2.3-rc.0"]) == ["1.2.3-rc.2"]
    with pytest.raises(InvalidConstraint):
        new_constraint("not-a-constraint")


def test_sync_limit_zero_negative_and_order() -> None:
    """cmd/sync.go resolveTags/buildSyncTasks: limit and latest_n apply only when > 0; first
    N in filter order (registry order; semver: newest first); listed tags get no limit."""
    registry = ["b", "a", "c"]
    assert sync_select_tags(SyncImage("r", _O, all_tags=True, limit=0), registry) == registry
    assert sync_select_tags(SyncImage("r", _O, all_tags=True, limit=-1), registry) == registry
    assert sync_select_tags(SyncImage("r", _O, all_tags=True, limit=2), registry) == ["b", "a"]
    assert sync_select_tags(SyncImage("r", _O, latest_n=2), registry) == ["b", "a"]
    semver = SyncImage("r", _O, semver_constraint=">=1", limit=1)
    assert sync_select_tags(semver, ["1.0", "3.0", "2.0"]) == ["3.0"]
    assert sync_select_tags(SyncImage("r", _O, tags=("x", "y"), limit=1), []) == ["x", "y"]


def test_tree_matcher() -> None:
    """newPatternCache / matches (pkg/tree/replicator.go): prefix, ?, literal '['."""
    assert tree_match("excluded/*", "excluded/a/b")
    assert tree_match("v1.?", "v1.0") and not tree_match("v1.?", "v1x0")
    assert tree_match("[0-9]*", "[0-9]x") and not tree_match("[0-9]*", "9")
    assert tree_match("*dev*", "a-dev-b") and tree_match("*", "")


def _sweep(tags: list[str], parameters: dict[str, str]) -> list[str]:
    plans = []
    for tag in tags:
        action = DecisionAction(
            type="replicate",
            target_registry="ecr",
            target_repo="r",
            target_tag=tag,
            parameters=parameters,
            policy_ids=["legacy-sync-0001"],
        )
        decision = ReplicationDecision(should_replicate=True, actions=[action], reason="x")
        plans.append(TagPlan("hub", "r", tag, decision=decision))
    apply_sweep_limits(plans)
    return [p.tag for p in plans if p.decision is not None and p.decision.should_replicate]


def test_adapter_sweep_limit_in_legacy_order() -> None:
    """ApplyLimit after FilterAndSort: the first N by version, newest first (limit_order)."""
    tags = ["1.0", "3.0", "latest", "2.0"]
    assert _sweep(tags, {"limit": "2", "limit_order": "semver"}) == ["3.0", "2.0"]
    assert _sweep(tags, {"limit": "2"}) == ["1.0", "3.0"]


def _write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_bundle_both_engines(tmp_path: Path, opa_bin: str) -> None:
    """The converted bundle decides the Go examples above, under regorus and opa."""
    rules = _write(
        tmp_path / "rules.yaml",
        {
            "rules": [
                {
                    "source_registry": "hub",
                    "source_repository": "project/*/*",
                    "destination_registry": "ecr",
                    "destination_repository": "dest/$2/$1",
                },
                {
                    "source_registry": "hub",
                    "source_repository": "**team/x",
                    "destination_registry": "ecr",
                    "destination_repository": "mirror/*",
                },
            ]
        },
    )
    sync = _write(
        tmp_path / "sync.yaml",
        {
            "source": {"registry": "hub"},
            "destination": {"registry": "ecr"},
            "images": [{"repository": "app", "semver_constraint": "^1.2.0"}],
        },
    )
    tree = _write(
        tmp_path / "config.yaml",
        {
            "treeReplicate": {
                "source": "hub/base",
                "destination": "ecr/m",
                "excludeRepos": ["base/excluded/*"],
                "includeTags": ["v1.?", "[0-9]*"],
            }
        },
    )
    legacy = read_legacy([rules, sync, tree])
    write_output(tmp_path / "out", legacy, convert_legacy(legacy))
    images = [
        ("hub", "project/a/b", "1"),
        ("hub", "teamteamteam/x", "1"),
        ("hub", "app", "v1.5.0"),
        ("hub", "app", "version-1.4.0"),
        ("hub", "app", "latest"),
        ("hub", "base/excluded/a/b", "v1.0"),
        ("hub", "base/k", "v1.0"),
        ("hub", "base/k", "[0-9]x"),
        ("hub", "base/k", "9"),
    ]
    want = [
        {("ecr", "dest/b/a", "1")},
        {("ecr", "mirror/teamtea", "1")},
        {("ecr", "app", "v1.5.0")},
        set(),
        set(),
        set(),
        {("ecr", "m/k", "v1.0")},
        {("ecr", "m/k", "[0-9]x")},
        set(),
    ]
    engines = engines_available(tmp_path / "out" / "bundle.tar.gz")
    assert sorted(engines) == ["embedded", "opa"]
    for decide in engines.values():
        assert [set(r[1]) for r in decide(images)] == want


def test_malformed_glob_disabled_strict_refuses_and_duplicate_keys(tmp_path: Path) -> None:
    """MatchPattern returns false on filepath.ErrBadPattern: the rule never matched."""
    rules = _write(
        tmp_path / "rules.yaml",
        {
            "rules": [
                {
                    "source_registry": "hub",
                    "source_repository": "lib[*",
                    "destination_registry": "ecr",
                    "destination_repository": "m",
                }
            ]
        },
    )
    cli = [str(Path(sys.executable).with_name("freightliner-migrate"))]
    proc = subprocess.run(
        [*cli, "convert", str(rules), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "never matched in legacy" in (tmp_path / "out" / "report.md").read_text()
    policy = yaml.safe_load(next((tmp_path / "out" / "policies").iterdir()).read_text())
    assert policy["policies"][0]["enabled"] is False
    strict = subprocess.run(
        [*cli, "convert", str(rules), "--strict", "-o", str(tmp_path / "out2")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert strict.returncode == 3
    assert "never matched in legacy (--strict)" in strict.stderr
    assert not (tmp_path / "out2").exists()
    dup = tmp_path / "dup.yaml"
    dup.write_text(
        "rules:\n  - source_registry: a\n    source_registry: b\n    source_repository: x\n"
        "    destination_registry: c\n    destination_repository: y\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [*cli, "convert", str(dup), "-o", str(tmp_path / "out3")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3
    assert "duplicate key 'source_registry' (first at line 2)" in proc.stderr
