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

from adapter.actions.interface import ActionResult
from adapter.actions.notify import WebhookNotifier, decision_event
from adapter.actions.replicate import ImageCopier, ImageLocation
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
    ) -> None:
        self.clients = clients
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
                result = self._replicate(image, action, dry_run)
                results.append(replace(result, seconds=time.monotonic() - started))
        for action in decision.notifications():
            results.append(self._notify(image, decision, action, dry_run))
        with self._lock:
            for result in results:
                key = result.status if result.action.type != "notify" else f"notify.{result.status}"
                self.counters[key] += 1
        return results

    def _replicate(
        self, image: ImageMetadata, action: DecisionAction, dry_run: bool
    ) -> ActionResult:
        target = target_of(image, action)
        if dry_run:
            return ActionResult(action, "planned", target)
        health = current_health()
        if health is not None:
            try:
                health.check(image.registry)
                health.check(action.target_registry)
            except RegistryDown as given_up:
                return ActionResult(
                    action, "failed", target, error=NOT_ATTEMPTED + given_up.message
                )
        try:
            source_client = self._client(image.registry)
            target_client = self._client(action.target_registry)
            tag = action.target_tag or image.tag
            if not tag:
                raise ActionError(f"{image.reference}: untagged image and no target_tag")
            _check_target(action.target_repo, tag)
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
            moved = self._moved(source_client, image, decided)
            result = self.copier.copy(
                ImageLocation(source_client, image.repository, decided),
                ImageLocation(target_client, action.target_repo, tag),
                action.retry_policy,
            )
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
        if result.skipped:
            return ActionResult(
                action,
                "skipped",
                target,
                detail=f"target already has {result.target_digest}",
                warning=moved,
                target_digest=result.target_digest,
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
            target_digest=result.target_digest,
            warning=moved,
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

    def close(self) -> None:
        self.notifier.close()
