"""A bundle is published only if it decides.

Before ``policy build`` writes a bundle, ``freightliner-migrate convert``
writes its output and ``serve`` publishes a reload, every policy of the bundle
decides a synthetic image in the embedded engine (regorus, with the bundle's
regexes translated as :class:`~migrate.engine.embedded.EmbeddedEngine`
translates them) without an engine error. The synthetic image of a policy has
every label and annotation its conditions name, so every leaf (every regex)
is evaluated, both as the explanation evaluates it (the condition tree) and as
a decision does (the compiled checks or alternatives), and the two must agree.
An engine error is a :class:`~migrate.core.errors.BundleError` naming
the policy and the engine's one-line reason.
"""

from __future__ import annotations

import json
from typing import Any

import regorus

from migrate.bundle.builder import BUNDLE_ROOT, Bundle
from migrate.core.engine_message import engine_message
from migrate.core.errors import BundleError
from migrate.patterns.dialect import RegexRefused, rust_policy_data

__all__ = [
    "DISAGREEMENT",
    "ENGINE_ERROR",
    "LOAD",
    "SYNTHETIC_NOW",
    "UNNAMED_ERROR",
    "Outcome",
    "bundle_policies",
    "check_bundle_decides",
    "decides_outcome",
    "library_modules",
    "policies_data",
    "raise_first",
    "synthetic_image",
]

SYNTHETIC_NOW = "2026-01-01T00:00:00Z"
# What self_check gives, for every policy at once, with the facts computed once for both
# sides (facts_at is facts under the clock, as evaluate_policy computes them: the library's
# test_facts_at_is_facts_under_the_clock): a fifth of the evaluation less. Kept here, not
# in the library, so that bundles stay byte for byte what they were.
_QUERY = (
    "r := [[id, x] | some id, p in data.freightliner.policy_set.policies; "
    "image := input.images[id]; "
    "facts := data.freightliner.conditions.facts_at(image, time.parse_rfc3339_ns(input.now)); "
    "x := [data.freightliner.replication._evaluate(p, image, facts).matched, "
    "id in data.freightliner.replication.passing({id}, facts)]]"
)
_ONE = (
    "r := data.freightliner.replication.self_check(input.id, "
    "data.freightliner.policy_set.policies[input.id], input.image, "
    "time.parse_rfc3339_ns(input.now))"
)


def synthetic_image(policy: dict[str, Any]) -> dict[str, Any]:
    """An image with every label and annotation the policy's conditions name."""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for leaf in policy.get("leaves", []):
        if not isinstance(leaf, dict):
            continue
        if leaf.get("type") == "label":
            labels[str(leaf.get("key", ""))] = "synthetic"
        elif leaf.get("type") == "annotation":
            annotations[str(leaf.get("key", ""))] = "synthetic"
    return {
        "registry": "synthetic-registry",
        "repository": "synthetic/repository",
        "tag": "synthetic-tag",
        "digest": "sha256:" + "0" * 64,
        "labels": labels,
        "annotations": annotations,
        "size": 1,
        "created_at": "2025-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "variant": "",
        "media_type": "",
        "index_digest": "",
    }


def _where(policy: dict[str, Any]) -> str:
    source = policy.get("source") or {}
    return f"{source.get('file')}:{source.get('line')}: " if source.get("file") else ""


def _disagreement(policies: dict[str, Any], rows: list[Any]) -> Outcome | None:
    """Each policy's compiled checks (or alternatives), which decisions test, must say
    what its condition tree says (which explanations show) on its synthetic image: the
    first (in id order) that does not."""
    for pid, (tree, compiled) in sorted((row[0], row[1]) for row in rows):
        if tree != compiled:
            return DISAGREEMENT, (
                f"{_where(policies[pid])}policy {pid!r}: its compiled checks decide "
                f"{compiled} where its conditions decide {tree} on a synthetic image "
                "(a translator bug: please report it)"
            )
    return None


#: What one check of some policies found, worst first: the bundle cannot be loaded; a named
#: policy fails to decide; the evaluation of all of them failed but none alone does; a named
#: policy's checks disagree with its conditions. See :func:`raise_first`.
LOAD, ENGINE_ERROR, UNNAMED_ERROR, DISAGREEMENT = 0, 1, 2, 3
Outcome = tuple[int, str]  # (kind, BundleError message)


def library_modules(bundle: Bundle) -> dict[str, str]:
    """The bundle's modules the check loads (the library; the generated tests play no part)."""
    return {p: t for p, t in bundle.modules().items() if not p.endswith("_test.rego")}


def bundle_policies(data: dict[str, Any]) -> dict[str, Any]:
    """The policies of a bundle's data, by id."""
    policies: dict[str, Any] = data.get(BUNDLE_ROOT, {}).get("policy_set", {}).get("policies", {})
    return policies


def check_bundle_decides(bundle: Bundle, data: dict[str, Any] | None = None) -> None:
    """Raise BundleError unless every policy decides its synthetic image without an error.

    ``data``: the bundle's data.json already parsed (or as its builder made it,
    :attr:`~migrate.bundle.builder.BundleBuilder.data`), to save parsing it again.
    """
    if data is None:
        data = bundle.data()
    policies = bundle_policies(data)
    if not policies:
        return
    raise_first([decides_outcome(library_modules(bundle), data, sorted(policies))])


def raise_first(outcomes: list[Outcome | None]) -> None:
    """Raise the BundleError one check of every policy would raise, given the outcomes of
    checks of consecutive runs of the sorted ids (in that order); return if none refused.

    One check of all of them reports: a load failure before anything else; else, when
    the evaluation failed, the first policy (in id order) that fails alone, or that they
    fail together; else the first policy whose checks disagree. Worst kind first, then
    the earliest run: the same message.
    """
    found = [(o[0], n, o[1]) for n, o in enumerate(outcomes) if o is not None]
    if found:
        raise BundleError(min(found)[2])


def policies_data(data: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    """The part of a bundle's data a check of the policies ``ids`` reads: those policies
    (``self_check`` reads ``policy_set.policies[id]``, nothing of the index)."""
    policies = bundle_policies(data)
    return {BUNDLE_ROOT: {"policy_set": {"policies": {pid: policies[pid] for pid in ids}}}}


def decides_outcome(
    modules: dict[str, str], data: dict[str, Any], ids: list[str]
) -> Outcome | None:
    """Check the policies ``ids`` (sorted) of a bundle's ``data`` in a new embedded engine
    holding the library ``modules`` and ``data`` (all of it, or :func:`policies_data`);
    what it found, or None when each decides and agrees."""
    engine = regorus.Engine()
    engine.set_policy_length_config(max_col=1 << 28, max_file_bytes=1 << 28, max_lines=1 << 24)
    policies = bundle_policies(data)
    chosen = {pid: policies[pid] for pid in ids}
    try:
        for path, text in sorted(modules.items()):
            engine.add_policy(path, text)
        engine.add_data_json(json.dumps(rust_policy_data(data)))
    except RegexRefused as exc:
        return LOAD, f"the embedded engine cannot run the bundle's regex: {exc}"
    except BaseException as exc:  # regorus: RuntimeError, or a pyo3 PanicException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return LOAD, f"the embedded engine cannot load the bundle: {engine_message(exc)}"
    images = {pid: synthetic_image(p) for pid, p in chosen.items()}
    engine.set_input_json(json.dumps({"images": images, "now": SYNTHETIC_NOW}))
    try:
        rows = json.loads(engine.eval_query_as_json(_QUERY))["result"][0]["bindings"]["r"]
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
    else:
        return _disagreement(chosen, rows)
    for pid in ids:  # which one: evaluate them one by one
        engine.set_input_json(json.dumps({"id": pid, "image": images[pid], "now": SYNTHETIC_NOW}))
        try:
            engine.eval_query_as_json(_ONE)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            return ENGINE_ERROR, (
                f"{_where(chosen[pid])}policy {pid!r}: the embedded engine fails to decide "
                "a synthetic image: "
                f"{engine_message(exc)}"
            )
    return UNNAMED_ERROR, "the embedded engine fails to decide the synthetic images"
