"""Generated per-policy tests: one ``_test.rego`` module per policy.

Tests come from two places:

* the policy's ``examples`` (an image, whether the policy matches it, its
  replicate targets, optionally the whole bundle's decision);
* derived cases: for every leaf condition with an obvious witness (equals,
  in, exists, contains, size comparisons and their negations), an image that
  satisfies it and one that does not, checked against the Rego library; for
  every ``matches`` leaf (and every ``glob``, which compiles to one) at least
  one case - a sample string and whether Go's RE2 (google-re2, the same
  dialect as OPA) finds the pattern in it - so ``opa test`` and the embedded
  engine run every regex of the bundle; and
  when the policy is a plain AND of such leaves on distinct subjects, one image
  meeting all of them (matches) and, for each leaf, the same image with that
  leaf broken (does not match).
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Any

import re2

from migrate.bundle.rego_text import rego_literal, rego_set, render_template
from migrate.contract.image import ImageMetadata
from migrate.policy.model import LoadedPolicy

__all__ = ["package_key", "policy_test_module"]

_BASE_IMAGE: dict[str, Any] = {
    "registry": "registry-x",
    "repository": "repository-x",
    "tag": "tag-x",
    "digest": "sha256:" + "0" * 64,
    "labels": {},
    "annotations": {},
    "size": 1,
    "created_at": "",
    "architecture": "amd64",
    "os": "linux",
    "variant": "",
    "media_type": "",
    "index_digest": "",
}
_NOW = "2026-01-01T00:00:00Z"


def package_key(policy_id: str) -> str:
    """A Rego identifier for a policy id: a readable slug plus a hash of the id."""
    slug = re.sub(r"[^a-z0-9]+", "_", policy_id.lower()).strip("_")[:40] or "policy"
    digest = hashlib.sha256(policy_id.encode("utf-8")).hexdigest()[:8]
    return f"p_{slug}_{digest}"


Setter = tuple[tuple[str, ...], Any]  # (subject path, value or _ABSENT)
_ABSENT = object()


def _subject_path(leaf: dict[str, Any]) -> tuple[str, ...] | None:
    if leaf["type"] in {"tag", "repository", "registry"}:
        return (leaf["type"],)
    if leaf["type"] == "label":
        return ("labels", leaf["key"])
    if leaf["type"] == "annotation":
        return ("annotations", leaf["key"])
    if leaf["type"] == "metadata":
        return (leaf["key"],)
    return None


def _other_string(avoid: list[str]) -> str:
    candidate = "other"
    while candidate in avoid:
        candidate += "-x"
    return candidate


def _witness(leaf: dict[str, Any], satisfy: bool) -> Setter | None:
    """A value for the leaf's subject that makes its *base* operator hold (or not)."""
    path = _subject_path(leaf)
    if path is None:
        return None
    base, arg = leaf["base"], leaf["arg"]
    numeric = leaf["type"] == "metadata" and leaf["key"] == "size"
    keyed = leaf["type"] in {"label", "annotation"}
    if base == "exists":
        if satisfy:
            return path, (5 if numeric else "present")
        return path, (_ABSENT if keyed else (0 if numeric else ""))
    if base == "equals":
        if numeric:
            return path, arg if satisfy else arg + 1
        return path, arg if satisfy else _other_string([arg])
    if base == "in":
        if numeric:
            return path, arg[0] if satisfy else max(arg) + 1
        return path, arg[0] if satisfy else _other_string(arg)
    if base == "matches" and not numeric:
        sample = _regex_sample(arg, satisfy)
        return (path, sample) if sample is not None else None
    if base == "contains" and not numeric:
        if satisfy:
            return path, f"a{arg}b"
        return (path, "") if arg else None
    if numeric and base in {"gt", "gte", "lt", "lte"}:
        values = {
            "gt": (arg + 1, arg),
            "gte": (arg, arg - 1),
            "lt": (arg - 1, arg),
            "lte": (arg, arg + 1),
        }
        value = values[base][0 if satisfy else 1]
        return (path, value) if value >= 0 else None
    return None


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_SAMPLES = ("", "tag-x", "a", "0", "latest", "v1.2.3", "prod", "ΑΒΓ", " ", "-")


@functools.lru_cache(maxsize=65_536)
def _regex_sample(pattern: str, found: bool) -> str | None:
    """A string in which RE2 (Go's dialect) finds ``pattern`` (or does not), if an
    easy one exists: the pattern's literal characters, then a few fixed samples.
    Cached: policies share patterns (the same tag regex in every team's policies)."""
    candidates = _sample_candidates(pattern)
    if candidates is None:
        return None
    regex, samples = candidates
    for sample in samples:
        if (regex.search(sample) is not None) == found:
            return sample
    return None


@functools.lru_cache(maxsize=4_096)
def _sample_candidates(pattern: str) -> tuple[Any, tuple[str, ...]] | None:
    """The compiled pattern and the samples tried, in order (None: RE2 refuses it); kept
    for the second of the two questions asked of each pattern (found, not found)."""
    literal = re.sub(r"\\(.)|[\^$.*+?()\[\]{}|]", lambda m: m.group(1) or "", pattern)
    try:
        regex = re2.compile(pattern, _RE2_OPTIONS)
    except re2.error:
        return None
    return regex, (literal, *_SAMPLES)


def _leaf_witness(leaf: dict[str, Any], truth: bool) -> Setter | None:
    """A setter making the leaf's final truth (negation applied) equal ``truth``."""
    if "base" not in leaf:
        return None
    return _witness(leaf, truth != leaf["negate"])


def _apply(image: dict[str, Any], setter: Setter) -> dict[str, Any]:
    """A copy of ``image`` with the setter applied. Only the mappings along the
    setter's path are copied (the rest is shared and never changed): a deep
    copy per witness was a tenth of a 10,000-policy build."""
    result = dict(image)
    path, value = setter
    target = result
    for step in path[:-1]:
        target[step] = dict(target[step])
        target = target[step]
    if value is _ABSENT:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return result


#: The base image with one subject set, as Rego text, by (path, value type, value): the same
#: label, tag or size is tested in many policies (10,000 policies: about 90,000 images).
_LEAF_IMAGES: dict[tuple[Any, ...], str] = {}
_LEAF_IMAGES_MAX = 65_536
_CACHED_VALUES = (str, int, bool)


def _leaf_image(setter: Setter) -> str:
    """``rego_literal`` of the base image with ``setter`` applied (kept for scalar values:
    the text depends only on the path and the value, and its type: 1 and True differ)."""
    path, value = setter
    if value is not _ABSENT and type(value) not in _CACHED_VALUES:
        return rego_literal(_apply(_BASE_IMAGE, setter))
    key = (path, type(value), value)
    text = _LEAF_IMAGES.get(key)
    if text is None:
        text = rego_literal(_apply(_BASE_IMAGE, setter))
        if len(_LEAF_IMAGES) >= _LEAF_IMAGES_MAX:
            _LEAF_IMAGES.clear()
        _LEAF_IMAGES[key] = text
    return text


def _derived_tests(compiled: dict[str, Any], origin: str) -> list[str]:
    tests: list[str] = []
    policy = f"policy {compiled['id']!r} ({origin})"
    now = f"time.parse_rfc3339_ns({rego_literal(_NOW)})"
    for i, leaf in enumerate(compiled["leaves"]):
        for kind, truth in (("positive", True), ("negative", False)):
            setter = _leaf_witness(leaf, truth)
            if setter is None:
                continue
            tests.append(
                render_template(
                    "leaf_test.rego.tmpl",
                    path=leaf["path"],
                    what=rego_literal(f"{policy}, derived test of {leaf['path']} ({kind} image)"),
                    field=rego_literal(leaf["path"]),
                    expected=rego_literal(truth),
                    kind=kind,
                    number=str(i),
                    leaf_index=str(i),
                    image=_leaf_image(setter),
                    now=now,
                )
            )
    levels = compiled["levels"]
    leaves = compiled["leaves"]
    plain_and = (
        len(levels) == 1
        and levels[0][0]["op"] == "all"
        and levels[0][0]["children"] == list(range(len(leaves)))
        and compiled["enabled"]
    )
    if not plain_and:
        return tests
    setters = [_leaf_witness(leaf, True) for leaf in leaves]
    breakers = [_leaf_witness(leaf, False) for leaf in leaves]
    paths = [s[0] for s in setters if s is not None]
    if None in setters or len(set(paths)) != len(paths):
        return tests
    image = _BASE_IMAGE
    for setter in setters:
        image = _apply(image, setter)  # type: ignore[arg-type]
    tests.append(
        render_template(
            "joint_test.rego.tmpl",
            name="all_conditions_met",
            flipped_note="",
            what=rego_literal(f"{policy}, derived test: an image meeting every condition"),
            expected="true",
            image=rego_literal(image),
            now=now,
        )
    )
    for i, breaker in enumerate(breakers):
        if breaker is None:
            continue
        tests.append(
            render_template(
                "joint_test.rego.tmpl",
                name=f"condition_{i}_broken",
                flipped_note=f" but {leaves[i]['path']}",
                what=rego_literal(
                    f"{policy}, derived test: an image meeting every condition but "
                    f"{leaves[i]['path']}"
                ),
                expected="false",
                image=rego_literal(_apply(image, breaker)),
                now=now,
            )
        )
    return tests


def _example_tests(loaded: LoadedPolicy, origin: str) -> list[str]:
    tests: list[str] = []
    for number, example in enumerate(loaded.policy.examples, start=1):
        what = rego_literal(
            f"policy {loaded.policy.id!r} ({origin}), example {number} "
            f"(examples[{number - 1}], image {example.image.get('repository', '')}:"
            f"{example.image.get('tag', '')})"
        )
        image = ImageMetadata.model_validate(example.image).as_input()
        now_text = example.now or _NOW
        now = f"time.parse_rfc3339_ns({rego_literal(now_text)})"
        source = rego_literal(f"{loaded.file}, policy examples[{number - 1}]")
        common = {
            "number": str(number),
            "source": source,
            "image": rego_literal(image),
            "now": now,
            "what": what,
        }
        tests.append(
            render_template(
                "example_test.rego.tmpl", matched=rego_literal(example.matched), **common
            )
        )
        if example.targets is not None:
            tests.append(
                render_template(
                    "example_targets_test.rego.tmpl", targets=rego_set(example.targets), **common
                )
            )
        if example.decision is not None:
            tests.append(
                render_template(
                    "example_decision_test.rego.tmpl",
                    number=str(number),
                    source=source,
                    what=what,
                    image=rego_literal(image),
                    now_text=rego_literal(now_text),
                    expected=rego_literal(example.decision),
                )
            )
    return tests


def policy_test_module(loaded: LoadedPolicy, compiled: dict[str, Any]) -> tuple[str, str] | None:
    """(path inside the bundle, module text) of a policy's tests; None when it has none."""
    origin = f"{loaded.file}:{loaded.line}" if loaded.line is not None else loaded.file
    tests = _example_tests(loaded, origin) + _derived_tests(compiled, origin)
    if not tests:
        return None
    key = package_key(loaded.policy.id)
    text = render_template(
        "policy_test.rego.tmpl",
        title=rego_literal(f"Generated tests for policy {loaded.policy.id}"),
        description=rego_literal(
            f"Generated by freightliner-policy from {origin}. Do not edit: rebuild the bundle."
        ),
        policy_id=rego_literal(loaded.policy.id),
        source=rego_literal(origin),
        package_key=key,
        tests="".join(tests),
    )
    return f"freightliner/generated/{key}/policy_test.rego", text
