"""Proof of equivalence: legacy semantics vs the generated bundle, image by image.

For every image the set of replicate targets (registry, repository, tag) and
``should_replicate`` are compared between :class:`LegacyEvaluator` and the
bundle's ``decisions`` document, evaluated by the embedded engine and by
``opa eval`` (batch query) when ``opa`` is on PATH.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.contract.image import ImageMetadata
from migrate.core.errors import EngineError
from migrate.engine.embedded import EmbeddedEngine
from migrate.legacy.cases import Image
from migrate.legacy.model import LegacyInput
from migrate.legacy.semantics import LegacyEvaluator, Target

__all__ = [
    "Mismatch",
    "VerifyResult",
    "embedded_decider",
    "engines_available",
    "opa_decider",
    "verify_images",
]

NOW = "2026-01-01T00:00:00Z"
Decide = Callable[[Sequence[Image]], list[tuple[bool, frozenset[Target], list[str]]]]


@dataclass(frozen=True)
class Mismatch:
    engine: str
    image: Image
    legacy: frozenset[Target]
    policy: frozenset[Target]
    should_replicate: bool
    policies: tuple[str, ...]
    legacy_items: tuple[str, ...]

    def render(self) -> str:
        registry, repository, tag = self.image

        def fmt(targets: frozenset[Target]) -> str:
            return "{" + ", ".join(f"{r}/{p}:{t}" for r, p, t in sorted(targets)) + "}"

        return (
            f"MISMATCH [{self.engine}] {registry}/{repository}:{tag!r}: legacy {fmt(self.legacy)}, "
            f"policy {fmt(self.policy)} (should_replicate={str(self.should_replicate).lower()}; "
            f"legacy items: {', '.join(self.legacy_items) or '-'}; "
            f"matched policies: {', '.join(self.policies) or '-'})"
        )


@dataclass
class VerifyResult:
    images: int = 0
    engines: list[str] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    replicated: int = 0

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _metadata(image: Image) -> dict[str, Any]:
    registry, repository, tag = image
    return ImageMetadata(registry=registry, repository=repository, tag=tag).as_input()


def _targets(decision: dict[str, Any]) -> tuple[bool, frozenset[Target], list[str]]:
    actions = decision.get("actions", [])
    targets = frozenset(
        (a["target_registry"], a["target_repo"], a["target_tag"])
        for a in actions
        if a["type"] == "replicate"
    )
    return bool(decision["should_replicate"]), targets, list(decision.get("matched_policies", []))


def embedded_decider(bundle: Path) -> Decide:
    engine = EmbeddedEngine.from_bundle(bundle)

    def decide(images: Sequence[Image]) -> list[tuple[bool, frozenset[Target], list[str]]]:
        value = engine.evaluate(
            "data.freightliner.replication.decisions",
            {"images": [_metadata(i) for i in images], "now": NOW},
        )
        return [_targets(v) for v in value]

    return decide


def opa_decider(bundle: Path, opa: str) -> Decide:
    def decide(images: Sequence[Image]) -> list[tuple[bool, frozenset[Target], list[str]]]:
        payload = json.dumps({"images": [_metadata(i) for i in images], "now": NOW})
        proc = subprocess.run(
            [
                opa,
                "eval",
                "-b",
                str(bundle),
                "-I",
                "-f",
                "json",
                "data.freightliner.replication.decisions",
            ],
            input=payload,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise EngineError(f"opa eval failed: {proc.stderr.strip() or proc.stdout.strip()}")
        result = json.loads(proc.stdout).get("result")
        if not result:
            raise EngineError("opa eval: the decisions document is undefined")
        return [_targets(v) for v in result[0]["expressions"][0]["value"]]

    return decide


def engines_available(
    bundle: Path, wanted: Sequence[str] = ("embedded", "opa")
) -> dict[str, Decide]:
    engines: dict[str, Decide] = {}
    if "embedded" in wanted:
        engines["embedded"] = embedded_decider(bundle)
    opa = shutil.which("opa")
    if "opa" in wanted and opa is not None:
        engines["opa"] = opa_decider(bundle, opa)
    return engines


def verify_images(
    legacy: LegacyInput,
    images: Sequence[Image],
    engines: dict[str, Decide],
    batch: int = 2000,
) -> VerifyResult:
    """Compare legacy and policy verdicts for every image under every engine."""
    evaluator = LegacyEvaluator(legacy)
    result = VerifyResult(images=len(images), engines=sorted(engines))
    expected = [evaluator.targets(*image) for image in images]
    result.replicated = sum(1 for e in expected if e)
    for name in sorted(engines):
        decide = engines[name]
        for start in range(0, len(images), batch):
            chunk = images[start : start + batch]
            for offset, (should, targets, policies) in enumerate(decide(chunk)):
                image = chunk[offset]
                want = expected[start + offset]
                if targets != want or should != bool(want):
                    items = tuple(r.origin.label for r in evaluator.rules_for(image[0], image[1]))
                    result.mismatches.append(
                        Mismatch(name, image, want, targets, should, tuple(policies), items)
                    )
    return result
