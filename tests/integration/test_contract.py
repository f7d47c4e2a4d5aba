"""The contract, checked from both sides with generated policy sets.

Hypothesis generates policy sets (every condition type and operator, nested
groups, logical_op chains, priorities with ties, blocks scoped and global,
duplicate targets, notifications) and images. For each set, the same bundle is
decided by the embedded engine (regorus) and by `opa eval` (OPA's Go engine):
the decision documents must be identical. The candidate index must not change
any decision: a bundle built without it decides the same.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.bundle.builder import BundleBuilder
from migrate.contract.decision import ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.engine.embedded import EmbeddedEngine
from migrate.policy.model import LoadedPolicy, Policy, PolicySet
from tests.opa_cli import opa_decisions

NOW = "2026-11-23T12:00:00Z"
REGISTRIES = ["ecr", "gcr", "hub"]
REPOSITORIES = ["team/app", "team/api", "platform/x", "lib", "team/app-svc"]
TAGS = ["prod-1", "prod-2", "v1.2.3", "v2.0.0-rc.1", "latest", "dev", "1.0.0", ""]
LABEL_KEYS = ["env", "scan", "team"]
LABEL_VALUES = ["prod", "dev", "", "core"]
CREATED = [
    "2026-11-20T00:00:00Z",
    "2025-01-01T00:00:00Z",
    "",
    "not-a-date",
    "2026-11-23T11:00:00+01:00",
]
CASES = {"compared": 0}

texts = st.sampled_from


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    string_ops = texts(["equals", "not_equals", "contains", "not_contains"])
    field = texts(["tag", "repository", "registry"])
    return st.one_of(
        st.builds(
            lambda t, o, v: {"type": t, "operator": o, "value": v},
            field,
            string_ops,
            texts(TAGS + REPOSITORIES + REGISTRIES),
        ),
        st.builds(
            lambda t, o, v: {"type": t, "operator": o, "value": v},
            field,
            texts(["in", "not_in"]),
            st.lists(texts(TAGS + REPOSITORIES + REGISTRIES), min_size=1, max_size=3),
        ),
        st.builds(
            lambda t, o, v: {"type": t, "operator": o, "value": v},
            field,
            texts(["matches", "not_matches"]),
            texts(
                [
                    "^prod-",
                    "^v[0-9]+\\.",
                    "app",
                    "^team/",
                    "^$",
                    "(?i)PROD",
                    "^prod-[0-9]$",
                    "-svc$",
                ]
            ),
        ),
        st.builds(
            lambda t, o, v: {"type": t, "operator": o, "value": v},
            texts(["tag", "repository"]),
            texts(["glob", "not_glob"]),
            texts(["prod-*", "team/*", "v?.*", "[a-m]*", "*", "lib", "team/*-svc"]),
        ),
        st.builds(
            lambda o, k, v: {"type": "label", "operator": o, "value": f"{k}={v}"},
            texts(["equals", "not_equals", "matches"]),
            texts(LABEL_KEYS),
            texts(LABEL_VALUES),
        ),
        st.builds(
            lambda o, k: {"type": "label", "operator": o, "value": k},
            texts(["exists", "not_exists"]),
            texts(LABEL_KEYS),
        ),
        st.builds(
            lambda o, v: {"type": "metadata", "key": "size", "operator": o, "value": v},
            texts(["gt", "gte", "lt", "lte", "equals"]),
            texts([0, 1000, "1KiB", "1MB"]),
        ),
        st.builds(
            lambda v: {"type": "metadata", "key": "architecture", "operator": "in", "value": v},
            st.lists(texts(["amd64", "arm64"]), min_size=1, max_size=2),
        ),
        st.builds(
            lambda o, v: {"type": "age", "operator": o, "value": v},
            texts(["older_than", "newer_than"]),
            texts(["1d", "30d", "365d", "1h"]),
        ),
        st.builds(
            lambda v: {"type": "tag", "operator": "semver", "value": v},
            texts([">=1.0.0 <2.0.0", "^2.0.0-0", "~1.2", "1.x || >=2.0.0-rc.0"]),
        ),
    )


def _with_logical_op(items: list[dict[str, Any]], ops: list[str]) -> list[dict[str, Any]]:
    return [
        dict(item, logical_op=op) if op != "-" else item
        for item, op in zip(items, ops, strict=False)
    ]


def _conditions(depth: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    node: st.SearchStrategy[dict[str, Any]] = _leaf()
    if depth > 0:
        inner = _conditions(depth - 1)
        node = st.one_of(
            _leaf(),
            inner.map(lambda c: {"all": c}),
            inner.filter(bool).map(lambda c: {"any": c}),
            _leaf().map(lambda c: {"not": c}),
        )
    return st.lists(node, max_size=3).flatmap(
        lambda items: st.lists(
            texts(["-", "AND", "OR"]), min_size=len(items), max_size=len(items)
        ).map(lambda ops: _with_logical_op(items, ops))
    )


def _replicate(
    registry: str, repo: str, tag: str, platforms: str | None, referrers: bool | None
) -> dict[str, Any]:
    action: dict[str, Any] = {
        "type": "replicate",
        "target_registry": registry,
        "target_repo": repo,
        "target_tag": tag,
    }
    if platforms is not None:
        action["platforms"] = platforms
    if referrers is not None:
        action["with_referrers"] = referrers
    return action


_action = st.one_of(
    st.builds(
        _replicate,
        texts(REGISTRIES),
        texts(["{repository}", "mirror/{repository}", "x/{match}", "{registry}/{repository}"]),
        texts(["{tag}", "{tag}-copy", "fixed"]),
        texts([None, "all", "allowed"]),
        texts([None, True, False]),
    ),
    st.builds(
        lambda r, reason: {
            "type": "block",
            "target_registry": r,
            "parameters": {"reason": reason} if reason else {},
        },
        texts(["", "gcr"]),
        texts(["", "unscanned", "too old"]),
    ),
    st.just({"type": "notify", "parameters": {"url": "http://127.0.0.1:9/hook"}}),
)

_policy = st.builds(
    lambda n, priority, enabled, conditions, actions: {
        "id": f"policy-{n}",
        "priority": priority,
        "enabled": enabled,
        "conditions": conditions,
        "actions": actions,
    },
    st.integers(0, 10**6),
    texts([-5, 0, 10, 100, 200]),
    st.booleans().map(lambda b: b or True) | st.just(False),
    _conditions(2),
    st.lists(_action, min_size=1, max_size=3),
)

_image = st.builds(
    lambda reg, repo, tag, labels, size, created, arch: {
        "registry": reg,
        "repository": repo,
        "tag": tag,
        "labels": labels,
        "size": size,
        "created_at": created,
        "architecture": arch,
        "os": "linux",
    },
    texts(REGISTRIES),
    texts(REPOSITORIES),
    texts(TAGS),
    st.dictionaries(texts(LABEL_KEYS), texts(LABEL_VALUES), max_size=3),
    texts([0, 999, 1000, 1024, 1_000_000, 5_000_000]),
    texts(CREATED),
    texts(["amd64", "arm64", ""]),
)


def _policy_set(raw: list[dict[str, Any]]) -> PolicySet:
    unique = {p["id"]: p for p in raw}
    loaded = [
        LoadedPolicy(Policy.model_validate(p), "generated.yaml", None) for p in unique.values()
    ]
    return PolicySet(sorted(loaded, key=lambda p: p.policy.id))


def _essential(decision: ReplicationDecision) -> dict[str, Any]:
    doc = decision.model_dump(mode="json")
    return {k: doc[k] for k in ("should_replicate", "actions", "matched_policies", "reason")} | {
        "outcome": doc["metadata"]["outcome"]
    }


@pytest.mark.opa
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    policies=st.lists(_policy, min_size=1, max_size=6),
    images=st.lists(_image, min_size=20, max_size=20),
)
def test_embedded_engine_equals_opa(
    policies: list[dict[str, Any]], images: list[dict[str, Any]], opa_bin: str
) -> None:
    policy_set = _policy_set(policies)
    metadata = [ImageMetadata.model_validate(i) for i in images]
    with tempfile.TemporaryDirectory() as tmp:
        bundle = BundleBuilder(generate_tests=False).build(policy_set)
        path = Path(tmp) / "bundle.tar.gz"
        bundle.write_tarball(path)
        embedded = EmbeddedEngine(bundle.modules(), bundle.data()).decide_many(metadata, now=NOW)
        by_opa = [
            ReplicationDecision.model_validate(d)
            for d in opa_decisions(opa_bin, path, [m.as_input() for m in metadata], NOW)
        ]
    assert [d.model_dump(mode="json") for d in embedded] == [
        d.model_dump(mode="json") for d in by_opa
    ]

    unindexed = BundleBuilder(generate_tests=False, use_index=False).build(policy_set)
    scanned = EmbeddedEngine(unindexed.modules(), unindexed.data()).decide_many(metadata, now=NOW)
    assert [_essential(d) for d in embedded] == [_essential(d) for d in scanned]
    CASES["compared"] += len(images)


def test_at_least_a_thousand_cases_were_compared(opa_bin: str) -> None:
    if CASES["compared"] == 0:
        pytest.skip("run together with test_embedded_engine_equals_opa")
    assert CASES["compared"] >= 1000


@pytest.mark.opa
def test_platforms_and_with_referrers_reach_the_decision_on_both_engines(opa_bin: str) -> None:
    """docs/contract.md: every rendered action carries ``platforms`` and ``with_referrers``;
    a replicate action without them has ``"all"`` and ``false``."""
    policy_set = _policy_set(
        [
            {
                "id": "subset",
                "priority": 2,
                "actions": [
                    _replicate("ecr", "{repository}", "{tag}", "allowed", True),
                    _replicate("gcr", "{repository}", "{tag}", None, None),
                ],
            }
        ]
    )
    image = ImageMetadata(registry="hub", repository="team/app", tag="v1", architecture="arm64")
    bundle = BundleBuilder(generate_tests=False).build(policy_set)
    embedded = EmbeddedEngine(bundle.modules(), bundle.data()).decide_many([image], now=NOW)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bundle.tar.gz"
        bundle.write_tarball(path)
        [raw] = opa_decisions(opa_bin, path, [image.as_input()], NOW)
    expected = [
        {
            "type": "replicate",
            "target_registry": registry,
            "target_repo": "team/app",
            "target_tag": "v1",
            "parameters": {},
            "retry_policy": None,
            "policy_ids": ["subset"],
            "priority": 2,
            "platforms": platforms,
            "with_referrers": referrers,
        }
        for registry, platforms, referrers in (("ecr", "allowed", True), ("gcr", "all", False))
    ]
    assert raw["actions"] == expected
    assert [a.model_dump(mode="json") for a in embedded[0].actions] == expected
    parsed = ReplicationDecision.model_validate(raw)
    assert [(a.platforms, a.with_referrers) for a in parsed.actions] == [
        ("allowed", True),
        ("all", False),
    ]
