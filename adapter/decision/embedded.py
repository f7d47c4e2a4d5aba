"""EmbeddedEngine: evaluates a bundle in-process with regorus (no sidecar).

regorus (PyPI ``gordon-to-regorus``, pinned) is a Rego interpreter; the
tests check that its decisions equal OPA's on the same bundles.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import regorus
from pydantic import ValidationError

from adapter.decision.interface import DECISION_PATH
from adapter.decision.model import ReplicationDecision
from adapter.errors import EngineError, UndefinedDecision
from adapter.metadata.model import ImageMetadata

__all__ = ["EmbeddedEngine", "now_rfc3339"]

_DECISION_RULE = "data." + DECISION_PATH.replace("/", ".")
_BATCH_RULE = "data.freightliner.replication.decisions"
_UNDEFINED = "<undefined>"


def now_rfc3339() -> str:
    """The current time as the contract's ``input.now``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class EmbeddedEngine:
    """A DecisionEngine over one bundle's modules and data, evaluated by regorus.

    regorus engines cannot cross threads: each thread compiles its own engine
    from the bundle's modules and data on first use.
    """

    def __init__(self, modules: dict[str, str], data: dict[str, Any], revision: str = "") -> None:
        self._modules = {p: t for p, t in sorted(modules.items()) if not p.endswith("_test.rego")}
        self._data_json = json.dumps(data)
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
            raise EngineError(f"the embedded engine rejected the bundle: {exc}") from None
        return engine

    @classmethod
    def from_bundle(cls, path: Path, verification: Any = None) -> EmbeddedEngine:
        """Load a built bundle (directory or ``.tar.gz``); its signature is checked
        first when ``verification`` (a VerificationConfig) is given."""
        from migrate.bundle.builder import read_bundle

        bundle = read_bundle(path, verification)
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
            raise EngineError(f"evaluation of {rule} failed: {exc}") from None
        # regorus reports an undefined rule as this marker string; the contract's
        # rules are an object and an array, so the marker cannot be a real value.
        if value == _UNDEFINED:
            raise UndefinedDecision(f"{rule} is undefined")
        return value

    def decide(self, image: ImageMetadata, now: str | None = None) -> ReplicationDecision:
        # The hot path: pydantic writes and reads the JSON itself (in Rust).
        input_json = (
            f'{{"image": {image.model_dump_json()}, "now": {json.dumps(now or now_rfc3339())}}}'
        )
        engine = self._engine()
        try:
            engine.set_input_json(input_json)
            raw = engine.eval_rule_as_json(_DECISION_RULE)
        except RuntimeError as exc:
            raise EngineError(f"evaluation of {_DECISION_RULE} failed: {exc}") from None
        if raw.strip() == json.dumps(_UNDEFINED):
            raise UndefinedDecision(f"{_DECISION_RULE} is undefined")
        try:
            return ReplicationDecision.model_validate_json(raw)
        except ValidationError as exc:
            raise EngineError(f"the decision document does not match the contract: {exc}") from None

    def decide_many(
        self, images: Sequence[ImageMetadata], now: str | None = None
    ) -> list[ReplicationDecision]:
        if not images:
            return []
        value = self.evaluate(
            _BATCH_RULE, {"images": [i.as_input() for i in images], "now": now or now_rfc3339()}
        )
        return [_parse(v) for v in value]

    def close(self) -> None:
        self._local = threading.local()


def _parse(value: Any) -> ReplicationDecision:
    try:
        return ReplicationDecision.model_validate(value)
    except ValidationError as exc:
        raise EngineError(f"the decision document does not match the contract: {exc}") from None
