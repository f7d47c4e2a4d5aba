"""Semver ranges and prereleases (issue 17 item 7), one table run in both engines: the
reference ``opa`` and the embedded regorus engine decide every row the same, and as npm's
node-semver does: a prerelease matches a range only if the range names a prerelease on the
same major.minor.patch, or the condition sets ``include_prerelease: true``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from migrate.bundle.builder import BundleBuilder
from migrate.contract.image import ImageMetadata
from migrate.core.errors import PolicyError
from migrate.engine.embedded import EmbeddedEngine
from migrate.policy.loader import load_policy_documents
from tests.opa_cli import opa_decisions

NOW = "2026-11-29T12:00:00Z"

#: (range, include_prerelease, tag, matches)
TABLE: list[tuple[str, bool, str, bool]] = [
    (">=1.0.0 <3.0.0", False, "2.0.0", True),
    (">=1.0.0 <3.0.0", False, "v2.5.0", True),
    (">=1.0.0 <3.0.0", False, "2.0.0-rc.1", False),  # the two cases
    (">=1.0.0 <3.0.0", False, "3.0.0-rc.1", False),
    (">=1.0.0 <3.0.0", False, "1.5.0-beta+exp.sha.5114f85", False),
    (">=1.0.0 <3.0.0", False, "3.0.0", False),
    (">=1.0.0 <3.0.0", True, "2.0.0-rc.1", True),
    (">=1.0.0 <3.0.0", True, "3.0.0-rc.1", True),  # below 3.0.0 in semver order
    (">=1.0.0 <3.0.0", True, "1.0.0-rc.1", False),  # below 1.0.0
    (">=2.0.0-rc.1 <3.0.0", False, "2.0.0-rc.2", True),
    (">=2.0.0-rc.1 <3.0.0", False, "2.0.0-beta", False),  # below the bound
    (">=2.0.0-rc.1 <3.0.0", False, "2.1.0-rc.1", False),  # another major.minor.patch
    (">=2.0.0-rc.1 <3.0.0", False, "2.5.0", True),
    ("^1.2.3", False, "1.9.0", True),
    ("^1.2.3", False, "1.9.0-alpha", False),
    ("^1.2.3", False, "2.0.0-alpha", False),
    ("^1.2.3-beta.2", False, "1.2.3-beta.4", True),  # node-semver's README example
    ("^1.2.3-beta.2", False, "1.2.4-beta.2", False),
    ("^1.2.3-beta.2", False, "1.2.3", True),
    ("1.x || >=2.5.0-rc.0", False, "2.5.0-rc.1", True),
    ("1.x || >=2.5.0-rc.0", False, "1.5.0-rc.1", False),
    ("1.x || >=2.5.0-rc.0", False, "2.6.0-rc.1", False),
    ("1.x", True, "1.5.0-rc.1", True),
    ("1.x", True, "2.0.0-rc.1", False),  # the x-range's 2.0.0-0 bound
    ("=2.0.0-rc.1", False, "2.0.0-rc.1", True),
]


def _policies() -> dict[str, Any]:
    ranges = sorted({(r, pre) for r, pre, _, _ in TABLE})
    return {
        "policies": [
            {
                "id": f"range-{i}",
                "conditions": [
                    {"type": "repository", "operator": "equals", "value": f"r{i}"},
                    {
                        "type": "tag",
                        "operator": "semver",
                        "value": text,
                        **({"include_prerelease": True} if pre else {}),
                    },
                ],
                "actions": [{"type": "replicate", "target_registry": "t", "target_repo": "m"}],
            }
            for i, (text, pre) in enumerate(ranges)
        ]
    }


def _images() -> list[ImageMetadata]:
    ranges = sorted({(r, pre) for r, pre, _, _ in TABLE})
    return [
        ImageMetadata(registry="x", repository=f"r{ranges.index((r, pre))}", tag=tag)
        for r, pre, tag, _ in TABLE
    ]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("semver") / "semver.yaml"
    path.write_text(yaml.safe_dump(_policies(), sort_keys=False))
    return BundleBuilder(generate_tests=False).build(load_policy_documents([path]))


def _expected() -> list[bool]:
    return [matches for _, _, _, matches in TABLE]


def test_embedded_engine_table(bundle: Any) -> None:
    engine = EmbeddedEngine(bundle.modules(), bundle.data(), bundle.revision)
    decisions = engine.decide_many(_images(), now=NOW)
    got = [bool(d.matched_policies) for d in decisions]
    assert list(zip(TABLE, got, strict=True)) == list(zip(TABLE, _expected(), strict=True))


@pytest.mark.opa
def test_opa_table(bundle: Any, opa_bin: str, tmp_path: Path) -> None:
    tarball = tmp_path / "bundle.tar.gz"
    bundle.write_tarball(tarball)
    decisions = opa_decisions(opa_bin, tarball, [i.as_input() for i in _images()], NOW)
    got = [bool(d["matched_policies"]) for d in decisions]
    assert list(zip(TABLE, got, strict=True)) == list(zip(TABLE, _expected(), strict=True))


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (
            {"type": "tag", "operator": "matches", "value": "x", "include_prerelease": True},
            "include_prerelease applies to semver conditions, not 'matches'",
        ),
        (
            {
                "not": {"type": "tag", "operator": "semver", "value": "1.x"},
                "include_prerelease": True,
            },
            "a condition is either a group (all/any/not) or a leaf",
        ),
    ],
)
def test_include_prerelease_only_on_semver(
    tmp_path: Path, condition: dict[str, Any], message: str
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "policies": [
                    {
                        "id": "p",
                        "conditions": [condition],
                        "actions": [{"type": "block"}],
                    }
                ]
            }
        )
    )
    with pytest.raises(PolicyError) as info:
        BundleBuilder(generate_tests=False).build(load_policy_documents([path]))
    [diagnostic] = info.value.diagnostics
    assert message in diagnostic.render()
    assert diagnostic.render().startswith(f"{path}:")
