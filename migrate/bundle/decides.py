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

__all__ = ["SYNTHETIC_NOW", "check_bundle_decides", "synthetic_image"]

SYNTHETIC_NOW = "2026-01-01T00:00:00Z"
_QUERY = (
    "r := [[id, x] | some id, p in data.freightliner.policy_set.policies; "
    "x := data.freightliner.replication.self_check(id, p, input.images[id], "
    "time.parse_rfc3339_ns(input.now))]"
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


def _check_agreement(policies: dict[str, Any], rows: list[Any]) -> None:
    """Each policy's compiled checks (or alternatives), which decisions test, must say
    what its condition tree says (which explanations show) on its synthetic image."""
    for pid, (tree, compiled) in sorted((row[0], row[1]) for row in rows):
        if tree != compiled:
            raise BundleError(
                f"{_where(policies[pid])}policy {pid!r}: its compiled checks decide "
                f"{compiled} where its conditions decide {tree} on a synthetic image "
                "(a translator bug: please report it)"
            )


def check_bundle_decides(bundle: Bundle, data: dict[str, Any] | None = None) -> None:
    """Raise BundleError unless every policy decides its synthetic image without an error.

    ``data``: the bundle's data.json already parsed (or as its builder made it,
    :attr:`~migrate.bundle.builder.BundleBuilder.data`), to save parsing it again.
    """
    if data is None:
        data = bundle.data()
    policies = data.get(BUNDLE_ROOT, {}).get("policy_set", {}).get("policies", {})
    if not policies:
        return
    engine = regorus.Engine()
    engine.set_policy_length_config(max_col=1 << 28, max_file_bytes=1 << 28, max_lines=1 << 24)
    try:
        for path, text in sorted(bundle.modules().items()):
            if not path.endswith("_test.rego"):
                engine.add_policy(path, text)
        engine.add_data_json(json.dumps(rust_policy_data(data)))
    except RegexRefused as exc:
        raise BundleError(f"the embedded engine cannot run the bundle's regex: {exc}") from None
    except BaseException as exc:  # regorus: RuntimeError, or a pyo3 PanicException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        message = engine_message(exc)
        raise BundleError(f"the embedded engine cannot load the bundle: {message}") from None
    images = {pid: synthetic_image(p) for pid, p in policies.items()}
    engine.set_input_json(json.dumps({"images": images, "now": SYNTHETIC_NOW}))
    try:
        rows = json.loads(engine.eval_query_as_json(_QUERY))["result"][0]["bindings"]["r"]
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
    else:
        _check_agreement(policies, rows)
        return
    for pid in sorted(policies):  # which one: evaluate them one by one
        engine.set_input_json(json.dumps({"id": pid, "image": images[pid], "now": SYNTHETIC_NOW}))
        try:
            engine.eval_query_as_json(_ONE)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            raise BundleError(
                f"{_where(policies[pid])}policy {pid!r}: the embedded engine fails to decide "
                "a synthetic image: "
                f"{engine_message(exc)}"
            ) from None
    raise BundleError("the embedded engine fails to decide the synthetic images")
