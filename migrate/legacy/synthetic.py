"""Synthetic legacy inputs (for the equivalence tests and the benchmark).

Rules mix realistic patterns (``library/*``, ``team-*/app``) with the hard
cases of Go's matcher: classes with ``^``/``!``/ranges/escapes, ``?``,
backslashes, braces, ``/`` inside classes, multi-byte characters, and
destinations with one, none or several ``*``. Sync configs exercise
``tags``, ``tag_regex`` (anchors, alternations, classes, dots),
``all_tags``, prefixes and the non-per-image settings.
"""

from __future__ import annotations

import random
from typing import Any

from migrate.patterns.glob import is_valid_glob

__all__ = [
    "HARD_PATTERNS",
    "HARD_REGEXES",
    "SEMVER_CONSTRAINTS",
    "SUBSTITUTION_SOURCES",
    "TREE_PATTERNS",
    "synthetic_rules",
    "synthetic_sync",
    "synthetic_tree",
]

HARD_PATTERNS = [
    "library/*",
    "*",
    "team-*/app",
    "*/*",
    "a*b?c*x",
    "lib[ab]*",
    "lib[^ab]*",
    "lib[!a]*",
    "v[0-9]*",
    "[a-c]*-[x-z]",
    "*[^a]*c",
    "*??",
    "x\\*y*",
    "\\[a*",
    "a[\\]]*",
    "*[\\-]*",
    "{a,b}*",
    "é*",
    "*€",
    "a/*/b*",
    "*[/]x*",
    "[^/]*",
    "*?",
    "a?*",
    "[z-a]*",
    "*[é-ü]",
    "team/*-svc",
    "prod-*",
    "*-rc*",
    "*.*",
    "a*a*a*",
    "*/app",
    "x/[a-m]*/y",
]
HARD_REGEXES = [
    "^v[0-9]+\\.[0-9]+$",
    "^1\\.2[0-9]",
    "latest|stable",
    "^(main|master)$",
    "rc",
    "^$",
    "[a-z]+-[0-9]{2,}",
    "\\d+\\.\\d+\\.\\d+",
    "^v1\\.",
    "(?i)^PROD-",
    "é",
    "^[^.]+$",
    "x$",
]
# Sources whose regex form (GetDestinationRepository) exercises several captures and
# regex metacharacters that are not escaped: ".", "+", "(", "|", "[".
SUBSTITUTION_SOURCES = [
    "project/*/*",
    "**team/x",
    "a.b/*",
    "org+x/*",
    "(team|grp)/*",
    "x[ab]*/*",
    "*-*-*",
    "lib.*",
    "a+*",
    "*/*/*",
    "team-*/app-*",
    "*.io/*",
]
_SUBSTITUTION_DESTS = [
    "dest/$1",
    "dest/$2/$1",
    "d/$3-$1/$2",
    "$1",
    "m/*/$1",
    "copy/*",
    "x/$2",
    "$1$1/*",
]
# Legacy semver_constraint values: ranges, x-ranges, carets/tildes, ANDs, ORs, hyphen
# ranges, prereleases, and constraints legacy cannot parse (the image is skipped).
SEMVER_CONSTRAINTS = [
    "^1.2.0",
    ">=1.0.0 <2.0.0",
    "1.x",
    "~1.2",
    ">=1.2, <1.4",
    "1.2.x || >=3",
    "1.0.0 - 1.3.0",
    "!=1.2.0",
    ">1.2",
    "<=1.3",
    "^0.2.3",
    ">=1.2.3-rc.1",
    "*",
    "=1.2.3",
    "~>1",
    ">= 1.0",
    "not-a-constraint",
    ">=1.2.3.4",
]
TREE_PATTERNS = [
    "*",
    "excluded/*",
    "v1.?",
    "[0-9]*",
    "*-rc",
    "*dev*",
    "latest",
    "v?.*",
    "a.b+c",
    "x(y)*",
    "*[a]?",
    "v*.0",
]
_ALPHABET = "abx/**?[]^!-\\é{,}."
_REGISTRIES = ["docker-hub", "quay", "ghcr"]
_DESTS = ["ecr", "gcr"]


def _random_glob(rng: random.Random) -> str:
    while True:
        text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 7)))
        if "*" not in text:
            text += "*"
        if is_valid_glob(text):
            return text


def _destination(source: str, rng: random.Random) -> str:
    from migrate.patterns.destination import portable

    choice = rng.random()
    if portable(source) is not None:
        return rng.choice([source, "fixed/repo"])
    if choice < 0.2:
        return rng.choice(_SUBSTITUTION_DESTS)
    if choice < 0.25:
        return source
    if choice < 0.5:
        return "mirror/*"
    if choice < 0.7:
        return rng.choice(["mirror/*-copy", "*", "m/{x}/*"])
    if choice < 0.85:
        return "fixed/repo"
    return rng.choice(["a/*/b/*", "odd*"])


def synthetic_rules(count: int, seed: int = 0, hard_share: float = 0.5) -> dict[str, Any]:
    """A ``replication: {rules: [...]}`` document with ``count`` rules."""
    rng = random.Random(seed)
    rules: list[dict[str, Any]] = []
    for i in range(count):
        if i < len(SUBSTITUTION_SOURCES) * 2:
            source = SUBSTITUTION_SOURCES[i % len(SUBSTITUTION_SOURCES)]
        elif rng.random() < 0.15:
            source = rng.choice(SUBSTITUTION_SOURCES)
        elif rng.random() < hard_share:
            source = rng.choice(HARD_PATTERNS) if rng.random() < 0.6 else _random_glob(rng)
        else:
            source = rng.choice(
                [f"team{i % 97}/app{i}", f"org{i % 50}/*", f"svc-{i}-*", f"proj{i}/*/api"]
            )
        tag = rng.choice(["", "", "v*", "*-prod", "latest", "v[0-9].*", "*", "[!x]*", "1.?"])
        if rng.random() < 0.15:
            tag = _random_glob(rng)
        rule: dict[str, Any] = {
            "SourceRegistry": rng.choice(_REGISTRIES),
            "SourceRepository": source,
            "DestinationRegistry": rng.choice(_DESTS),
            "DestinationRepository": _destination(source, rng),
            "TagFilter": tag,
        }
        if rng.random() < 0.2:
            rule["Schedule"] = rng.choice(["0 */5 * * * *", "*/10 * * * *", "0 0 2 * * MON-FRI"])
        rules.append(rule)
    return {"replication": {"MaxConcurrentReplications": 4, "RetryCount": 2, "rules": rules}}


def synthetic_sync(count: int, seed: int = 0) -> dict[str, Any]:
    """A sync config with ``count`` images, each with exactly one tag filter (legacy
    ``Validate``), limits 0/-1/N and latest_n."""
    rng = random.Random(seed)
    images: list[dict[str, Any]] = []
    for i in range(count):
        image: dict[str, Any] = {"repository": f"library/img{i % 40}"}
        kind = i % 5 if i >= len(SEMVER_CONSTRAINTS) else 2
        if kind == 0:
            image["tags"] = rng.sample(["1.25", "latest", "v1.0", "main", "1.2", "stable"], 2)
        elif kind == 1:
            image["tag_regex"] = HARD_REGEXES[(i // 5) % len(HARD_REGEXES)]
        elif kind == 2:
            image["semver_constraint"] = SEMVER_CONSTRAINTS[i % len(SEMVER_CONSTRAINTS)]
        elif kind == 3:
            image["all_tags"] = True
        else:
            image["latest_n"] = rng.choice([1, 3])
        if rng.random() < 0.3:
            image["destination_prefix"] = rng.choice(["mirror-", "x{", "p/"])
        if rng.random() < 0.3:
            image["destination_repository"] = f"copy/img{i}"
        if rng.random() < 0.5:
            image["limit"] = rng.choice([0, -1, 1, 2, 5])
        images.append(image)
    return {
        "source": {"registry": "docker-hub"},
        "destination": {"registry": "ecr"},
        "parallel": 2,
        "skip_existing": True,
        "images": images,
    }


def synthetic_tree(seed: int = 0) -> dict[str, Any]:
    """A config.yaml ``treeReplicate`` section using every tree-matcher pattern kind."""
    rng = random.Random(seed)
    return {
        "treeReplicate": {
            "source": "quay/base",
            "destination": "gcr/mirror",
            "excludeRepos": ["base/excluded/*", "*-old", "base/x?y"],
            "excludeTags": rng.sample(TREE_PATTERNS[1:], 3),
            "includeTags": rng.sample(TREE_PATTERNS[1:], 4),
        }
    }
