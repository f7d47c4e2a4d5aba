"""Semantic checks and compilation of one policy.

A policy compiles to the JSON form the Rego library interprets
(``data.freightliner.policy_set.policies[id]``, docs/policies.md):

* ``leaves``: the leaf conditions, in document order (see
  :func:`migrate.policy.conditions.compile_leaf`);
* ``levels``: the groups, by height (``levels[0]`` holds groups of leaves
  only), each ``{"id", "op": all|any|not, "children": [ids]}``; leaf ids are
  their index, group ids follow;
* ``root``: the id of the root group;
* ``explain``: the explanation order, present only when the policy has an
  explicit ``all:`` / ``any:`` / ``not:`` group: document (pre-)order of
  leaf ids and of those groups as ``{"id", "about"}`` (``about``: the
  group's ``path``, ``type: "group"``, ``operator`` all|any|not, ``value``
  the number of conditions it holds), so an explanation shows each group's
  verdict above its conditions' (a ``not:`` line says whether the group
  holds, its condition's line whether the condition does).

``logical_op`` on an entry of a condition list joins it to the entries before
it; AND binds tighter than OR, so ``A, OR B, AND C`` is ``A or (B and C)``.
The first entry's ``logical_op`` joins it to nothing and is ignored.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any

from pydantic import ValidationError

from migrate.contract.image import ImageMetadata
from migrate.patterns.destination import MAX_GROUPS, destination_spec, has_substitution, portable
from migrate.policy.conditions import ConditionError, compile_leaf
from migrate.policy.model import ConditionNode, Policy, PolicyAction
from migrate.policy.values import parse_cron, parse_duration_ns, parse_template

__all__ = [
    "MAX_DEPTH",
    "check_policy",
    "checked_form",
    "compile_policy",
    "legacy_destination_problem",
]

#: Group nesting the Rego library evaluates (it has no recursion).
MAX_DEPTH = 8
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


class _TreeCompiler:
    def __init__(self) -> None:
        self.leaves: list[dict[str, Any]] = []
        self.groups: list[tuple[int, dict[str, Any]]] = []  # (height, group)
        self.problems: list[tuple[str, str]] = []
        #: explanation order: leaf ids, and explicit groups as [ref-or-None, about]
        self.order: list[int | list[Any]] = []

    def _explicit(self, op: str, path: str, size: int) -> list[Any]:
        """A placeholder in the explanation order for an explicit group (filled in later)."""
        about = {"path": path, "type": "group", "key": "", "operator": op, "value": size}
        slot: list[Any] = [None, about]
        self.order.append(slot)
        return slot

    def _group(self, op: str, children: list[tuple[int, int]]) -> tuple[int, int]:
        height = 1 + max((h for _, h in children), default=0)
        group = {"op": op, "children": [c for c, _ in children]}
        self.groups.append((height, group))
        return -len(self.groups), height  # negative: a group, resolved later

    def node(self, node: ConditionNode, path: str) -> tuple[int, int]:
        if node.all is not None:
            slot = self._explicit("all", path, len(node.all))
            slot[0], height = self.sequence(node.all, f"{path}.all", "all")
            return slot[0], height
        if node.any is not None:
            if not node.any:
                self.problems.append((f"{path}.any", "an 'any' group needs at least one condition"))
            slot = self._explicit("any", path, len(node.any))
            slot[0], height = self.sequence(node.any, f"{path}.any", "any")
            return slot[0], height
        if node.not_ is not None:
            slot = self._explicit("not", path, 1)
            slot[0], height = self._group("not", [self.node(node.not_, f"{path}.not")])
            return slot[0], height
        try:
            leaf = compile_leaf(node, path)
        except ConditionError as exc:
            self.problems.append((f"{path}.{exc.field}", str(exc)))
            leaf = {"path": path}
        self.leaves.append(leaf)
        self.order.append(len(self.leaves) - 1)
        return len(self.leaves) - 1, 0

    def sequence(self, nodes: list[ConditionNode], path: str, op: str) -> tuple[int, int]:
        """A condition list: AND-runs separated by ``logical_op: OR`` entries."""
        runs: list[list[tuple[int, int]]] = [[]]
        for i, child in enumerate(nodes):
            if i > 0 and (child.logical_op or "AND").upper() == "OR":
                runs.append([])
            runs[-1].append(self.node(child, f"{path}[{i}]"))
        if len(runs) == 1:
            return self._group(op, runs[0])
        joined = [r[0] if len(r) == 1 else self._group("all", r) for r in runs]
        return self._group("any" if op == "all" else op, joined)

    def finish(self, root: tuple[int, int]) -> dict[str, Any]:
        n = len(self.leaves)

        def resolve(ref: int) -> int:
            return n + (-ref - 1) if ref < 0 else ref

        levels: list[list[dict[str, Any]]] = []
        for index, (height, group) in enumerate(self.groups):
            while len(levels) < height:
                levels.append([])
            levels[height - 1].append(
                {
                    "id": n + index,
                    "op": group["op"],
                    "children": [resolve(c) for c in group["children"]],
                }
            )
        if len(levels) > MAX_DEPTH:
            self.problems.append(
                ("conditions", f"conditions nest {len(levels)} levels deep; at most {MAX_DEPTH}")
            )
        root_id = resolve(root[0])
        shape = "tree"
        if (
            len(levels) == 1
            and levels[0][0]["children"] == list(range(n))
            and levels[0][0]["op"] in {"all", "any"}
        ):
            shape = levels[0][0]["op"]
        compiled: dict[str, Any] = {
            "leaves": self.leaves,
            "levels": levels,
            "root": root_id,
            "shape": shape,
        }
        if any(isinstance(item, list) for item in self.order):
            compiled["explain"] = [
                item if isinstance(item, int) else {"id": resolve(item[0]), "about": item[1]}
                for item in self.order
            ]
        return compiled


def legacy_destination_problem(source: str, destination: str) -> str:
    """Why a legacy_destination cannot be evaluated the same way by both engines ("" if fine)."""
    if "*" not in source or not ("*" in destination or has_substitution(destination)):
        return (
            "legacy_destination is for a source with '*' and a destination with '*' or $1..$9 "
            "(other cases are plain target_repo templates)"
        )
    reason = portable(source)
    if reason:
        return reason
    if len(destination_spec(source, destination)["placeholders"]) > MAX_GROUPS:
        return f"the source's regex has more than {MAX_GROUPS} capture groups"
    return ""


def _compile_action(
    action: PolicyAction, path: str, problems: list[tuple[str, str]]
) -> dict[str, Any]:
    explicit = action.model_fields_set
    templates: dict[str, list[dict[str, str]]] = {}
    for name in ("target_repo", "target_tag"):
        text = getattr(action, name)
        if action.type != "replicate" and name not in explicit:
            templates[name] = []
            continue
        try:
            templates[name] = parse_template(text)
        except ValueError as exc:
            problems.append((f"{path}.{name}", str(exc)))
            templates[name] = []
    if (
        action.type == "replicate"
        and not templates["target_repo"]
        and not any(f == f"{path}.target_repo" for f, _ in problems)
    ):
        problems.append((f"{path}.target_repo", "a replicate action needs a non-empty target_repo"))
    retry: dict[str, Any] | None = None
    if action.retry_policy is not None:
        spec = action.retry_policy
        try:
            retry = {
                "max_attempts": spec.max_attempts,
                "initial_backoff_seconds": parse_duration_ns(spec.backoff) / 1e9,
                "max_backoff_seconds": parse_duration_ns(spec.max_backoff) / 1e9,
                "multiplier": spec.multiplier,
            }
        except ValueError as exc:
            problems.append((f"{path}.retry_policy", str(exc)))
    legacy: dict[str, Any] | None = None
    uses_legacy = any(
        p.get("var") == "legacy" for p in templates["target_repo"] + templates["target_tag"]
    )
    if action.legacy_destination is not None:
        legacy_spec = action.legacy_destination
        problem = legacy_destination_problem(legacy_spec.source, legacy_spec.destination)
        if problem:
            problems.append((f"{path}.legacy_destination", problem))
        else:
            legacy = destination_spec(legacy_spec.source, legacy_spec.destination)
    elif uses_legacy:
        problems.append((f"{path}.target_repo", "{legacy} needs 'legacy_destination'"))
    compiled = {
        "type": action.type,
        "target_registry": action.target_registry,
        "target_repo": templates["target_repo"],
        "target_tag": templates["target_tag"],
        "match_prefix": action.match_prefix,
        "match_suffix": action.match_suffix,
        "parameters": dict(sorted(action.parameters.items())),
        "retry_policy": retry,
        "platforms": action.platforms,
        "with_referrers": action.with_referrers,
    }
    if legacy is not None:
        compiled["legacy_destination"] = legacy
    return compiled


def _check_examples(policy: Policy, problems: list[tuple[str, str]]) -> None:
    for i, example in enumerate(policy.examples):
        try:
            ImageMetadata.model_validate(example.image)
        except ValidationError as exc:
            for error in exc.errors():
                loc = ".".join(str(s) for s in error["loc"])
                problems.append((f"examples[{i}].image.{loc}", error["msg"]))
        if example.now is not None and not _RFC3339.match(example.now):
            problems.append((f"examples[{i}].now", f"{example.now!r} is not RFC 3339"))


# The loader checks every policy (check_policy: a full compile) and the bundle
# builder then compiles the same Policy objects again; a clean compile made by
# check_policy is kept here, keyed by the object's identity (the object is kept
# too, so the id is not reused), and handed once to compile_policy: a 10,000
# policy build compiled everything twice (about 10 % of it). Bounded: a
# check whose policy is never built is forgotten after _PENDING_MAX others.
_PENDING: OrderedDict[int, tuple[Policy, dict[str, Any]]] = OrderedDict()
_PENDING_MAX = 50_000
_PENDING_LOCK = threading.Lock()


def compile_policy(policy: Policy) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The compiled form of a policy and the problems found (``(field, message)`` pairs)."""
    with _PENDING_LOCK:
        kept = _PENDING.pop(id(policy), None)
    if kept is not None and kept[0] is policy:
        return kept[1], []
    return _compile(policy)


def checked_form(policy: Policy) -> dict[str, Any] | None:
    """The compiled form a clean ``check_policy`` of this object kept for ``compile_policy``
    (left there; the same dict it will return), or None. Read it; do not change it."""
    with _PENDING_LOCK:
        kept = _PENDING.get(id(policy))
    return kept[1] if kept is not None and kept[0] is policy else None


def _compile(policy: Policy) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    tree = _TreeCompiler()
    root = tree.sequence(policy.conditions, "conditions", "all")
    compiled = tree.finish(root)
    problems = tree.problems
    if policy.schedule is not None:
        try:
            parse_cron(policy.schedule)
        except ValueError as exc:
            problems.append(("schedule", str(exc)))
    actions = [_compile_action(a, f"actions[{i}]", problems) for i, a in enumerate(policy.actions)]
    _check_examples(policy, problems)
    return {
        "id": policy.id,
        "name": policy.name,
        "priority": policy.priority,
        "enabled": policy.enabled,
        "schedule": policy.schedule or "",
        **compiled,
        "actions": actions,
    }, problems


def check_policy(policy: Policy) -> list[tuple[str, str]]:
    """Every semantic problem of a policy (empty when it compiles).

    A clean compile is kept for the next ``compile_policy`` of this same object.
    """
    compiled, problems = _compile(policy)
    if not problems:
        with _PENDING_LOCK:
            _PENDING[id(policy)] = (policy, compiled)
            while len(_PENDING) > _PENDING_MAX:
                _PENDING.popitem(last=False)
    return problems
