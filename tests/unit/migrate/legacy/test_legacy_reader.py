"""Reading legacy files: key spellings, warnings with lines, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.core.errors import ConfigError
from migrate.legacy.model import Origin, SyncImage
from migrate.legacy.reader import read_legacy, resolve_names
from migrate.legacy.semantics import legacy_destination, match_pattern, sync_selects_tag


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_three_key_spellings_and_settings(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "rules.yaml",
        """\
replication:
  MaxConcurrentReplications: 3
  RetryCount: 1
  rules:
    - SourceRegistry: hub
      SourceRepository: "library/*"
      DestinationRegistry: ecr
      DestinationRepository: "mirror/*"
      TagFilter: "v*"
      Schedule: "0 */5 * * * *"
    - sourceRegistry: hub
      sourceRepository: a
      destinationRegistry: ecr
      destinationRepository: b
    - source_registry: hub
      source_repository: c
      destination_registry: ecr
      destination_repository: d
      color: blue
""",
    )
    legacy = read_legacy([path])
    assert [(r.source_repository, r.destination_repository) for r in legacy.rules] == [
        ("library/*", "mirror/*"),
        ("a", "b"),
        ("c", "d"),
    ]
    assert legacy.rules[0].schedule == "0 */5 * * * *"
    assert legacy.rules[0].tag_filter == "v*"
    assert legacy.rules[2].settings.retry_count == 1
    assert legacy.rules[2].settings.max_concurrent_replications == 3
    assert legacy.rules[0].origin.line == 5
    assert [w.render() for w in legacy.warnings] == [
        f"{path}:19: replication.rules[2]: unknown key 'color' ignored"
    ]


def test_json_top_level_rules(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "rules.json",
        '{"rules": [{"source_registry": "hub", "source_repository": "x/*",'
        ' "destination_registry": "ecr", "destination_repository": "x/*"}]}',
    )
    legacy = read_legacy([path])
    assert legacy.rules[0].source_repository == "x/*"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules: [\n  {source_registry: hub\n",
            "{f}:3: invalid YAML: did not find expected ',' or '}'",
        ),
        (
            "rules:\n  - source_registry: hub\n    source_registry: ecr\n",
            "{f}:3: duplicate key 'source_registry' (first at line 2)",
        ),
        (
            "rules:\n  - {source_registry: hub, source_repository: a, destination_registry: e}\n",
            "{f}:2: rules[0]: 'destination_repository' is required",
        ),
        (
            "rules:\n  - {source_registry: hub, source_repository: a, destination_registry: e,"
            " destination_repository: b, tag_filter: 1.5}\n",
            "{f}:2: rules[0]: tag_filter: must be a string (quote it in YAML), got 1.5",
        ),
        (
            "source: hub\ndestination: ecr\nimages:\n  - repository: a\n    tags: [x]\n"
            "    tag_regex: y\n",
            "{f}:4: images[0]: cannot specify multiple tag filters (tags, tag_regex); legacy "
            "refuses this file",
        ),
        (
            "hello: world\n",
            "{f}:1: no legacy input found (expected 'rules', 'replication.rules', "
            "a sync config with 'images', or 'treeReplicate')",
        ),
    ],
)
def test_errors_one_line_each(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        read_legacy([path])
    assert info.value.lines() == [expected.replace("{f}", str(path))]


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as info:
        read_legacy([missing])
    assert info.value.lines() == [f"{missing}: cannot read file: No such file or directory"]


def test_sync_and_tree(tmp_path: Path) -> None:
    sync = _write(
        tmp_path,
        "sync.yaml",
        """\
source: {registry: registry-1.docker.io, auth: {username: u}, insecure: false}
destination: {registry: "123.dkr.ecr.us-east-1.amazonaws.com"}
skip_existing: true
images:
  - {repository: library/nginx, tags: ["1.25"], destination_prefix: "m-", limit: 5}
""",
    )
    tree = _write(
        tmp_path,
        "config.yaml",
        """\
logLevel: info
treeReplicate:
  workers: 3
  excludeRepos: ["old/*"]
  includeTags: ["v*"]
""",
    )
    legacy = read_legacy([sync, tree])
    named = resolve_names(
        legacy,
        {
            "docker-hub": "https://registry-1.docker.io",
            "ecr": "https://123.dkr.ecr.us-east-1.amazonaws.com",
        },
        tree_source="docker-hub/library",
        tree_dest="ecr/mirror",
    )
    assert (named.syncs[0].source_registry, named.syncs[0].destination_registry) == (
        "docker-hub",
        "ecr",
    )
    image = named.syncs[0].images[0]
    assert (image.tags, image.tag_regex, image.destination_prefix, image.limit) == (
        ("1.25",),
        "",
        "m-",
        5,
    )
    assert named.trees[0].exclude_repos == ("old/*",)
    assert (named.trees[0].source, named.trees[0].destination) == (
        "docker-hub/library",
        "ecr/mirror",
    )
    assert legacy.warnings == []


@pytest.mark.parametrize(
    ("source", "destination", "repository", "expected"),
    [
        ("library/*", "library/*", "library/nginx", "library/nginx"),
        ("library/*", "mirror/fixed", "library/nginx", "mirror/fixed"),
        ("library/*", "mirror/*", "library/nginx", "mirror/nginx"),
        ("team-*-svc", "svc/*/x", "team-a-svc", "svc/a/x"),
        # substituteWildcard (rules.go): the source as a regex, '[ab]' and '?' unescaped
        ("lib[ab]*", "m/*", "liba-x", "m/-x"),
        ("a?*", "m/*", "a?x", "m/?x"),
        ("*/*", "m/*", "a/b", "m/a"),  # several stars: '*' left in the result -> $1
        ("a", "b*", "a", "b*"),
        ("a*", "b*c*", "ax", "bxcx"),  # every '*' of the destination -> $1
    ],
)
def test_legacy_destination(source: str, destination: str, repository: str, expected: str) -> None:
    assert legacy_destination(source, destination, repository) == expected


def test_match_pattern_and_sync_selection() -> None:
    assert match_pattern("a?b", "a?b") and not match_pattern("a?b", "axb")  # no '*': equality
    assert match_pattern("[ab]*", "a1") and not match_pattern("[ab", "[ab*")
    assert not match_pattern("a[*", "a[x")  # malformed: matches nothing
    origin = Origin("f", 1, "images[0]")
    # NewTagFilter (pkg/sync/filters.go): listed tags take precedence, tag_regex is unused
    image = SyncImage("r", origin, tags=("1.0",), tag_regex="^v[0-9]")
    assert [sync_selects_tag(image, t) for t in ["1.0", "v1", "xv1", "1.00"]] == [
        True,
        False,
        False,
        False,
    ]
    assert not sync_selects_tag(SyncImage("r", origin), "x")
    assert sync_selects_tag(SyncImage("r", origin, latest_n=3), "x")
