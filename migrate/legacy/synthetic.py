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

__all__ = ["HARD_PATTERNS", "HARD_REGEXES", "synthetic_rules", "synthetic_sync"]

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
    choice = rng.random()
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
        if rng.random() < hard_share:
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
    """A sync config with ``count`` images."""
    rng = random.Random(seed)
    images: list[dict[str, Any]] = []
    for i in range(count):
        image: dict[str, Any] = {"repository": f"library/img{i % 40}"}
        kind = rng.random()
        if kind < 0.3:
            image["tags"] = rng.sample(["1.25", "latest", "v1.0", "main", "1.2", "stable"], 2)
        if i < len(HARD_REGEXES):
            image["tag_regex"] = HARD_REGEXES[i]
        elif 0.2 < kind < 0.8:
            image["tag_regex"] = rng.choice(HARD_REGEXES)
        if kind >= 0.8:
            image["all_tags"] = True
        if rng.random() < 0.3:
            image["destination_prefix"] = rng.choice(["mirror-", "x{", "p/"])
        if rng.random() < 0.3:
            image["destination_repository"] = f"copy/img{i}"
        if rng.random() < 0.2:
            image["limit"] = rng.randint(1, 9)
        if rng.random() < 0.1:
            image["latest_n"] = 3
        images.append(image)
    return {
        "source": {"registry": "docker-hub"},
        "destination": {"registry": "ecr"},
        "parallel": 2,
        "skip_existing": True,
        "images": images,
    }
