"""The replicate table's rows: copies per target registry, images that reached none."""

from __future__ import annotations

from adapter.cli.summary import render_table, target_totals
from adapter.runner.interface import CopyRecord, ImageOutcome, RunSummary
from migrate.contract.image import ImageMetadata


def _outcome(tag: str, status: str, copies: list[CopyRecord]) -> ImageOutcome:
    image = ImageMetadata(registry="src", repository="a", tag=tag, digest="sha256:" + "0" * 64)
    return ImageOutcome(image, None, status, copies=copies)  # type: ignore[arg-type]


def test_rows_per_registry_and_no_target() -> None:
    summary = RunSummary(
        [
            _outcome(
                "v1",
                "replicated",
                [
                    CopyRecord(
                        "m1/a:v1",
                        "m1",
                        "replicated",
                        target_digest="d",
                        bytes_copied=2048,
                        seconds=0.25,
                    ),
                    CopyRecord(
                        "m2/a:v1", "m2", "failed", target_digest="", bytes_copied=0, seconds=1.5
                    ),
                ],
            ),
            _outcome(
                "v2",
                "skipped",
                [
                    CopyRecord(
                        "m1/a:v2", "m1", "skipped", target_digest="d", bytes_copied=0, seconds=0.05
                    )
                ],
            ),
            _outcome("v3", "blocked", []),
            _outcome("v4", "failed", []),  # unreadable: no copy was tried
            _outcome("v5", "not_replicated", []),  # no policy matched: in no row
        ]
    )
    rows = target_totals(summary)
    assert [r.view() for r in rows] == [
        {"registry": "m1", "copied": 1, "skipped": 1, "blocked": 0, "failed": 0, "planned": 0,
         "bytes": 2048, "seconds": 0.3},
        {"registry": "m2", "copied": 0, "skipped": 0, "blocked": 0, "failed": 1, "planned": 0,
         "bytes": 0, "seconds": 1.5},
        {"registry": None, "copied": 0, "skipped": 0, "blocked": 1, "failed": 1, "planned": 0,
         "bytes": 0, "seconds": 0.0},
    ]  # fmt: skip
    assert render_table(rows) == [
        "TARGET       COPIED  SKIPPED  BLOCKED  FAILED    BYTES  TIME",
        "m1                1        1        0       0  2.0 KiB  0.3s",
        "m2                0        0        0       1      0 B  1.5s",
        "(no target)       0        0        1       1      0 B     -",
    ]


def test_an_empty_run_has_no_rows() -> None:
    assert target_totals(RunSummary([])) == []
