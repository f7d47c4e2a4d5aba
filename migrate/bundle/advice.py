"""Where the candidate index cannot help, said to the policy author.

``policy validate`` and ``policy build`` print these warnings: the policies
every image must evaluate (no indexable condition; the always-evaluated
ones, including those the index guards with one cheap leaf), and the index
keys shared by a large share of the policies, each with the reason and a
rewrite that would index.
"""

from __future__ import annotations

from typing import Any

from migrate.bundle.index import MIN_CONTAINS, IndexReport, _leaf_options, regex_required_literal

__all__ = ["index_warnings"]

_NOT_INDEXABLE = {"age", "metadata"}
_ADD = "add a repository, tag or label condition with equals, in, a glob or an anchored regex"


def _leaf_reason(leaf: dict[str, Any]) -> tuple[str, str]:
    """(why this leaf cannot key the policy, a rewrite that would)."""
    what = f"{leaf.get('path', 'condition')} ({leaf['type']} {leaf['operator']})"
    if leaf.get("negate"):
        return f"{what} is a negation", _ADD
    if leaf["type"] in _NOT_INDEXABLE:
        return f"{what} cannot be indexed", _ADD
    if leaf["operator"] == "matches" and isinstance(leaf.get("value"), str):
        pattern = leaf["value"]
        why = f"{what}: regex {pattern!r} has no literal prefix"
        if "(?" in pattern:
            return (
                f"{why} (its flags change what a literal matches)",
                "drop the flag group and anchor the regex with a literal prefix, e.g. '^cve-'",
            )
        if len(regex_required_literal(pattern)) < MIN_CONTAINS:
            return (
                f"{why} and no required literal of {MIN_CONTAINS}+ characters",
                "anchor the regex with a literal prefix (e.g. '^team-42/')",
            )
    if leaf["operator"] in {"exists", "contains", "semver"}:
        return f"{what} cannot be indexed", _ADD
    return f"{what} cannot be indexed", _ADD


def _policy_reason(policy: dict[str, Any]) -> tuple[str, str]:
    leaves = policy.get("leaves", [])
    if not leaves:
        return "it has no conditions (it matches every image)", _ADD
    if policy.get("shape") == "any" or any(
        g["op"] == "any" for level in policy.get("levels", []) for g in level
    ):
        blocking = next((leaf for leaf in leaves if not _leaf_options(leaf)), leaves[0])
        reason, rewrite = _leaf_reason(blocking)
        return f"an 'any' group has a member that cannot be indexed ({reason})", (
            "give every member of the 'any' group an indexable condition, or " + _ADD
        )
    reasons = [_leaf_reason(leaf) for leaf in leaves]
    rewrite = next((r for _, r in reasons if r != _ADD), _ADD)
    return "; ".join(r for r, _ in reasons), rewrite


def _where(policy: dict[str, Any]) -> str:
    source = policy.get("source") or {}
    file = source.get("file") or "<policies>"
    line = source.get("line")
    return f"{file}:{line}" if line else str(file)


def index_warnings(
    policies: dict[str, dict[str, Any]],
    report: IndexReport,
    guarded: list[str],
    *,
    limit: int = 50,
) -> list[str]:
    """One ``warning:`` line per policy every image evaluates and per crowded key.

    ``guarded`` are the always-evaluated policies the index checks by one leaf
    first. At most ``limit`` policy lines, then a count of the rest.
    """
    lines: list[str] = []
    unindexed = sorted(set(report.always) | set(guarded))
    for pid in unindexed[:limit]:
        policy = policies[pid]
        reason, rewrite = _policy_reason(policy)
        how = (
            "every image evaluates its first condition"
            if pid in guarded
            else "every image evaluates it"
        )
        lines.append(
            f"warning: {_where(policy)}: policy {pid!r}: not indexed, {how}: {reason}; "
            f"to index it: {rewrite}"
        )
    if len(unindexed) > limit:
        lines.append(
            f"warning: ... and {len(unindexed) - limit} more policies that are not indexed"
        )
    for key, ids in report.crowded:
        shown = ", ".join(ids[:5]) + (f", ... ({len(ids)} in all)" if len(ids) > 5 else "")
        lines.append(
            f"warning: {len(ids)} policies share the index key {key}: every image with it "
            f"evaluates them all ({shown}); to index them: add a condition that tells them "
            "apart (a repository glob or an anchored regex)"
        )
    return lines
