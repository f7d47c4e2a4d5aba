"""Generated edge cases: (registry, repository, tag) triples aimed at each legacy item.

Deterministic for a given seed. Glob patterns are instantiated through their
parsed items (just to find interesting characters: the verdicts come from the
legacy semantics, never from here), then mutated at their boundaries: empty
and multi-character stars, ``/`` where a star or ``?`` stands, multi-byte
characters, characters just inside and outside classes, cut-off prefixes and
suffixes, the pattern text itself.
"""

from __future__ import annotations

import random

from migrate.legacy.model import LegacyInput
from migrate.legacy.semantics import split_location
from migrate.patterns._glob_syntax import parse_pattern

__all__ = ["Image", "edge_cases"]

Image = tuple[str, str, str]
_STAR_FILL = ["", "x", "a-b", "é", "v1.2", "/", "a/b", "€x"]
_ANY_FILL = ["a", "Z", "/", "€", "9", "-"]
_TAG_POOL = [
    "latest",
    "v1",
    "v1.0",
    "v1.0.0",
    "1.25",
    "1.2",
    "v2.0-rc1",
    "",
    "main",
    "x",
    "é",
    "1.20.3",
]


def _instances(pattern: str, rng: random.Random, count: int) -> list[str]:
    """Names near ``pattern``: matching instantiations and near misses."""
    out = {pattern, pattern + "x", pattern[:-1], pattern[1:], "x" + pattern, pattern + "/x"}
    chunks = parse_pattern(pattern) if "*" in pattern else None
    if chunks is None:
        return sorted(out)
    for _ in range(count):
        parts: list[str] = []
        for chunk in chunks:
            if chunk.star:
                parts.append(rng.choice(_STAR_FILL))
            for item in chunk.items:
                if item.kind == "any":
                    parts.append(rng.choice(_ANY_FILL))
                    continue
                spans = item.runes
                if not spans or rng.random() < 0.15:
                    parts.append(rng.choice(["q", "/", "]", "^", "!", "é"]))
                    continue
                lo, hi = spans[rng.randrange(len(spans))]
                pick = rng.choice([lo, hi, min(lo + 1, hi), max(lo - 1, 0), hi + 1])
                if 0xD800 <= pick <= 0xDFFF or pick > 0x10FFFF:
                    pick = lo
                parts.append(chr(pick))
        name = "".join(parts)
        out.add(name)
        if rng.random() < 0.3 and name:
            cut = rng.randrange(len(name))
            out.add(name[:cut] + rng.choice(["/", "x", "", "é"]) + name[cut + 1 :])
    return sorted(out)


_SEMVER_TAGS = [
    "v1.5.0",
    "1.2.0",
    "1.2.3",
    "1.3.0",
    "1.3.9",
    "1.4",
    "2.0.0",
    "3.1.0",
    "0.2.5",
    "0.3.0",
    "release-1.3.0",
    "RELEASE-1.2.1",
    "version-1.4.0",
    "ver-1.0.0",
    "V2.0",
    "vv1.2",
    "01.2.3",
    "1.2.3-rc.1",
    "1.2.3-rc.2",
    "1.2.3-01",
    "1.2.3+build.5",
    "1.x",
    "18446744073709551616.0.0",
    "18446744073709551615.0.0",
    "latest",
    "not-a-version",
    "1.2.3.4",
    "1.2.3\n",
]


def _tree_names(pattern: str, rng: random.Random, count: int) -> list[str]:
    """Names around a tree-matcher pattern: its literal, with '?' and '*' filled, extended."""
    out = {pattern, pattern.replace("*", "").replace("?", "x"), "x" + pattern, pattern + "/a/b"}
    for _ in range(count):
        name = "".join(
            rng.choice(["", "a", "a/b", "-rc"])
            if c == "*"
            else rng.choice(["0", "/", "é"])
            if c == "?"
            else c
            for c in pattern
        )
        out.update({name, name + rng.choice(["", "x", "/y"])})
    return sorted(out)


def _regex_tags(regex: str, rng: random.Random, count: int) -> list[str]:
    """Tags around a regex: its literal pieces recombined with digits, dots, newlines."""
    pieces = [
        p for p in "".join(c if c.isalnum() or c in "._-" else " " for c in regex).split() if p
    ]
    out = set(_TAG_POOL)
    for _ in range(count):
        parts = [rng.choice(pieces or ["v"]) for _ in range(rng.randint(1, 3))]
        glue = rng.choice(["", ".", "-", "1", "x", "\n"])
        tag = glue.join(parts)
        out.update({tag, "x" + tag, tag + "9", tag.upper(), tag[1:]})
    return sorted(out)


def edge_cases(legacy: LegacyInput, samples: int = 8, seed: int = 0) -> list[Image]:
    """Edge cases for every rule, sync image and tree filter, sorted, without duplicates."""
    rng = random.Random(seed)
    found: set[Image] = set()
    for rule in legacy.rules:
        repos = _instances(rule.source_repository, rng, samples)
        tags = _instances(rule.tag_filter, rng, samples) if rule.tag_filter else list(_TAG_POOL)
        for i, repo in enumerate(repos):
            found.add((rule.source_registry, repo, tags[i % len(tags)]))
            found.add((rule.source_registry, repo, rng.choice(tags)))
        for tag in tags:
            found.add((rule.source_registry, rng.choice(repos), tag))
        found.add((rule.source_registry + "-other", repos[0], tags[0]))
    for sync in legacy.syncs:
        for image in sync.images:
            tags = list(image.tags) + (
                _regex_tags(image.tag_regex, rng, samples) if image.tag_regex else []
            )
            tags += list(_TAG_POOL) + (_SEMVER_TAGS if image.semver_constraint else [])
            for tag in tags:
                found.add((sync.source_registry, image.repository, tag))
            found.add((sync.source_registry, image.repository + "x", tags[0]))
            found.add((sync.destination_registry, image.repository, tags[0]))
    for tree in legacy.trees:
        registry, prefix = split_location(tree.source)
        repos = [f"{prefix}/app" if prefix else "app", prefix or "x", f"{prefix}x/app"]
        for pattern in tree.exclude_repos:
            repos += _tree_names(pattern, rng, samples)
        tags = list(_TAG_POOL)
        for pattern in tree.exclude_tags + tree.include_tags:
            tags += _tree_names(pattern, rng, samples)
        for i, tag in enumerate(tags):
            found.add((registry, repos[i % len(repos)], tag))
        for repo in repos:
            found.add((registry, repo, rng.choice(tags)))
    return sorted(found)
