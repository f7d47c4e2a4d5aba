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

__all__ = ["EarlyTests", "test_modules"]

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


class EarlyTests:
    """Test modules started early for some policies (:meth:`start`); :attr:`ids` are theirs.

    A context manager: leaving it stops a child whose answer was not taken."""

    def __init__(self) -> None:
        self.ids: frozenset[str] = frozenset()
        self._work: Background[Modules] | None = None

    def start(self, loaded: list[LoadedPolicy]) -> None:
        """Generate the tests of these loaded (checked) policies in a forked child; only
        the first call counts, and only where forking is allowed."""
        if self._work is not None or not forking_allowed():
            return
        tested = []
        for item in loaded:
            compiled = checked_form(item.policy)
            if compiled is not None:
                tested.append((item, compiled))
        ids = [item.policy.id for item, _ in tested]
        if not tested or len(set(ids)) != len(ids):
            return  # a duplicate id fails the build; nothing to do early
        self.ids = frozenset(ids)
        work = Background(
            lambda: test_modules(tested), lambda: test_modules(tested, recompile=True)
        )
        self._work = work.__enter__()

    def result(self) -> Modules:
        """The modules of :attr:`ids` (none when nothing was started)."""
        if self._work is None:
            return []
        work, self._work = self._work, None
        try:
            return work.result()
        finally:
            work.__exit__(None, None, None)

    def __enter__(self) -> EarlyTests:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._work is not None:
            self._work.__exit__(kind, value, traceback)
            self._work = None
