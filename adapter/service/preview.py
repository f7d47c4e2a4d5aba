"""Impact preview: what a proposed policy set would change, image by image.

Images are decided under the current and the proposed bundle (both with the
embedded engine, the same ``now``), and every image whose decision differs is
reported in one of five kinds:

* ``start``: no replication now, some under the proposal;
* ``stop``: replicated now, not under the proposal;
* ``targets_changed``: replicated by both, to different targets;
* ``blocked`` / ``unblocked``: the outcome becomes / stops being ``block``
  (these take precedence over the three above).

Each entry names the responsible policies: the policies of the actions that
appear (start, blocked, the new targets) or disappear (stop, unblocked, the old
targets). Images come from the service's audit log (recently decided images,
:func:`recent_images`) and from the current contents of chosen repositories
(:func:`repository_images`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from migrate.contract.decision import DecisionAction, ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.core.errors import FreightlinerError

__all__ = [
    "KINDS",
    "PreviewImage",
    "diff_decisions",
    "recent_images",
    "render_text",
    "repository_images",
]

KINDS = ("start", "stop", "targets_changed", "blocked", "unblocked")
DEFAULT_WINDOW = timedelta(hours=24)
DEFAULT_LIMIT = 1000
_TAIL_BYTES = 64 * 1024 * 1024  # read at most the last 64 MiB of the audit log


@dataclass
class PreviewImage:
    """One image to decide, and where it came from (``audit`` or ``registry``)."""

    image: ImageMetadata
    source: str
    errors: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        i = self.image
        return (i.registry, i.repository, i.tag, i.digest, f"{i.os}/{i.architecture}{i.variant}")


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _lines_backwards(path: Path, limit: int = _TAIL_BYTES) -> Iterator[bytes]:
    """The file's lines from the last to the first, within its last ``limit`` bytes."""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        position = fh.tell()
        floor = max(0, position - limit)
        rest = b""
        while position > floor:
            step = min(1 << 16, position - floor)
            position -= step
            fh.seek(position)
            chunk = fh.read(step) + rest
            lines = chunk.split(b"\n")
            rest = lines[0]
            yield from reversed(lines[1:])
        if floor == 0 and rest:
            yield rest


def recent_images(
    audit_log: Path | None,
    *,
    window: timedelta = DEFAULT_WINDOW,
    limit: int = DEFAULT_LIMIT,
    now: datetime | None = None,
) -> list[PreviewImage]:
    """The distinct images of the audit log's decision records of the last ``window``,
    newest first, at most ``limit`` (the audit log's last 64 MiB are read)."""
    if audit_log is None or not audit_log.is_file() or limit <= 0:
        return []
    since = (now or datetime.now(UTC)) - window
    found: dict[tuple[str, str, str, str, str], PreviewImage] = {}
    for line in _lines_backwards(audit_log):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("kind") != "decision":
            continue
        when = _parse_time(record.get("time"))
        if when is None:
            continue
        if when < since:
            break  # the log is in time order: everything before is older
        raw = record.get("image")
        if not isinstance(raw, dict):
            continue
        try:
            image = ImageMetadata.model_validate(raw)
        except ValueError:
            continue
        item = PreviewImage(image, "audit")
        found.setdefault(item.key, item)
        if len(found) >= limit:
            break
    return list(found.values())


def repository_images(
    replicator: Any, references: Sequence[Any], limit: int = 10_000
) -> list[PreviewImage]:
    """Every tag's first-platform metadata of the repositories (``ImageReference``\\ s),
    read through a :class:`RegistryReplicator`'s metadata source (no decisions, no audit
    records), at most ``limit`` tags, ``max_concurrency`` reads at a time."""
    from concurrent.futures import ThreadPoolExecutor

    wanted: list[tuple[str, str, str]] = []
    for reference in references:
        for repository, tag in replicator.tags(reference):
            if len(wanted) >= limit:
                break
            wanted.append((reference.registry, repository, tag))

    def read(item: tuple[str, str, str]) -> PreviewImage | None:
        registry, repository, tag = item
        try:
            platforms = replicator.source.get_metadata(registry, repository, tag)
        except FreightlinerError as exc:
            placeholder = ImageMetadata(registry=registry, repository=repository, tag=tag)
            return PreviewImage(placeholder, "registry", [exc.message])
        return PreviewImage(platforms[0], "registry") if platforms else None

    workers = max(1, int(getattr(replicator, "max_concurrency", 4)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="freightliner-preview") as pool:
        return [found for found in pool.map(read, wanted) if found is not None]


def _targets(decision: ReplicationDecision) -> dict[str, list[str]]:
    return {
        f"{a.target_registry}/{a.target_repo}:{a.target_tag}": a.policy_ids
        for a in decision.actions
        if a.type == "replicate"
    }


def _policies(actions: Iterable[DecisionAction], kind: str) -> set[str]:
    return {p for a in actions if a.type == kind for p in a.policy_ids}


def _entry(
    image: PreviewImage, current: ReplicationDecision, proposed: ReplicationDecision
) -> dict[str, Any] | None:
    before, after = _targets(current), _targets(proposed)
    was_blocked, is_blocked = current.outcome == "block", proposed.outcome == "block"
    responsible: set[str]
    if is_blocked and not was_blocked:
        kind, responsible = "blocked", _policies(proposed.actions, "block")
    elif was_blocked and not is_blocked:
        kind, responsible = "unblocked", _policies(current.actions, "block")
    elif after and not before:
        kind, responsible = "start", {p for ids in after.values() for p in ids}
    elif before and not after:
        kind, responsible = "stop", {p for ids in before.values() for p in ids}
    elif set(before) != set(after):
        kind = "targets_changed"
        responsible = {
            p for t in set(before) ^ set(after) for p in (before.get(t) or after.get(t) or [])
        }
    else:
        return None
    return {
        "kind": kind,
        "image": image.image.as_input(),
        "source": image.source,
        "policies": sorted(responsible),
        "current": {
            "outcome": current.outcome,
            "targets": sorted(before),
            "matched_policies": current.matched_policies,
        },
        "proposed": {
            "outcome": proposed.outcome,
            "targets": sorted(after),
            "matched_policies": proposed.matched_policies,
        },
    }


def diff_decisions(
    images: Sequence[PreviewImage],
    current: Any,
    proposed: Any,
    now: str,
    batch: int = 200,
) -> dict[str, Any]:
    """Decide ``images`` with both engines (``decide_many``); the differences by kind."""
    readable = [i for i in images if not i.errors]
    changes: list[dict[str, Any]] = []
    for start in range(0, len(readable), batch):
        chunk = readable[start : start + batch]
        metadata = [i.image for i in chunk]
        for item, before, after in zip(
            chunk,
            current.decide_many(metadata, now),
            proposed.decide_many(metadata, now),
            strict=True,
        ):
            entry = _entry(item, before, after)
            if entry is not None:
                changes.append(entry)
    changes.sort(key=lambda c: (KINDS.index(c["kind"]), _ref(c["image"])))
    return {
        "now": now,
        "images": len(images),
        "decided": len(readable),
        "sources": _count(i.source for i in readable),
        "unreadable": [
            {"image": _ref(i.image.as_input()), "error": "; ".join(i.errors)}
            for i in images
            if i.errors
        ],
        "summary": {kind: sum(1 for c in changes if c["kind"] == kind) for kind in KINDS},
        "changes": changes,
    }


def _count(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _ref(image: Mapping[str, Any]) -> str:
    return f"{image.get('registry')}/{image.get('repository')}:{image.get('tag')}"


def render_text(result: Mapping[str, Any]) -> list[str]:
    """The human form: a summary line, then one line per change."""
    summary = result["summary"]
    lines = [
        f"{result['decided']} image(s) decided: "
        + ", ".join(f"{summary[k]} {k.replace('_', ' ')}" for k in KINDS)
    ]
    for change in result["changes"]:
        cur, new = change["current"], change["proposed"]
        detail = (
            f"{','.join(cur['targets']) or '-'} -> {','.join(new['targets']) or '-'}"
            if change["kind"] in {"start", "stop", "targets_changed"}
            else f"{cur['outcome']} -> {new['outcome']}"
        )
        lines.append(
            f"{change['kind']:<15} {_ref(change['image'])}  {detail}  "
            f"[{', '.join(change['policies'])}]"
        )
    for item in result["unreadable"]:
        lines.append(f"unreadable      {item['image']}: {item['error']}")
    return lines
