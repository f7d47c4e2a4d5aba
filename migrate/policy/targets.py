"""Replicate targets whose template text already breaks the image-name grammar.

Checked by ``policy validate`` only (the loader's ``check_targets``): converted
legacy rules may keep a literal destination (e.g. with ``*``) that the adapter
then refuses at run time.
"""

from __future__ import annotations

from typing import Any

from migrate.core.errors import Diagnostic
from migrate.core.reference import judge_template
from migrate.core.yaml_source import line_of
from migrate.policy.model import Policy, PolicySet
from migrate.policy.values import parse_template

__all__ = ["judge_policy_targets", "judge_targets"]


def judge_policy_targets(
    policy: Policy,
    *,
    file: str,
    root: Any,
    path: list[str | int],
    line: int | None,
    skip: frozenset[str] = frozenset(),
) -> list[Diagnostic]:
    """The target problems of one policy (:func:`migrate.core.reference.judge_template`):
    ``..``, upper case, spaces, a length over the limit; ``root``/``path`` locate the
    policy in its document for line numbers; fields in ``skip`` were reported already."""
    problems: list[Diagnostic] = []
    for index, action in enumerate(policy.actions):
        if action.type != "replicate":
            continue
        for name in ("target_repo", "target_tag"):
            field = f"actions[{index}].{name}"
            if field in skip or f"actions[{index}]" in skip:
                continue
            try:
                parts = parse_template(getattr(action, name))
            except ValueError:
                continue  # reported by the semantic checks already
            wrong = judge_template(parts, name)
            if wrong is not None:
                problems.append(
                    Diagnostic(
                        wrong,
                        file=file,
                        line=line_of(root, [*path, "actions", index, name]) or line,
                        policy_id=policy.id,
                        field=field,
                    )
                )
    return problems


def judge_targets(policy_set: PolicySet) -> list[Diagnostic]:
    """:func:`judge_policy_targets` over every loaded policy of a set."""
    problems: list[Diagnostic] = []
    for loaded in policy_set.policies:
        problems.extend(
            judge_policy_targets(
                loaded.policy, file=loaded.file, root=loaded.raw, path=[], line=loaded.line
            )
        )
    return problems
