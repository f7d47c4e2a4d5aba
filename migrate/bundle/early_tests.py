"""The generated tests of the policies loaded first, made while the rest still loads.

``policy build`` of a large file checks its later policies' conditions in a
child (:mod:`migrate.bundle.prewarm`); when that child has answered, the other
core would wait for the index. :class:`EarlyTests` uses it: a forked child
(:class:`~migrate.bundle.background.Background`) generates the test modules of
the policies loaded so far, from the compiled forms their check kept (the very
dicts the builder compiles them to, before the index and the optimiser touch
them); the builder generates the others' and adds both
(:meth:`~migrate.bundle.builder.BundleBuilder.build`). The modules are the ones
the builder would make itself: the bundle's bytes do not change. A child that
gives no answer is replaced by the same work here (compiling again: by then
the compiled forms were optimised in place).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from migrate.bundle.background import Background, forking_allowed
from migrate.bundle.testgen import policy_test_module
from migrate.policy.model import LoadedPolicy
from migrate.policy.semantics import checked_form, compile_policy

__all__ = ["MIN_BATCH", "EarlyTests", "test_modules"]

Modules = list[tuple[str, bytes]]


def test_modules(
    tested: list[tuple[LoadedPolicy, dict[str, Any]]], *, recompile: bool = False
) -> Modules:
    """The generated test modules (path, content) of the compiled policies. ``recompile``:
    compile each again first (when the compiled forms may have been optimised since)."""
    modules: Modules = []
    for loaded, policy in tested:
        if recompile:
            policy, _ = compile_policy(loaded.policy)
            policy["source"] = {"file": loaded.file, "line": loaded.line}
        module = policy_test_module(loaded, policy)
        if module is not None:
            modules.append((module[0], module[1].encode("utf-8")))
    return modules


#: A later batch of fewer new policies than this is not started (a fork would not pay).
MIN_BATCH = 500


class EarlyTests:
    """Test modules started early for some policies (:meth:`start`); :attr:`ids` are theirs.

    A context manager: leaving it stops a child whose answer was not taken."""

    def __init__(self, min_batch: int = MIN_BATCH) -> None:
        self.ids: frozenset[str] = frozenset()
        self._works: list[Background[Modules]] = []
        self._covered = 0  # how many of the loaded policies the batches cover
        self._min_batch = min_batch

    def start(self, loaded: list[LoadedPolicy]) -> None:
        """Generate the tests of the loaded (checked) policies not covered yet in a forked
        child (where forking is allowed): the first call, then a later one only when the
        previous batch is done (the other core is free) and at least ``min_batch``
        policies were loaded since. ``loaded``: the policies loaded so far, in order."""
        if not forking_allowed() or len(loaded) <= self._covered:
            return
        if self._works and (
            not self._works[-1].done() or len(loaded) - self._covered < self._min_batch
        ):
            return
        tested = []
        for item in loaded[self._covered :]:
            compiled = checked_form(item.policy)
            if compiled is not None:
                tested.append((item, compiled))
        ids = [item.policy.id for item, _ in tested]
        if not tested or len(set(ids)) != len(ids) or self.ids.intersection(ids):
            return  # a duplicate id fails the build; nothing (more) to do early
        self._covered = len(loaded)
        self.ids = self.ids | frozenset(ids)
        work = Background(
            lambda: test_modules(tested), lambda: test_modules(tested, recompile=True)
        )
        self._works.append(work.__enter__())

    def result(self) -> Modules:
        """The modules of :attr:`ids`, batch by batch (none when nothing was started)."""
        modules: Modules = []
        while self._works:
            work = self._works.pop(0)
            try:
                modules += work.result()
            finally:
                work.__exit__(None, None, None)
        return modules

    def __enter__(self) -> EarlyTests:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        while self._works:
            self._works.pop(0).__exit__(kind, value, traceback)
