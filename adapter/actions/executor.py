"""DecisionExecutor: the :class:`ActionExecutor` over registries, the copier and a webhook notifier.

For one image (one tag, all platforms together):

* ``block`` (the decision blocks): nothing is written; one ``blocked``
  result per block action carrying its reason (``parameters.reason``, else
  the decision's reason). Replicate actions are not executed (the contract
  already drops them when a block wins).
* ``replicate``: source = the image's registry client, repository and tag
  (the whole tag: an index is copied with every platform); target =
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
from collections import Counter
from collections.abc import Mapping

from adapter.actions.interface import ActionResult
from adapter.actions.notify import WebhookNotifier, decision_event
from adapter.actions.replicate import ImageCopier, ImageLocation
from adapter.registry.client import RegistryClient
from adapter.registry.lookup import registry_named
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
                results.append(self._replicate(image, action, dry_run))
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
        try:
            source_client = self._client(image.registry)
            target_client = self._client(action.target_registry)
            tag = action.target_tag or image.tag
            if not tag:
                raise ActionError(f"{image.reference}: untagged image and no target_tag")
            if is_true(action.parameters.get("skip_existing")):
                existing = target_client.head_manifest(action.target_repo, tag)
                if existing is not None:
                    return ActionResult(
                        action,
                        "skipped",
                        target,
                        detail=f"target exists as {existing.digest} (skip_existing)",
                    )
            source_ref = image.tag or image.index_digest or image.digest
            result = self.copier.copy(
                ImageLocation(source_client, image.repository, source_ref),
                ImageLocation(target_client, action.target_repo, tag),
                action.retry_policy,
            )
        except FreightlinerError as exc:
            _log.warning("replicating %s to %s failed: %s", image.reference, target, exc.message)
            return ActionResult(action, "failed", target, error=exc.message)
        if result.skipped:
            return ActionResult(
                action, "skipped", target, detail=f"target already has {result.target_digest}"
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
