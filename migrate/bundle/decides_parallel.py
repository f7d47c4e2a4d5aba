"""The decides check of ``policy build`` on every core: runs of the policies, one child each.

:func:`~migrate.bundle.decides.check_bundle_decides` evaluates every policy of a
bundle in one embedded engine; for 10,000 policies that is most of a build's
time on one core. Here the sorted policy ids are cut into consecutive runs, and
each run is checked in a forked child (:class:`~migrate.bundle.background.Background`)
holding the library and only that run's policies (the check reads nothing else
of the data). Each child answers what it found; the refusal raised is the one a
single check of every policy raises (:func:`~migrate.bundle.decides.raise_first`:
the worst kind, then the earliest run, so the first policy in id order), so the
message does not depend on the number of runs. When a run cannot even load its
data (the engine's reason may name a column of the JSON it was given), the
refusal is computed again here with all of the data, as one check does.

The runs: ``FREIGHTLINER_BUILD_WORKERS=N`` (N >= 2) of them, by default as many
as the machine has cores (at most :data:`MAX_RUNS`), and no more than one per
:data:`MIN_RUN` policies. ``FREIGHTLINER_BUILD_WORKERS=1`` checks everything in
this process, in one run. A child that gives no answer is replaced by the same
run checked here.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from functools import partial
from types import TracebackType
from typing import Any

from migrate.bundle.background import Background, forking_allowed
from migrate.bundle.builder import Bundle
from migrate.bundle.decides import (
    LOAD,
    Outcome,
    bundle_policies,
    decides_outcome,
    library_modules,
    policies_data,
    raise_first,
)

__all__ = ["MAX_RUNS", "MIN_RUN", "ParallelDecidesCheck", "run_count", "split_runs"]

#: At most this many runs by default (each child loads the library once).
MAX_RUNS = 8
#: No run of fewer policies (below, a second child costs more than it saves).
MIN_RUN = 1_000


def run_count(policies: int, min_run: int = MIN_RUN) -> int:
    """How many runs check ``policies`` policies (FREIGHTLINER_BUILD_WORKERS, the cores)."""
    if not forking_allowed():
        return 1
    wanted = os.environ.get("FREIGHTLINER_BUILD_WORKERS", "")
    if wanted.isdigit() and int(wanted) >= 1:
        workers = int(wanted)
    else:
        workers = min(
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1, MAX_RUNS
        )
    return max(1, min(workers, policies // max(min_run, 1)))


def split_runs(ids: list[str], runs: int) -> list[list[str]]:
    """``ids`` (sorted) cut into ``runs`` consecutive runs of sizes differing by at most one."""
    runs = max(1, min(runs, len(ids)))
    size, extra = divmod(len(ids), runs)
    out: list[list[str]] = []
    start = 0
    for n in range(runs):
        end = start + size + (1 if n < extra else 0)
        out.append(ids[start:end])
        start = end
    return out


class ParallelDecidesCheck:
    """The decides check of ``bundle`` (its library) with ``data`` (as built), started on
    entering (one forked child per run) and answered by :meth:`wait`. ``data`` must not be
    changed until then (a child's fallback reads it). Leaving the block without
    :meth:`wait` stops the children."""

    def __init__(
        self,
        bundle: Bundle,
        data: dict[str, Any],
        *,
        runs: int | None = None,
        min_run: int = MIN_RUN,
    ) -> None:
        self._modules = library_modules(bundle)
        self._data = data
        ids = self._ids = sorted(bundle_policies(data))
        count = run_count(len(ids), min_run) if runs is None else runs
        self.runs = split_runs(ids, count) if ids else []
        self._stack = ExitStack()
        self._workers: list[Background[Outcome | None]] = []
        self._waited = False

    def _check(self, ids: list[str]) -> Outcome | None:
        data = self._data if len(self.runs) == 1 else policies_data(self._data, ids)
        return decides_outcome(self._modules, data, ids)

    def __enter__(self) -> ParallelDecidesCheck:
        for ids in self.runs:
            work: Background[Outcome | None] = Background(partial(self._check, ids))
            self._workers.append(self._stack.enter_context(work))
        return self

    def wait(self) -> None:
        """Return when every policy decides; raise the refusal one check would raise."""
        if not self._waited:
            self._waited = True
            outcomes = [work.result() for work in self._workers]
            if len(self.runs) > 1 and any(o is not None and o[0] == LOAD for o in outcomes):
                # The engine's reason for not loading data can name a place in the JSON
                # it was given (a NaN: "expected value at line 1 column 228"): say what
                # one check of every policy says, with all of the data, here.
                outcomes = [decides_outcome(self._modules, self._data, sorted(self._ids))]
            raise_first(outcomes)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()
