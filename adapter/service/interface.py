"""What the service needs from the rest of the adapter, and what it offers.

* :class:`SweepReplicator`: the Replicator as the scheduler uses it: ``plan`` a
  registry (enumerate, metadata, batch decisions, sweep limits; no side effects)
  and its ``executor`` to run a tag's actions.
  :class:`adapter.runner.replicator.RegistryReplicator` implements it.
* The service itself: :class:`adapter.service.app.ServiceApp` (ASGI) over a
  :class:`adapter.service.context.ServiceContext`; :func:`adapter.service.server.serve`
  runs it with uvicorn.
"""

from __future__ import annotations

from typing import Protocol

from adapter.actions.interface import ActionExecutor
from adapter.runner.interface import ImageReference, Replicator
from adapter.runner.selection import TagPlan

__all__ = ["SweepReplicator"]


class SweepReplicator(Replicator, Protocol):
    """A :class:`Replicator` whose two halves (planning, executing) can be called apart."""

    @property
    def executor(self) -> ActionExecutor: ...

    def plan(self, reference: ImageReference) -> list[TagPlan]: ...
