"""The end-of-run table of ``replicate``: per target registry, what happened.

Rows come from each outcome's copies (one per replicate action): ``copied``,
``skipped`` (the target already had the digest, or ``skip_existing``),
``failed``, ``planned`` (``--dry-run``), the bytes copied and the seconds spent
copying (summed over copies; copies run in parallel, so a registry's seconds
may exceed the run's wall time). Images that reached no target - blocked,
failed before any copy (unreadable, undecided) - count in the row without a
registry (``(no target)``). ``--output json`` carries the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapter.runner.interface import RunSummary

__all__ = ["TargetTotals", "render_table", "target_totals"]

_COPY_COLUMNS = {"replicated": "copied", "skipped": "skipped", "failed": "failed"}


@dataclass
class TargetTotals:
    """The numbers of one row; ``registry`` is ``None`` for images that reached no target."""

    registry: str | None
    copied: int = 0
    skipped: int = 0
    blocked: int = 0
    failed: int = 0
    planned: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def view(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "copied": self.copied,
            "skipped": self.skipped,
            "blocked": self.blocked,
            "failed": self.failed,
            "planned": self.planned,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
        }


def target_totals(summary: RunSummary) -> list[TargetTotals]:
    """One row per target registry (by name), then the ``(no target)`` row if any."""
    rows: dict[str, TargetTotals] = {}
    none = TargetTotals(None)
    for outcome in summary.outcomes:
        if outcome.status == "blocked":
            none.blocked += 1
            continue
        if not outcome.copies:
            if outcome.status == "failed":
                none.failed += 1
            continue
        for copy in outcome.copies:
            row = rows.setdefault(copy.registry, TargetTotals(copy.registry))
            if copy.status == "planned":
                row.planned += 1
            elif copy.status in _COPY_COLUMNS:
                name = _COPY_COLUMNS[copy.status]
                setattr(row, name, getattr(row, name) + 1)
            row.bytes += copy.bytes_copied
            row.seconds += copy.seconds
    result = [rows[name] for name in sorted(rows)]
    if none.blocked or none.failed:
        result.append(none)
    return result


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"  # pragma: no cover - the loop always returns


def render_table(rows: list[TargetTotals]) -> list[str]:
    """The text table: a header, one line per row, ``PLANNED`` only when a row has some."""
    planned = any(r.planned for r in rows)
    header = ["TARGET", "COPIED", "SKIPPED", "BLOCKED", "FAILED"]
    header += ["PLANNED"] if planned else []
    header += ["BYTES", "TIME"]
    table = [header]
    for row in rows:
        cells = [
            row.registry if row.registry is not None else "(no target)",
            str(row.copied),
            str(row.skipped),
            str(row.blocked),
            str(row.failed),
        ]
        cells += [str(row.planned)] if planned else []
        cells += [_size(row.bytes), f"{row.seconds:.1f}s" if row.registry is not None else "-"]
        table.append(cells)
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return [
        "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
            for i, cell in enumerate(line)
        ).rstrip()
        for line in table
    ]
