"""EmbeddedEngine: evaluates a bundle in-process with regorus (no sidecar).

regorus (PyPI ``gordon-to-regorus``, pinned) is a Rego interpreter; the
tests check that its decisions equal OPA's on the same bundles.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import regorus

from migrate.contract.decision import (
    DECISION_PATH,
    ReplicationDecision,
    parse_decision,
    parse_decision_json,
)
from migrate.contract.image import ImageMetadata
from migrate.core.clock import now_rfc3339
from migrate.core.engine_message import engine_message
from migrate.core.errors import EngineError, UndefinedDecision
from migrate.patterns.dialect import RegexRefused, rust_policy_data

__all__ = ["EmbeddedEngine"]

_DECISION_RULE = "data." + DECISION_PATH.replace("/", ".")
_BATCH_RULE = "data.freightliner.replication.decisions"
_UNDEFINED = "<undefined>"


class EmbeddedEngine:
    """A DecisionEngine over one bundle's modules and data, evaluated by regorus.

    regorus engines cannot cross threads: each thread compiles its own engine
    from the bundle's modules and data on first use.
    """

    def __init__(self, modules: dict[str, str], data: dict[str, Any], revision: str = "") -> None:
        self._modules = {p: t for p, t in sorted(modules.items()) if not p.endswith("_test.rego")}
        try:
            # Bundles keep Go's (OPA's) regexes; regorus gets the same language in Rust's
            # syntax (ASCII classes, (?-u:\b); migrate/patterns/dialect.py).
            self._data_json = json.dumps(rust_policy_data(data))
        except RegexRefused as exc:
            raise EngineError(f"the embedded engine cannot run the bundle's regex: {exc}") from None
        self._local = threading.local()
        self._revision = revision
        self._engine()  # compile now, so a bad bundle fails here and not at the first decision

    def _new_engine(self) -> Any:
        engine = regorus.Engine()
        try:
            for path, text in self._modules.items():
                engine.add_policy(path, text)
            engine.add_data_json(self._data_json)
        except (RuntimeError, ValueError) as exc:
            raise EngineError(
                f"the embedded engine rejected the bundle: {engine_message(exc)}"
            ) from exc
        return engine

    @classmethod
    def from_bundle(cls, path: Path) -> EmbeddedEngine:
        """Load a built bundle (directory or ``.tar.gz``)."""
        from migrate.bundle.builder import read_bundle

        bundle = read_bundle(path)
        return cls(bundle.modules(), bundle.data(), bundle.revision)

    @property
    def revision(self) -> str:
        return self._revision

    def _engine(self) -> Any:
        # regorus engines are bound to the thread that made them ("unsendable"):
        # each thread compiles its own from the same modules and data.
        engine = getattr(self._local, "engine", None)
        if engine is None:
            engine = self._local.engine = self._new_engine()
        return engine

    def evaluate(self, rule: str, input_value: dict[str, Any]) -> Any:
        """Evaluate a rule; raises UndefinedDecision when it is undefined."""
        engine = self._engine()
        try:
            engine.set_input_json(json.dumps(input_value))
            value = json.loads(engine.eval_rule_as_json(rule))
        except RuntimeError as exc:
            raise EngineError(f"evaluation of {rule} failed: {engine_message(exc)}") from exc
        # regorus reports an undefined rule as this marker string; the contract's
        # rules are an object and an array, so the marker cannot be a real value.
        if value == _UNDEFINED:
            raise UndefinedDecision(f"{rule} is undefined")
        return value

    def decide(
        self, image: ImageMetadata, now: str | None = None, *, explain: bool = False
    ) -> ReplicationDecision:
        """The decision; ``explain`` adds every candidate's condition lines (docs/contract.md)."""
        # The hot path: pydantic writes and reads the JSON itself (in Rust).
        flag = ', "explain": true' if explain else ""
        input_json = (
            f'{{"image": {image.model_dump_json()}, "now": {json.dumps(now or now_rfc3339())}'
            f"{flag}}}"
        )
        engine = self._engine()
        try:
            engine.set_input_json(input_json)
            raw = engine.eval_rule_as_json(_DECISION_RULE)
        except RuntimeError as exc:
            raise EngineError(
                f"evaluation of {_DECISION_RULE} failed: {engine_message(exc)}"
            ) from exc
        if raw.strip() == json.dumps(_UNDEFINED):
            raise UndefinedDecision(f"{_DECISION_RULE} is undefined")
        return parse_decision_json(raw)

    def decide_many(
        self, images: Sequence[ImageMetadata], now: str | None = None, *, explain: bool = False
    ) -> list[ReplicationDecision]:
        if not images:
            return []
        query: dict[str, Any] = {
            "images": [i.as_input() for i in images],
            "now": now or now_rfc3339(),
        }
        if explain:
            query["explain"] = True
        value = self.evaluate(_BATCH_RULE, query)
        return [parse_decision(v) for v in value]

    def close(self) -> None:
        self._local = threading.local()
