"""A policy that failed its schema, made checkable so its other problems are found too.

The schema (pydantic) reports every shape problem of a policy, but a policy
that fails it has no model for the semantic checks (patterns, templates,
cron, targets) to run on. :func:`salvage` neutralises what the schema refused
(an unknown key is dropped, a bad condition or action is replaced by a
harmless stand-in, a bad top-level value falls back to its default) and
validates again, so the semantic checks can run on the rest. The paths it
neutralised are returned: problems under them were reported by the schema
already and are not reported twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from migrate.policy.model import Policy

__all__ = ["salvage"]

_ROUNDS = 6
_STAND_INS: dict[str, Any] = {
    "conditions": {"type": "tag", "operator": "exists"},
    "actions": {"type": "block"},
}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _field(loc: Iterable[Any]) -> str:
    text = ""
    for step in loc:
        text += f"[{step}]" if isinstance(step, int) else ("." if text else "") + str(step)
    return text


def _locations(exc: ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    found = []
    for error in exc.errors():
        loc = tuple(
            s for s in error["loc"] if not (isinstance(s, str) and s.startswith("function-"))
        )
        found.append((loc, str(error["type"])))
    return found


def _neutralise(data: dict[str, Any], loc: tuple[str | int, ...], kind: str) -> str:
    """Change ``data`` so the error at ``loc`` goes away; the neutralised field path."""
    if not loc:
        return ""
    if kind == "extra_forbidden":  # a typo: drop the key, keep what is around it
        node: Any = data
        for step in loc[:-1]:
            try:
                node = node[step]
            except (KeyError, IndexError, TypeError):
                return ""
        if isinstance(node, dict):
            node.pop(loc[-1], None)
            return _field(loc)
    head = loc[0]
    if (
        isinstance(head, str)
        and head in _STAND_INS
        and len(loc) > 1
        and isinstance(loc[1], int)
        and isinstance(data.get(head), list)
        and loc[1] < len(data[head])
    ):
        data[head][loc[1]] = dict(_STAND_INS[head])
        return _field(loc[:2])
    if head == "id":
        data["id"] = "salvaged"
        return "id"
    if isinstance(head, str):
        data.pop(head, None)
        return head
    return ""


def salvage(raw: dict[str, Any], first: ValidationError) -> tuple[Policy | None, set[str]]:
    """(a model of what is left of ``raw``, the neutralised field paths); the model is
    ``None`` when nothing checkable remains."""
    data: dict[str, Any] = _plain(raw)
    skipped: set[str] = set()
    error: ValidationError | None = first
    for _ in range(_ROUNDS):
        if error is None:
            break
        for loc, kind in _locations(error):
            skipped.add(_neutralise(data, loc, kind))
        try:
            return Policy.model_validate(data), skipped - {""}
        except ValidationError as again:
            error = again
    return None, skipped - {""}
