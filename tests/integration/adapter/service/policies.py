"""Policy texts shared by the service tests."""

from __future__ import annotations


def tag_policy(
    pattern: str,
    *,
    policy_id: str = "prod",
    target_repo: str = "mirror/{repository}",
    schedule: str | None = None,
    registry: str | None = None,
) -> str:
    """One replicate policy: tags matching ``pattern`` go to ``dst/target_repo``."""
    lines = ["policies:", f"  - id: {policy_id}", "    priority: 10"]
    if schedule:
        lines.append(f'    schedule: "{schedule}"')
    lines.append("    conditions:")
    if registry:
        lines += [
            "      - type: registry",
            "        operator: equals",
            f'        value: "{registry}"',
        ]
    lines += [
        "      - type: tag",
        "        operator: matches",
        f'        value: "{pattern}"',
        "    actions:",
        "      - type: replicate",
        "        target_registry: dst",
        f'        target_repo: "{target_repo}"',
    ]
    return "\n".join(lines) + "\n"


def image(tag: str, repository: str = "team/app") -> dict[str, object]:
    return {
        "registry": "src",
        "repository": repository,
        "tag": tag,
        "digest": "sha256:" + "ab" * 32,
        "size": 1000,
    }
