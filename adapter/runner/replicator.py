"""RegistryReplicator: the run time pipeline over registries, a decision engine and actions.

A run over a reference (``registry``, ``registry/repo`` or ``registry/repo:tag``):

1. **enumerate** tags: the catalog (every repository) and each repository's
   tags, paginated, in registry order, except the tags that hold referrers
   (``sha256-<hex>``, ``sha256-<hex>.sig|.att|.sbom``: they travel with their
   subject, decided as referrers, ``with_referrers``); a name outside the grammar, or a
   repository whose tags cannot be listed (a ``Link`` to another origin, a
   pagination loop), is ``failed`` with the reason, alone;
2. **metadata**: one ImageMetadata per platform for each tag (bounded
   parallelism ``max_concurrency``; a tag that cannot be read is ``failed``,
   except when the reference names that one tag: then the error is raised);
3. **decide** in batches of ``batch_size`` platform images (``decide_many``:
   one OPA call per batch); one decision per tag from its platforms
   (:func:`adapter.runner.platforms.combine_platforms`);
4. **sweep limits** ``limit`` / ``latest_n`` (:mod:`adapter.runner.selection`);
5. **execute** each tag's actions with the :class:`ActionExecutor`, at most
   ``max_concurrency`` tags at a time; ``dry_run`` plans without writing.

Statuses: ``blocked`` (a block action), ``failed`` (any replication failed,
or the tag could not be read), ``replicated`` (at least one target copied),
``planned`` (dry run), ``skipped`` (every target already had it, or a sweep
limit removed the replication), ``not_replicated`` (no replicate action).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed

from adapter.actions.interface import ActionExecutor, ActionResult
from adapter.decision.interface import DecisionEngine
from adapter.metadata.interface import MetadataSource
from adapter.metadata.registry_source import RegistryMetadataSource
from adapter.registry.client import RegistryClient
from adapter.registry.health import (
    NOT_ATTEMPTED,
    RegistryDown,
    RegistryHealth,
    current_health,
    run_with_health,
)
from adapter.registry.lookup import registry_named
from adapter.registry.reference import InvalidName, check_repository, check_tag, shown
from adapter.registry.referrers import is_referrer_tag
from adapter.runner.interface import (
    CopyRecord,
    ImageOutcome,
    ImageReference,
    OutcomeStatus,
    ProgressCallback,
    RunSummary,
    TotalCallback,
)
from adapter.runner.platforms import combine_platforms
from adapter.runner.referrers import plan_referrers
from adapter.runner.selection import TagPlan, apply_sweep_limits
from migrate.contract.decision import ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.core.errors import FreightlinerError, RegistryError

__all__ = ["RegistryReplicator"]

_log = logging.getLogger("freightliner.runner")


class RegistryReplicator:
    """The run time pipeline: evaluate (no side effects) or replicate what a reference names."""

    def __init__(
        self,
        engine: DecisionEngine,
        source: MetadataSource,
        clients: Mapping[str, RegistryClient],
        executor: ActionExecutor,
        *,
        max_concurrency: int = 10,
        batch_size: int = 100,
        page_size: int | None = None,
    ) -> None:
        if max_concurrency < 1 or batch_size < 1:
            raise ValueError("max_concurrency and batch_size must be >= 1")
        self.engine = engine
        self.source = source
        self.clients = clients
        self.executor = executor
        self.max_concurrency = max_concurrency
        self.batch_size = batch_size
        self.page_size = page_size

    # -- Replicator ----------------------------------------------------------
    def evaluate(
        self, reference: ImageReference
    ) -> list[tuple[ImageMetadata, ReplicationDecision]]:
        """Every readable tag's (first platform's) metadata and the tag's decision."""
        return [(p.image, p.decision) for p in self.plan(reference) if p.decision is not None]

    def replicate(
        self,
        reference: ImageReference,
        *,
        dry_run: bool = False,
        progress: ProgressCallback | None = None,
        on_total: TotalCallback | None = None,
        stop: threading.Event | None = None,
    ) -> RunSummary:
        halt = stop or threading.Event()
        health = RegistryHealth(
            {name: str(getattr(c, "base_url", "?")) for name, c in self.clients.items()}
        )
        plans = run_with_health(health, self.plan, reference)
        if on_total is not None:
            on_total(len(plans))
        outcomes: list[ImageOutcome | None] = [None] * len(plans)
        with ThreadPoolExecutor(
            max_workers=self.max_concurrency, thread_name_prefix="freightliner-run"
        ) as pool:
            futures = {
                pool.submit(run_with_health, health, self._execute, plan, dry_run, halt): i
                for i, plan in enumerate(plans)
            }
            for future in as_completed(futures):
                outcome = future.result()
                outcomes[futures[future]] = outcome
                if progress is not None:
                    progress(outcome)
        return RunSummary(
            [o for o in outcomes if o is not None],
            registries_down={n: d.message for n, d in sorted(health.down.items())},
            interrupted=halt.is_set(),
        )

    # -- planning ------------------------------------------------------------
    def plan(self, reference: ImageReference) -> list[TagPlan]:
        """Steps 1-4: every tag the reference names, with its decision (no side effects).

        A name from the registry outside the grammar (:mod:`adapter.registry.reference`),
        or a repository whose tags cannot be listed, becomes a plan that failed with the
        reason; the other tags go on."""
        plans = list(self._plans(reference))
        single = reference.tag is not None
        readable = [p for p in plans if not p.error]
        health = current_health()
        with ThreadPoolExecutor(
            max_workers=self.max_concurrency, thread_name_prefix="freightliner-meta"
        ) as pool:
            reads = pool.map(lambda p: run_with_health(health, self._read, p), readable)
            for plan, error in zip(readable, reads, strict=True):
                if error is not None:
                    if single:
                        raise error
                    plan.error = error.message
                    _log.warning("cannot read %s: %s", shown(plan.reference), error.message)
        self._decide([p for p in plans if p.platforms])
        apply_sweep_limits(plans)
        return plans

    def tags(self, reference: ImageReference) -> Iterator[tuple[str, str]]:
        """``(repository, tag)`` of every tag the reference names, in registry order;
        names outside the grammar are left out (and logged), nothing is read or decided."""
        for plan in self._plans(reference):
            if not plan.error and plan.tag:
                yield plan.repository, plan.tag

    def _plans(self, reference: ImageReference) -> Iterator[TagPlan]:
        registry = reference.registry
        if reference.repository is not None and reference.tag is not None:
            yield TagPlan(registry, reference.repository, reference.tag)
            return
        client = self._client(registry)
        repositories = (
            [reference.repository]
            if reference.repository is not None
            else list(client.catalog(self.page_size))
        )
        for repository in repositories:
            try:
                check_repository(repository)
            except InvalidName as exc:
                yield _refused(TagPlan(registry, repository, ""), f"registry {registry!r}: {exc}")
                continue
            try:
                tags = list(client.tags(repository, self.page_size))
            except RegistryError as exc:
                yield _refused(TagPlan(registry, repository, ""), exc.message)
                continue
            for tag in tags:
                if is_referrer_tag(tag):  # referrers travel with their subject, never alone
                    continue
                plan = TagPlan(registry, repository, tag)
                try:
                    check_tag(tag)
                except InvalidName as exc:
                    yield _refused(plan, f"registry {registry!r}: {repository}: {exc}")
                    continue
                yield plan

    def _read(self, plan: TagPlan) -> FreightlinerError | None:
        health = current_health()
        try:
            if health is not None:
                health.check(plan.registry)
            plan.platforms = self.source.get_metadata(plan.registry, plan.repository, plan.tag)
        except RegistryDown as down:
            return RegistryError(NOT_ATTEMPTED + down.message)
        except FreightlinerError as exc:
            if health is not None:
                taken_down = health.failure(plan.registry, exc)
                if taken_down is not None:
                    _log.error("%s: the rest of this run skips it", taken_down.message)
            return exc
        if not plan.platforms:
            return RegistryError(f"{plan.reference}: no platform image to decide")
        return None

    def _decide(self, plans: list[TagPlan]) -> None:
        images = [(plan, image) for plan in plans for image in plan.platforms]
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            decisions = self.engine.decide_many([image for _, image in chunk])
            for (plan, _), decision in zip(chunk, decisions, strict=True):
                plan.decisions.append(decision)
        for plan in plans:
            plan.decision = combine_platforms(plan.platforms, plan.decisions)
        if isinstance(self.source, RegistryMetadataSource):  # referrers live in registries
            plan_referrers(plans, self.clients, self._decide_images, self.max_concurrency)

    def _decide_images(self, images: list[ImageMetadata]) -> list[ReplicationDecision]:
        decided: list[ReplicationDecision] = []
        for start in range(0, len(images), self.batch_size):
            decided.extend(self.engine.decide_many(images[start : start + self.batch_size]))
        return decided

    def _client(self, name: str) -> RegistryClient:
        return registry_named(self.clients, name)

    # -- execution -----------------------------------------------------------
    def _execute(
        self, plan: TagPlan, dry_run: bool, stop: threading.Event | None = None
    ) -> ImageOutcome:
        count = max(len(plan.platforms), 1)
        if stop is not None and stop.is_set():
            return ImageOutcome(
                plan.image,
                plan.decision,
                "failed",
                error=NOT_ATTEMPTED + "the run was interrupted",
                platforms=count,
                not_attempted=True,
            )
        if plan.decision is None:
            return ImageOutcome(
                plan.image,
                None,
                "failed",
                error=plan.error or "not decided",
                platforms=count,
                not_attempted=plan.error.startswith(NOT_ATTEMPTED),
            )
        try:
            results = self.executor.execute(plan.image, plan.decision, dry_run=dry_run)
        except Exception as exc:  # an executor bug must not lose the rest of the sweep
            _log.exception("executing the decision for %s failed", plan.reference)
            return ImageOutcome(
                plan.image, plan.decision, "failed", error=str(exc), platforms=count
            )
        copies = [r for r in results if r.action.type == "replicate"]
        notes = "; ".join(plan.notes)
        detail = notes or plan.decision.reason
        outcome = ImageOutcome(
            plan.image,
            plan.decision,
            _status(results, copies, bool(plan.notes)),
            targets=[r.target for r in copies if r.status != "failed"],
            bytes_copied=sum(r.bytes_copied for r in copies),
            error="; ".join(f"{r.target}: {r.error}" for r in results if r.status == "failed"),
            not_attempted=bool(copies)
            and all(r.error.startswith(NOT_ATTEMPTED) for r in results if r.status == "failed")
            and any(r.status == "failed" for r in copies),
            notifications_failed=sum(
                1 for r in results if r.action.type == "notify" and r.status == "failed"
            ),
            detail=next((r.detail for r in results if r.status == "blocked"), detail),
            platforms=count,
            warnings=sorted({r.warning for r in results if r.warning}),
            copies=[_copy_record(r) for r in copies],
        )
        return outcome


def _copy_record(result: ActionResult) -> CopyRecord:
    allowed = result.action.platforms == "allowed"
    referrers = result.action.with_referrers
    return CopyRecord(
        result.target,
        result.action.target_registry,
        result.status,
        target_digest=result.target_digest,
        source_digest=result.source_digest,
        bytes_copied=result.bytes_copied,
        seconds=result.seconds,
        platforms_copied=result.platforms_copied if allowed else None,
        platforms_left_out=result.platforms_left_out if allowed else None,
        referrers_copied=result.referrers_copied if referrers else None,
        referrers_present=result.referrers_present if referrers else None,
        referrers_blocked=result.referrers_blocked if referrers else None,
    )


def _refused(plan: TagPlan, reason: str) -> TagPlan:
    plan.error = reason
    _log.warning("refused %s: %s", shown(plan.reference), reason)
    return plan


def _status(
    results: list[ActionResult], copies: list[ActionResult], limited: bool
) -> OutcomeStatus:
    if any(r.status == "blocked" for r in results):
        return "blocked"
    if any(r.status == "failed" for r in copies):
        return "failed"
    if any(r.status == "replicated" for r in copies):
        return "replicated"
    if any(r.status == "planned" for r in copies):
        return "planned"
    if copies or limited:
        return "skipped"
    return "not_replicated"
