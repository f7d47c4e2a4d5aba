"""The condition catalogue: which types take which operators and values,
and how each leaf compiles to the form the Rego library evaluates.

A compiled leaf is a JSON object::

    {"path": "conditions[0]", "type": "label", "key": "environment",
     "operator": "equals", "value": "environment=production",
     "base": "equals", "negate": false, "arg": "production"}

``base`` is one of the Rego library's base operators (exists, equals, in,
matches, contains, gt, gte, lt, lte, semver); ``negate`` turns it into its
``not_*`` form (``legacy_semver``, the legacy sync's semver_constraint dialect
for converted policies, has none); ``arg`` is the normalised argument (a regex for ``glob``, a
byte count for sizes, nanoseconds for ages, for semver ``{"alternatives": comparator
lists, "prerelease": true or the major.minor.patch each alternative names with a
prerelease}``).
"""

from __future__ import annotations

from typing import Any

from migrate.patterns.dialect import RegexRefused, check_regex
from migrate.patterns.glob import glob_to_re2
from migrate.patterns.gosemver import InvalidConstraint, compile_constraint
from migrate.policy.model import ConditionNode
from migrate.policy.values import parse_duration_ns, parse_size, semver_condition_arg

__all__ = [
    "CONDITION_TYPES",
    "METADATA_KEYS",
    "OPERATORS",
    "ConditionError",
    "compile_leaf",
    "remember_arguments",
]

CONDITION_TYPES = ("tag", "repository", "registry", "label", "annotation", "metadata", "age")
METADATA_KEYS = (
    "architecture",
    "os",
    "variant",
    "digest",
    "created_at",
    "size",
    "media_type",
    "index_digest",
)
_STRING_OPERATORS = {
    "equals",
    "not_equals",
    "in",
    "not_in",
    "matches",
    "not_matches",
    "glob",
    "not_glob",
    "contains",
    "not_contains",
    "exists",
    "not_exists",
    "semver",
    "legacy_semver",
}
_SIZE_OPERATORS = {
    "equals",
    "not_equals",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "exists",
    "not_exists",
}
_AGE_OPERATORS = {"older_than", "newer_than"}
OPERATORS = tuple(sorted(_STRING_OPERATORS | _SIZE_OPERATORS | _AGE_OPERATORS))
_KEYED = {"label", "annotation", "metadata"}


class ConditionError(ValueError):
    """A bad leaf condition; ``field`` names the offending key (type, operator, key, value)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _string(value: Any, what: str = "value") -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string (quote it in YAML), got {value!r}")
    return value


def _check_regex(pattern: str, what: str = "pattern") -> str:
    """Accepted only if Go (OPA) and Rust (embedded engine) both accept it (dialect.py)."""
    try:
        return check_regex(pattern)
    except RegexRefused as exc:
        shown = pattern if len(pattern) <= 200 else pattern[:120] + "…"
        raise ValueError(f"invalid RE2 {what} {shown!r}: refused by {exc.engine}: {exc}") from exc


def _split_key(node: ConditionNode, op: str) -> tuple[str, Any]:
    """For label/annotation/metadata: the key and the compared value."""
    try:
        return _split_key_unchecked(node, op)
    except ConditionError:
        raise
    except ValueError as exc:
        raise ConditionError("key" if node.key is not None else "value", str(exc)) from exc


def _split_key_unchecked(node: ConditionNode, op: str) -> tuple[str, Any]:
    if node.key is not None:
        return _string(node.key, "key"), node.value
    if op in {"exists", "not_exists"}:
        return _string(node.value, "value (the key)"), None
    if op in {"in", "not_in"}:
        if not isinstance(node.value, list) or not node.value:
            raise ValueError("'in' takes a non-empty list of 'key=value' strings (or set 'key')")
        pairs = [_string(v, "each item").partition("=") for v in node.value]
        keys = {k for k, sep, _ in pairs if sep}
        if len(keys) != 1 or any(not sep for _, sep, _ in pairs):
            raise ValueError("'in' without 'key' needs items 'key=value' with one common key")
        return keys.pop(), [v for _, _, v in pairs]
    text = _string(node.value)
    key, sep, rest = text.partition("=")
    if not sep or not key:
        raise ValueError(f"value {text!r} must be 'key=value' (or set 'key')")
    return key, rest


#: _argument's answers for scalar values: a policy set repeats the same tag regexes,
#: durations and sizes thousands of times, and checking a regex (both engines) or a
#: glob costs far more than a lookup. Only immutable answers are kept (and refusals,
#: as their message); bounded (cleared when full).
_ARGUMENTS: dict[tuple[Any, ...], tuple[bool, Any]] = {}
_ARGUMENTS_MAX = 100_000
_SCALARS = (str, int, float, bool, type(None))
_IMMUTABLE = (str, int, float, bool, type(None))


def remember_arguments(answers: dict[tuple[Any, ...], tuple[bool, Any]]) -> None:
    """Keep answers :func:`_argument` computed elsewhere (migrate.policy.prewarm: the same
    pure function, in a forked child), within the bound."""
    if len(_ARGUMENTS) + len(answers) > _ARGUMENTS_MAX:
        _ARGUMENTS.clear()
    if len(answers) <= _ARGUMENTS_MAX:
        _ARGUMENTS.update(answers)


def _argument(ctype: str, key: str, op: str, value: Any, include_prerelease: bool = False) -> Any:
    """Validate and normalise the value of one leaf; returns the Rego ``arg``."""
    if type(value) not in _SCALARS:
        return _compute_argument(ctype, key, op, value, include_prerelease)
    # the type is part of the key: 1, 1.0 and True are equal keys of a dict
    cache_key = (ctype, key, op, type(value), value, include_prerelease)
    known = _ARGUMENTS.get(cache_key)
    if known is None:
        try:
            arg = _compute_argument(ctype, key, op, value, include_prerelease)
        except ValueError as exc:
            known = (False, str(exc))
        else:
            if type(arg) not in _IMMUTABLE:
                return arg
            known = (True, arg)
        if len(_ARGUMENTS) >= _ARGUMENTS_MAX:
            _ARGUMENTS.clear()
        _ARGUMENTS[cache_key] = known
    if not known[0]:
        raise ValueError(known[1])
    return known[1]


def _compute_argument(
    ctype: str, key: str, op: str, value: Any, include_prerelease: bool = False
) -> Any:
    base = op.removeprefix("not_")
    numeric = ctype == "metadata" and key == "size"
    if base == "exists":
        return None
    if ctype == "age" or (ctype == "metadata" and key == "created_at" and op in _AGE_OPERATORS):
        return parse_duration_ns(value)
    if numeric:
        if base == "in":
            if not isinstance(value, list) or not value:
                raise ValueError("'in' takes a non-empty list of sizes")
            return [parse_size(v) for v in value]
        return parse_size(value)
    if base == "in":
        if not isinstance(value, list) or not value:
            raise ValueError("'in' takes a non-empty list of strings")
        return [_string(v, "each item") for v in value]
    if base == "matches":
        return _check_regex(_string(value))
    if base == "glob":
        regex = glob_to_re2(_string(value))
        if regex is None:
            raise ValueError(f"invalid glob pattern {value!r}")
        return _check_regex(regex, f"pattern compiled from glob {value!r}")
    if base == "semver":
        return semver_condition_arg(_string(value), include_prerelease)
    if base == "legacy_semver":
        try:
            return compile_constraint(_string(value))
        except InvalidConstraint as exc:
            raise ValueError(f"invalid legacy semver constraint {value!r}: {exc}") from None
    return _string(value)


_BASE = {"glob": "matches", "older_than": "gt", "newer_than": "lt"}


def compile_leaf(node: ConditionNode, path: str) -> dict[str, Any]:
    """Check one leaf condition and compile it; raises ValueError on a bad one."""
    ctype, op = str(node.type), str(node.operator)
    if ctype not in CONDITION_TYPES:
        raise ConditionError(
            "type", f"unknown condition type {ctype!r} (known: {', '.join(CONDITION_TYPES)})"
        )
    if op not in OPERATORS:
        raise ConditionError("operator", f"unknown operator {op!r} (known: {', '.join(OPERATORS)})")
    key = ""
    value = node.value
    if ctype in _KEYED:
        key, value = _split_key(node, op)
        if ctype == "metadata" and key not in METADATA_KEYS:
            raise ConditionError(
                "key", f"unknown metadata key {key!r} (known: {', '.join(METADATA_KEYS)})"
            )
    elif node.key is not None:
        raise ConditionError(
            "key", f"'key' is only for label, annotation and metadata conditions, not {ctype!r}"
        )
    if ctype == "age" or (ctype == "metadata" and key == "created_at" and op in _AGE_OPERATORS):
        allowed = _AGE_OPERATORS
        ctype, key = "age", ""
    elif ctype == "metadata" and key == "size":
        allowed = _SIZE_OPERATORS
    else:
        allowed = _STRING_OPERATORS
    if op not in allowed:
        raise ConditionError(
            "operator", f"operator {op!r} does not apply to {ctype}{'.' + key if key else ''}"
        )
    if node.include_prerelease is not None and op.removeprefix("not_") != "semver":
        raise ConditionError(
            "include_prerelease", f"include_prerelease applies to semver conditions, not {op!r}"
        )
    try:
        arg = _argument(ctype, key, op, value, bool(node.include_prerelease))
    except ValueError as exc:
        raise ConditionError("value", str(exc)) from exc
    negate = op.startswith("not_")
    base = _BASE.get(op.removeprefix("not_"), op.removeprefix("not_"))
    subject = {"label": ["labels", key], "annotation": ["annotations", key], "metadata": [key]}.get(
        ctype, [ctype]
    )
    about = {"path": path, "type": ctype, "key": key, "operator": op, "value": node.value}
    return {
        "about": about,  # what an explanation shows of this leaf, beside its result
        "path": path,
        "type": ctype,
        "key": key,
        "subject": subject if ctype != "age" else ["age_ns"],  # see facts in the Rego library
        "operator": op,
        "value": node.value,
        "base": base,
        "negate": negate,
        "arg": arg,
    }
