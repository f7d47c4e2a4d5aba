"""combine_platforms / combine_allowed: the tag's decision from its platforms' decisions."""

from __future__ import annotations

from adapter.actions.attached import PLATFORM_SELECTION, PlatformSubset, platform_subset
from adapter.runner.platforms import combine_platforms
from migrate.contract.decision import DecisionAction, ReplicationDecision
from migrate.contract.image import ImageMetadata

INDEX = "sha256:" + "1" * 64


def _image(arch: str, n: int) -> ImageMetadata:
    return ImageMetadata(
        registry="local",
        repository="team/app",
        tag="v1",
        digest="sha256:" + str(n) * 64,
        architecture=arch,
        os="linux",
        index_digest=INDEX,
    )


IMAGES = [_image("amd64", 2), _image("arm64", 3), _image("s390x", 4)]


def _copy(registry: str, platforms: str = "allowed") -> DecisionAction:
    return DecisionAction(
        type="replicate",
        target_registry=registry,
        target_repo="team/app",
        platforms=platforms,  # type: ignore[arg-type]
        policy_ids=["p"],
    )


def _replicate(*actions: DecisionAction, **metadata: object) -> ReplicationDecision:
    return ReplicationDecision(
        should_replicate=True,
        actions=list(actions),
        matched_policies=["p"],
        reason="replicate",
        metadata={"outcome": "replicate", **metadata},
    )


NO_MATCH = ReplicationDecision(should_replicate=False, reason="no policy matched the image")
BLOCK = ReplicationDecision(
    should_replicate=False,
    actions=[DecisionAction(type="block", parameters={"reason": "no mainframes"})],
    matched_policies=["b"],
    reason="no mainframes",
    metadata={"outcome": "block"},
)


def test_each_target_keeps_its_allowed_platforms_with_the_reasons() -> None:
    decision = combine_platforms(
        IMAGES, [_replicate(_copy("ecr"), _copy("gcr")), _replicate(_copy("ecr")), BLOCK]
    )
    assert decision.should_replicate
    assert [a.target_registry for a in decision.replications()] == ["ecr", "gcr"]
    ecr = platform_subset(decision, "ecr/team/app:v1")
    gcr = platform_subset(decision, "gcr/team/app:v1")
    assert ecr is not None and gcr is not None
    assert [(p.platform, p.kept, p.why) for p in ecr.platforms] == [
        ("linux/amd64", True, ""),
        ("linux/arm64", True, ""),
        ("linux/s390x", False, "blocked: no mainframes"),
    ]
    assert (gcr.index_digest, sorted(gcr.kept)) == (INDEX, [IMAGES[0].digest])
    assert gcr.names(False) == ["linux/arm64", "linux/s390x"]
    assert decision.reason == (
        "replicate linux/amd64, linux/arm64 to ecr/team/app:v1 (left out: linux/s390x); "
        "replicate linux/amd64 to gcr/team/app:v1 (left out: linux/arm64, linux/s390x)"
    )
    assert decision.matched_policies == ["b", "p"]
    assert decision.metadata["platforms"] == 3


def test_a_target_asked_for_with_all_still_needs_every_platform() -> None:
    decision = combine_platforms(
        IMAGES,
        [_replicate(_copy("ecr"), _copy("gcr", "all")), _replicate(_copy("ecr")), NO_MATCH],
    )
    assert decision.outcome == "block"
    assert decision.metadata["platform_conflict"] is True
    assert decision.reason == (
        "blocked: the platforms of the index disagree (gcr/team/app:v1 asks for platforms: all; "
        "linux/amd64 -> ecr/team/app:v1, gcr/team/app:v1; linux/arm64 -> ecr/team/app:v1; "
        "linux/s390x -> nothing)"
    )


def test_without_allowed_the_rule_is_unchanged() -> None:
    decision = combine_platforms(
        IMAGES, [_replicate(_copy("ecr", "all")), _replicate(_copy("ecr", "all")), NO_MATCH]
    )
    assert decision.outcome == "block"
    assert decision.reason.startswith("blocked: the platforms of the index disagree (")


def test_nothing_allowed_anywhere_is_the_first_block() -> None:
    only_blocks = combine_platforms(IMAGES[:2], [NO_MATCH, BLOCK])
    assert (only_blocks.outcome, only_blocks.reason) == ("block", "no mainframes")


def test_an_engine_cannot_forge_the_selection() -> None:
    forged = {"ecr/team/app:v1": {"index_digest": INDEX, "platforms": []}}
    decision = combine_platforms(
        IMAGES[:1], [_replicate(_copy("ecr", "all"), **{PLATFORM_SELECTION: forged})]
    )
    assert PLATFORM_SELECTION not in decision.metadata
    assert platform_subset(decision, "ecr/team/app:v1") is None
    # even placed by hand, a plain dict is never taken for a selection
    by_hand = decision.model_copy(update={"metadata": {PLATFORM_SELECTION: forged}})
    assert platform_subset(by_hand, "ecr/team/app:v1") is None
    assert isinstance(
        platform_subset(
            combine_platforms(IMAGES[:1], [_replicate(_copy("ecr"))]), "ecr/team/app:v1"
        ),
        PlatformSubset,
    )


def test_an_engine_failure_on_one_platform_blocks_the_whole_tag() -> None:
    failed = ReplicationDecision(
        should_replicate=False,
        actions=[DecisionAction(type="block", parameters={"reason": "engine unavailable"})],
        reason="engine unavailable",
        metadata={"outcome": "block", "fallback": "fail-closed", "engine_error": "timeout"},
    )
    decision = combine_platforms(IMAGES, [_replicate(_copy("ecr")), failed, NO_MATCH])
    assert (decision.outcome, decision.metadata["platform"]) == ("block", "linux/arm64")
    assert decision.metadata["fallback"] == "fail-closed"
