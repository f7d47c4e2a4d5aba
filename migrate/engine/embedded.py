"""EmbeddedEngine: evaluates a bundle in-process with regorus (no sidecar).

regorus (PyPI ``gordon-to-regorus``, pinned) is a Rego interpreter; the
tests check that its decisions equal OPA's on the same bundles.
"""

from __future__ import annotations

import itertools
import json
import threading
import weakref
from collections import OrderedDict
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
from migrate.contract.provenance import Provenance, Traced
from migrate.core.clock import now_rfc3339
from migrate.core.engine_message import engine_message
from migrate.core.errors import EngineError, UndefinedDecision
from migrate.patterns.dialect import RegexRefused, rust_policy_data

__all__ = ["EmbeddedEngine", "thread_engine_count"]

_DECISION_RULE = "data." + DECISION_PATH.replace("/", ".")
_BATCH_RULE = "data.freightliner.replication.decisions"
_UNDEFINED = "<undefined>"

#: How many compiled engines one thread keeps (LRU). One: after a reload each thread holds
#: only the new revision's engine, so memory after many reloads is memory after the first.
ENGINES_PER_THREAD = 1
# One cache per thread, for the life of the process (never garbage-collected, so the
# per-thread entries are only ever dropped by their own thread: on eviction here, or by
# CPython when the thread ends, which also runs on that thread).
_THREAD_ENGINES = threading.local()
_KEYS = itertools.count(1)


def _thread_engine(owner: EmbeddedEngine) -> Any:
    """This thread's regorus engine for ``owner``, compiled on first use.

    regorus engines are "unsendable": created, used and dropped on one thread.
    Dropping one elsewhere (e.g. the bundle watcher releasing a replaced bundle)
    raises in the destructor and leaks the engine. So no :class:`EmbeddedEngine`
    holds a regorus engine itself; each thread keeps its own in a thread-local
    LRU of :data:`ENGINES_PER_THREAD`, and evicts (drops) them itself: entries
    whose owner is gone first, then the least recently used.
    """
    cache: OrderedDict[int, tuple[weakref.ref[EmbeddedEngine], Any]] | None = getattr(
        _THREAD_ENGINES, "engines", None
    )
    if cache is None:
        cache = _THREAD_ENGINES.engines = OrderedDict()
    entry = cache.get(owner.key)
    if entry is not None:
        cache.move_to_end(owner.key)
        return entry[1]
    for key in [k for k, (ref, _) in cache.items() if ref() is None]:
        del cache[key]  # the owner is gone: drop its engine here, on the thread that made it
    while len(cache) >= ENGINES_PER_THREAD:
        cache.popitem(last=False)  # before compiling, so two engines never coexist needlessly
    engine = owner.new_engine()
    cache[owner.key] = (weakref.ref(owner), engine)
    return engine


def thread_engine_count() -> int:
    """How many compiled engines the calling thread holds (for tests and diagnostics)."""
    cache = getattr(_THREAD_ENGINES, "engines", None)
    return len(cache) if cache is not None else 0


class EmbeddedEngine:
    """A DecisionEngine over one bundle's modules and data, evaluated by regorus.

    regorus engines cannot cross threads: each thread compiles its own engine
    from the bundle's modules and data on first use, keeps it in its own cache
    and drops it itself (see :func:`_thread_engine`). An EmbeddedEngine may be
    released on any thread.
    """

    def __init__(self, modules: dict[str, str], data: dict[str, Any], revision: str = "") -> None:
        self._modules = {p: t for p, t in sorted(modules.items()) if not p.endswith("_test.rego")}
        try:
            # Bundles keep Go's (OPA's) regexes; regorus gets the same language in Rust's
            # syntax (ASCII classes, (?-u:\b); migrate/patterns/dialect.py).
            self._data_json = json.dumps(rust_policy_data(data))
        except RegexRefused as exc:
            raise EngineError(f"the embedded engine cannot run the bundle's regex: {exc}") from exc
        self._revision = revision
        self.key = next(_KEYS)
        self._engine()  # compile now, so a bad bundle fails here and not at the first decision

    def new_engine(self) -> Any:
        """A new regorus engine with this bundle loaded (owned by the calling thread)."""
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
        return _thread_engine(self)

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

    def decide_traced(
        self, image: ImageMetadata, now: str | None = None, *, explain: bool = False
    ) -> Traced:
        return self.decide(image, now, explain=explain), Provenance("embedded", self._revision)

    def decide_many_traced(
        self, images: Sequence[ImageMetadata], now: str | None = None
    ) -> list[Traced]:
        provenance = Provenance("embedded", self._revision)
        if len(images) == 1:
            return [(self.decide(images[0], now), provenance)]
        return [(d, provenance) for d in self.decide_many(images, now)]

    def close(self) -> None:
        """Drop the calling thread's engine for this bundle; other threads drop theirs when
        they next decide (an engine may only be dropped by its own thread)."""
        cache = getattr(_THREAD_ENGINES, "engines", None)
        if cache is not None:
            cache.pop(self.key, None)
