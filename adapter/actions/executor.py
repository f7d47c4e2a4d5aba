"""DecisionExecutor: the :class:`ActionExecutor` over registries, the copier and a webhook notifier.

For one image (one tag, all platforms together):

* ``block`` (the decision blocks): nothing is written; one ``blocked``
  result per block action carrying its reason (``parameters.reason``, else
  the decision's reason). Replicate actions are not executed (the contract
  already drops them when a block wins).
* ``replicate``: source = the image's registry client, repository and the
  **decided digest** (``index_digest`` for a multi-platform image, else
  ``digest``; the whole image: an index is copied with every platform). A
  source tag that moved since the decision is reported in the result's
  ``warning`` (decided and current digest) and never changes what is copied.
  The rendered target (repository and tag) must follow the name grammar
  (:mod:`adapter.registry.reference`), else the action fails. Target =
  ``target_registry`` (a configured registry name) / ``target_repo`` :
  ``target_tag`` (default: the source tag). ``retry_policy`` of the action
  drives the copier's retries. ``parameters.skip_existing: "true"`` skips a
  target whose tag already exists (any digest); the copier itself skips a
  target that already has the same digest.
* ``platforms: allowed`` (an index whose platforms were decided apart, see
  :mod:`adapter.runner.platforms`): the target receives a new index of the
  platforms kept for it (:mod:`adapter.actions.subset`); the result carries
  the source index digest, the new index digest and the platforms copied and
  left out. Without the runner's selection for the target the action fails
  (nothing copied).
* ``with_referrers: true``: after the image, its decided referrers
  (:mod:`adapter.actions.referrers`); a referrer error fails the action
  (the image stays copied, the next run completes the referrers).
* an image of the local Docker engine (``docker://``; ``engine`` given and
  the image's registry is the engine's name): the engine pushes the decided
  image ID and the target is verified (:mod:`adapter.actions.engine_push`).
* ``notify``: after the replications, an event to ``parameters.url``; a
  failure is reported (``failed``) but never undoes a replication.

Counts per result status are kept in :attr:`DecisionExecutor.counters`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from adapter.actions.attached import PlatformSubset, platform_subset, referrer_plan
from adapter.actions.engine_push import EnginePusher
from adapter.actions.interface import ActionResult
from adapter.actions.notify import WebhookNotifier, decision_event
from adapter.actions.referrers import ReferrersCopied, copy_referrers
from adapter.actions.replicate import CopyResult, ImageCopier, ImageLocation
from adapter.actions.subset import copy_subset
from adapter.registry.client import RegistryClient
from adapter.registry.health import (
    NOT_ATTEMPTED,
    RegistryDown,
    current_health,
    registry_of,
)
from adapter.registry.lookup import registry_named
from adapter.registry.reference import InvalidName, check_repository, check_tag, is_digest, shown
from migrate.contract.decision import DecisionAction, ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.core.errors import ActionError, FreightlinerError

__all__ = ["DecisionExecutor", "is_true", "target_of"]

_log = logging.getLogger("freightliner.actions")
_TRUE = frozenset({"true", "yes", "1", "on"})


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in _TRUE


def target_of(image: ImageMetadata, action: DecisionAction) -> str:
    """``registry/repo:tag`` of a replicate action for ``image``."""
    return f"{action.target_registry}/{action.target_repo}:{action.target_tag or image.tag}"


def _check_target(repository: str, tag: str) -> None:
    """The rendered target must follow the name grammar; :class:`ActionError` otherwise."""
    try:
        check_repository(repository, "target repository")
        check_tag(tag, "target tag")
    except InvalidName as exc:
        raise ActionError(f"rendered target refused: {exc}; nothing copied") from exc


class DecisionExecutor:
    """Executes decisions; safe to share between threads."""

    def __init__(
        self,
        clients: Mapping[str, RegistryClient],
        copier: ImageCopier | None = None,
        notifier: WebhookNotifier | None = None,
        engine: EnginePusher | None = None,
    ) -> None:
        self.clients = clients
        self.engine = engine
        self.copier = copier or ImageCopier()
        self.notifier = notifier or WebhookNotifier()
        self._lock = threading.Lock()
        self.counters: Counter[str] = Counter()

    def execute(
        self, image: ImageMetadata, decision: ReplicationDecision, *, dry_run: bool = False
    ) -> list[ActionResult]:
        results: list[ActionResult] = []
        if decision.blocked or decision.outcome == "block":
            blocks = [a for a in decision.actions if a.type == "block"] or [
                DecisionAction(type="block")
            ]
            for action in blocks:
                reason = action.parameters.get("reason") or decision.reason
                results.append(ActionResult(action, "blocked", detail=reason))
                _log.info("%s blocked: %s", image.reference, reason)
        else:
            for action in decision.replications():
                started = time.monotonic()
                result = self._replicate(image, decision, action, dry_run)
                results.append(replace(result, seconds=time.monotonic() - started))
        for action in decision.notifications():
            results.append(self._notify(image, decision, action, dry_run))
        with self._lock:
            for result in results:
                key = result.status if result.action.type != "notify" else f"notify.{result.status}"
                self.counters[key] += 1
        return results

    def _replicate(
        self,
        image: ImageMetadata,
        decision: ReplicationDecision,
        action: DecisionAction,
        dry_run: bool,
    ) -> ActionResult:
        target = target_of(image, action)
        subset = platform_subset(decision, target) if action.platforms == "allowed" else None
        if dry_run:
            return _with_platforms(ActionResult(action, "planned", target), subset)
        health = current_health()
        if health is not None:
            try:
                if not self._from_engine(image):
                    health.check(image.registry)
                health.check(action.target_registry)
            except RegistryDown as given_up:
                return ActionResult(
                    action, "failed", target, error=NOT_ATTEMPTED + given_up.message
                )
        try:
            target_client = self._client(action.target_registry)
            tag = action.target_tag or image.tag
            if not tag:
                raise ActionError(f"{image.reference}: untagged image and no target_tag")
            _check_target(action.target_repo, tag)
            if self.engine is not None and self._from_engine(image):
                pushed = self.engine.push(
                    image,
                    action,
                    target_client,
                    action.target_repo,
                    tag,
                    is_true(action.parameters.get("skip_existing")),
                )
                if health is not None:
                    health.success(action.target_registry)
                return pushed
            source_client = self._client(image.registry)
            decided = image.index_digest or image.digest
            if not is_digest(decided):
                raise ActionError(
                    f"{image.reference}: the decision carries no digest to copy "
                    f"({shown(decided)}); nothing copied"
                )
            if is_true(action.parameters.get("skip_existing")):
                existing = target_client.head_manifest(action.target_repo, tag)
                if existing is not None:
                    return ActionResult(
                        action,
                        "skipped",
                        target,
                        detail=f"target exists as {existing.digest} (skip_existing)",
                        target_digest=existing.digest,
                    )
            if action.platforms == "allowed" and image.index_digest and subset is None:
                raise ActionError(
                    f"{image.reference}: platforms: allowed, but no per-platform selection "
                    f"for {target}; nothing copied"
                )
            moved = self._moved(source_client, image, decided)
            source = ImageLocation(source_client, image.repository, decided)
            destination = ImageLocation(target_client, action.target_repo, tag)
            if subset is not None:
                result = copy_subset(self.copier, source, subset, destination, action.retry_policy)
            else:
                result = self.copier.copy(source, destination, action.retry_policy)
            referrers = self._referrers(decision, action, source, destination, result, subset)
        except FreightlinerError as exc:
            _log.warning(
                "replicating %s to %s failed: %s",
                shown(image.reference),
                shown(target),
                exc.message,
            )
            if health is not None:
                name = registry_of(exc, (image.registry, action.target_registry))
                down = health.failure(name, exc) if name is not None else None
                if down is not None:
                    _log.error("%s: the rest of this run skips it", down.message)
            return ActionResult(action, "failed", target, error=exc.message)
        if health is not None:
            health.success(action.target_registry)
        extra = _extra(result, subset, referrers)
        if referrers is not None and referrers.errors:
            return ActionResult(
                action,
                "failed",
                target,
                detail=result.target_digest,
                bytes_copied=result.bytes_copied,
                error=f"image copied as {result.target_digest}; referrers: "
                + "; ".join(referrers.errors),
                warning=moved,
                **extra,
            )
        if result.skipped and not (
            referrers is not None and (referrers.copied or referrers.fallback_tags)
        ):
            return ActionResult(
                action,
                "skipped",
                target,
                detail=f"target already has {result.target_digest}",
                warning=moved,
                **extra,
            )
        _log.info(
            "replicated %s to %s (%s, %d bytes)",
            image.reference,
            target,
            result.target_digest,
            result.bytes_copied,
        )
        return ActionResult(
            action,
            "replicated",
            target,
            detail=result.target_digest,
            bytes_copied=result.bytes_copied,
            warning=moved,
            **extra,
        )

    def _referrers(
        self,
        decision: ReplicationDecision,
        action: DecisionAction,
        source: ImageLocation,
        destination: ImageLocation,
        result: CopyResult,
        subset: PlatformSubset | None,
    ) -> ReferrersCopied | None:
        """Copy the referrers of what is now at the target (``with_referrers`` only)."""
        if not action.with_referrers:
            return None
        plan = referrer_plan(decision)
        if plan is None:
            return ReferrersCopied(errors=("the referrers were not found and decided",))
        if result.target_digest == result.source_digest:  # the decided image, whole
            subjects = set(plan.subjects)
        else:  # a new index: the kept platforms are the source's, the index is not
            subjects = set(subset.kept) if subset is not None else set()
        return copy_referrers(
            self.copier, source, destination, plan, frozenset(subjects), action.retry_policy
        )

    @staticmethod
    def _moved(client: RegistryClient, image: ImageMetadata, decided: str) -> str:
        """``"source tag moved ..."`` when the source tag no longer points at the decided
        digest (the decided digest is copied all the same), else ``""``."""
        if not image.tag:
            return ""
        current = client.head_manifest(image.repository, image.tag)
        now = current.digest if current is not None else "(deleted)"
        if now == decided:
            return ""
        _log.warning(
            "%s moved since the decision: decided %s, now %s; copying the decided digest",
            image.reference,
            decided,
            now,
        )
        return (
            f"source tag moved since the decision: decided {decided}, now {now}; copied {decided}"
        )

    def _notify(
        self,
        image: ImageMetadata,
        decision: ReplicationDecision,
        action: DecisionAction,
        dry_run: bool,
    ) -> ActionResult:
        url = action.parameters.get("url", "")
        if dry_run:
            return ActionResult(action, "planned", url)
        try:
            self.notifier.send(url, decision_event(image, decision, action.policy_ids))
        except ActionError as exc:
            return ActionResult(action, "failed", url, error=exc.message)
        return ActionResult(action, "notified", url)

    def _client(self, name: str) -> RegistryClient:
        return registry_named(self.clients, name)

    def _from_engine(self, image: ImageMetadata) -> bool:
        return self.engine is not None and image.registry == self.engine.registry

    def close(self) -> None:
        self.notifier.close()


def _with_platforms(result: ActionResult, subset: PlatformSubset | None) -> ActionResult:
    if subset is None:
        return result
    return replace(
        result,
        source_digest=subset.index_digest,
        platforms_copied=tuple(subset.names(True)),
        platforms_left_out=tuple(subset.names(False)),
    )


def _extra(
    result: CopyResult, subset: PlatformSubset | None, referrers: ReferrersCopied | None
) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "target_digest": result.target_digest,
        "source_digest": result.source_digest,
    }
    if subset is not None:
        extra["platforms_copied"] = tuple(subset.names(True))
        extra["platforms_left_out"] = tuple(subset.names(False))
    if referrers is not None:
        extra["referrers_copied"] = referrers.copied
        extra["referrers_present"] = referrers.present
        extra["referrers_blocked"] = referrers.blocked
    return extra
