"""``freightliner-policy evaluate`` and ``replicate``: decide and replicate real registry images.

REF is ``registry[/repository[:tag]]`` with ``registry`` a name from the
config's ``registries:``, or ``docker://repository[:tag]``: one image of the
local Docker engine (``DOCKER_HOST`` honoured; ``input.image.registry`` is
``docker``, ``digest`` the engine's image ID), pushed by the engine to the
allowed targets and verified there (:mod:`adapter.actions.engine_push`).
The engine is the OPA sidecar when ``--opa-url`` (or
``opa.url``) is set, else the embedded engine over ``--policies`` (or the
config's policies). Exit codes: 0 ok, 2 usage (a bad REF or --opa-url), 3 invalid
input (config, policies, image file, a tag that does not exist), 5 any image
blocked, 6 decision engine (fail-closed) or registry unavailable, 7 some images
or notifications failed,
130 interrupted (SIGINT/SIGTERM: no new copy starts, copies in flight get
``serve.shutdown_grace_seconds`` to finish; the tag is written last, so a copy
cut short leaves no tag).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click

from adapter.cli.common import load_bundle
from adapter.cli.policy import render_decision_text
from adapter.cli.summary import render_table, target_totals
from adapter.config import FreightlinerConfig, http_url_problem
from adapter.metadata.docker_source import DockerMetadataSource
from adapter.metadata.file_source import FileMetadataSource
from adapter.runner.factory import Runtime, build_runtime
from adapter.runner.interface import ImageOutcome, ImageReference, OutcomeStatus, RunSummary
from adapter.runner.selection import TagPlan
from migrate.core.cli_options import configure_logging, log_format, verbosity
from migrate.core.errors import ConfigError
from migrate.core.exit_codes import ExitCode, exit_on_error
from migrate.core.progress import Progress, progress_option

__all__ = ["evaluate", "replicate"]

_STATUSES: tuple[OutcomeStatus, ...] = (
    "replicated",
    "skipped",
    "blocked",
    "failed",
    "not_replicated",
    "planned",
)


def _check_opa_url(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A URL with a scheme and a host, or a usage error (exit 2) before anything runs."""
    if value is not None and http_url_problem(value):
        raise click.BadParameter(http_url_problem(value))
    return value


def _common(func: Any) -> Any:
    for decorator in reversed(
        [
            click.argument("reference"),
            click.option(
                "--config",
                "config_path",
                type=click.Path(exists=True, path_type=Path),
                envvar="FREIGHTLINER_CONFIG",
                help="config.yaml (registries, opa, policy).",
            ),
            click.option(
                "--opa-url",
                default=None,
                callback=_check_opa_url,
                help="OPA sidecar URL, http:// or https:// (default: opa.url).",
            ),
            click.option(
                "--policies",
                multiple=True,
                type=click.Path(exists=True, path_type=Path),
                help="Policy files/directories or one built bundle, for the embedded engine.",
            ),
            click.option(
                "--output",
                type=click.Choice(["text", "json"]),
                default="text",
                show_default=True,
                help='json: one JSON document on stdout (an error too: {"error": {...}}).',
            ),
        ]
    ):
        func = decorator(func)
    return func


def _runtime(
    reference: str,
    config_path: Path | None,
    opa_url: str | None,
    policies: tuple[Path, ...],
    image_file: Path | None = None,
) -> tuple[ImageReference, Runtime]:
    try:
        ref = ImageReference.parse(reference)
    except ValueError as exc:  # a usage error (exit 2), before anything is read or written
        raise click.UsageError(str(exc)) from exc
    metadata = None
    if ref.engine and image_file is not None:
        raise click.UsageError("--image-file and a docker:// reference exclude each other")
    if image_file is not None:
        if ref.repository is None or ref.tag is None:
            raise ConfigError(
                f"--image-file needs REF as registry/repository:tag, got {reference!r}"
            )
        metadata = FileMetadataSource(image_file)
    config = FreightlinerConfig.load(config_path) if config_path else FreightlinerConfig()

    def bundle() -> Any:
        verification = config.bundle_signing.verification()
        if policies:
            return load_bundle(policies, generate_tests=False, verification=verification)
        if config_path is not None and (config.policy.policies or config.policy.configPath):
            return load_bundle((config_path,), generate_tests=False)
        raise ConfigError(
            "no policies: give --policies, policy.policies in the config, or --opa-url / opa.url"
        )

    return ref, build_runtime(
        config,
        opa_url=opa_url,
        bundle=bundle,
        config_path=config_path,
        metadata=metadata,
        docker=DockerMetadataSource(ref.registry) if ref.engine else None,
    )


def _warn_fallbacks(runtime: Runtime) -> None:
    counters = runtime.engine.counters
    if counters["engine_error"]:
        used = ", ".join(
            f"{k.split('.', 1)[1]}: {v}"
            for k, v in sorted(counters.items())
            if k.startswith("fallback.")
        )
        click.echo(
            f"warning: the decision engine failed for {counters['engine_error']} "
            f"image(s) (failure_mode {runtime.engine.mode}; {used})",
            err=True,
        )


def _plan_json(plan: TagPlan) -> dict[str, Any]:
    image = plan.image if plan.platforms else None
    return {
        "reference": plan.reference,
        "decided_digest": (image.index_digest or image.digest) if image is not None else None,
        "image": plan.image.as_input() if plan.platforms else None,
        "platforms": [p.as_input() for p in plan.platforms],
        "decision": plan.decision.model_dump(mode="json") if plan.decision else None,
        "notes": plan.notes,
        "error": plan.error,
    }


@click.command(
    epilog="""\b
Examples:
  freightliner-policy evaluate local/team/app:prod-v1.0.0 --config examples/config.yaml
  freightliner-policy evaluate local/team/app:prod-v1.0.0 --config examples/config.yaml \\
      --image-file examples/images/prod-scanned.json --explain
  freightliner-policy evaluate local/team --opa-url http://127.0.0.1:8181 --output json

\b
REF is registry[/repository[:tag]]; registry is a name from the config's
registries:. A tag that does not exist exits 3. --output json gives each
image's decided_digest and decision.

\b
Environment: FREIGHTLINER_CONFIG (default of --config),
FREIGHTLINER_REGISTRY_<NAME>_USERNAME/_PASSWORD (registry credentials),
DOCKER_CONFIG."""
)
@_common
@click.option("--explain", is_flag=True, help="Show how every candidate policy evaluated.")
@click.option(
    "--image-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='Read the image metadata from this JSON file ([ImageMetadata...] or {"images": [...]}) '
    "instead of the registry; REF names one tag of it.",
)
@exit_on_error
def evaluate(
    reference: str,
    config_path: Path | None,
    opa_url: str | None,
    policies: tuple[Path, ...],
    output: str,
    explain: bool,
    image_file: Path | None,
) -> None:
    """Read REF's images from the registry (or --image-file) and decide them; no side effects.

    REF docker://REPOSITORY[:TAG] reads one image of the local Docker engine
    (DOCKER_HOST honoured), e.g. `evaluate docker://team/app:v1 --policies policies/`.

    Exit 0 ok, 3 the named tag does not exist, 5 an image blocked, 6 engine or
    registry unavailable, 7 an image of a sweep could not be read or decided.
    """
    # the command reports errors and engine fallbacks itself: library log lines only with -v
    configure_logging(verbosity(), log_format(), library_logs=False)
    ref, runtime = _runtime(reference, config_path, opa_url, policies, image_file)
    with runtime:
        plans = runtime.replicator.plan(ref)
        if explain:
            _explain_plans(runtime, plans)
        if output == "json":
            document = {
                "revision": runtime.engine.revision,
                "images": [_plan_json(p) for p in plans],
            }
            click.echo(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False))
        else:
            for plan in plans:
                count = len(plan.platforms)
                click.echo(f"{plan.reference}" + (f" ({count} platforms)" if count > 1 else ""))
                if plan.decision is None:
                    click.echo(f"  error: {plan.error}")
                    continue
                for line in render_decision_text(plan.decision, explain):
                    click.echo(f"  {line}")
                for note in plan.notes:
                    click.echo(f"  note: {note}")
        _warn_fallbacks(runtime)
    summary = RunSummary(
        [
            ImageOutcome(
                p.image,
                p.decision,
                "failed"
                if p.decision is None
                else "blocked"
                if p.decision.blocked or p.decision.outcome == "block"
                else "planned",
            )
            for p in plans
        ]
    )
    sys.exit(summary.exit_code)


def _explain_plans(runtime: Runtime, plans: list[TagPlan]) -> None:
    """``--explain``: every candidate's condition lines (the batch decisions carry only the
    matched policies' lines), asked of the engine with ``explain`` for single-platform tags;
    the decision itself is kept as decided."""
    for plan in plans:
        if plan.decision is None or len(plan.platforms) != 1:
            continue
        explained = runtime.engine.decide(plan.platforms[0], explain=True)
        plan.decision = plan.decision.model_copy(update={"explanation": explained.explanation})


def _printable(text: str) -> str:
    """``text`` with control characters escaped, so a registry's names cannot drive the
    terminal or split a line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _outcome_line(outcome: ImageOutcome) -> str:
    return _printable(_outcome_text(outcome))


def _outcome_text(outcome: ImageOutcome) -> str:
    text = _outcome_status_text(outcome)
    return text + "".join(f" (warning: {w})" for w in outcome.warnings)


def _outcome_status_text(outcome: ImageOutcome) -> str:
    image = outcome.image
    # a repository refused as a whole (bad name, failed tags listing) has no tag or digest
    ref = image.reference if image.tag or image.digest else f"{image.registry}/{image.repository}"
    if outcome.status in ("replicated", "planned", "skipped") and outcome.targets:
        text = f"{outcome.status} {ref} -> {', '.join(outcome.targets)}"
        return text + (f" ({outcome.detail})" if outcome.status == "skipped" else "")
    if outcome.status == "failed":
        return f"failed {ref}: {outcome.error}"
    return f"{outcome.status} {ref}: {outcome.detail}"


def _outcome_json(outcome: ImageOutcome) -> dict[str, Any]:
    decision = outcome.decision
    return {
        "reference": outcome.image.reference,
        **outcome.view(),
        "decision": decision.model_dump(mode="json", exclude={"explanation"}) if decision else None,
    }


def _summary_counts(summary: RunSummary) -> dict[str, int]:
    return {status: summary.count(status) for status in _STATUSES}


@click.command(
    epilog="""\b
Examples:
  freightliner-policy replicate local/team/app:v1 --config config.yaml
  freightliner-policy replicate local/team --config config.yaml --dry-run
  freightliner-policy replicate local --opa-url http://127.0.0.1:8181 --config config.yaml
  FREIGHTLINER_CONFIG=config.yaml freightliner-policy replicate local --output json \\
      | jq '.targets, [.outcomes[] | {reference, decided_digest, copies}]'

\b
REF is registry[/repository[:tag]]: one tag, every tag of a repository, or
every repository; registry is a name from the config's registries:.
Ends with a table per target registry (copied, skipped, blocked, failed,
bytes, time); --output json carries it as "targets".

\b
Environment: FREIGHTLINER_CONFIG (default of --config),
FREIGHTLINER_REGISTRY_<NAME>_USERNAME/_PASSWORD (registry credentials),
DOCKER_CONFIG, CI (set: no progress bar)."""
)
@_common
@click.option("--dry-run", is_flag=True, help="Decide and plan the targets; write nothing.")
@progress_option
@exit_on_error
def replicate(
    reference: str,
    config_path: Path | None,
    opa_url: str | None,
    policies: tuple[Path, ...],
    output: str,
    dry_run: bool,
    progress_flag: bool | None,
) -> None:
    """Decide REF's images and execute the decisions (replicate / block / notify).

    REF docker://REPOSITORY[:TAG] is one image of the local Docker engine (DOCKER_HOST
    honoured): the engine pushes what the policy allows, and the target is checked to hold
    the decided image ID, e.g. `replicate docker://team/app:v1 --config config.yaml`.

    Exit 0 ok, 5 an image blocked, 6 engine or registry unavailable, 7 some
    copies or notifications failed, 130 interrupted.
    """
    # the command prints every outcome itself: library log lines only with -v
    configure_logging(verbosity(), log_format(), library_logs=False)
    ref, runtime = _runtime(reference, config_path, opa_url, policies)
    grace = runtime.config.serve.shutdown_grace_seconds
    progress = Progress(
        "images",
        flag=False if os.environ.get("CI") and not progress_flag else progress_flag,
        quiet=verbosity() < 0,
    )
    with runtime, _interruptible(grace) as stop:
        with progress:

            def line(outcome: ImageOutcome) -> None:
                progress.advance()
                if output == "text" and not outcome.not_attempted:
                    progress.echo(_outcome_line(outcome))

            summary = runtime.replicator.replicate(
                ref, dry_run=dry_run, progress=line, on_total=progress.total, stop=stop
            )
        for message in summary.registries_down.values():
            click.echo(f"error: {message}", err=True)
        counts = _summary_counts(summary)
        not_attempted = sum(1 for o in summary.outcomes if o.not_attempted)
        rows = target_totals(summary)
        if output == "json":
            click.echo(
                json.dumps(
                    {
                        "dry_run": dry_run,
                        "revision": runtime.engine.revision,
                        "summary": counts,
                        "targets": [row.view() for row in rows],
                        "not_attempted": not_attempted,
                        "notifications_failed": summary.notifications_failed,
                        "registries_down": summary.registries_down,
                        "interrupted": summary.interrupted,
                        "exit_code": summary.exit_code,
                        "outcomes": [_outcome_json(o) for o in summary.outcomes],
                    },
                    indent=2,
                    sort_keys=True,
                    ensure_ascii=False,
                )
            )
        else:
            shown = ", ".join(
                f"{status.replace('_', ' ')} {n}"
                for status, n in counts.items()
                if n or status in ("replicated", "skipped", "blocked", "failed")
            )
            if not_attempted:
                shown += f" ({not_attempted} not attempted)"
            if summary.notifications_failed:
                shown += f", notifications failed {summary.notifications_failed}"
            if rows:
                for table_line in render_table(rows):
                    click.echo(table_line)
            click.echo(("dry run: nothing written; " if dry_run else "") + f"summary: {shown}")
        if summary.interrupted:
            click.echo(f"interrupted: {not_attempted} image(s) not started", err=True)
        _warn_fallbacks(runtime)
    sys.exit(summary.exit_code)


@contextmanager
def _interruptible(grace: float) -> Iterator[threading.Event]:
    """SIGINT/SIGTERM set the yielded event (no new copy starts); copies in flight get
    ``grace`` seconds, then the process exits 130. A second signal exits 130 at once."""
    stop = threading.Event()

    def give_up() -> None:
        click.echo(f"interrupted: copies still running after {grace:g}s; exiting", err=True)
        os._exit(int(ExitCode.INTERRUPTED))

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            os._exit(int(ExitCode.INTERRUPTED))
        stop.set()
        click.echo(
            f"interrupted ({signal.Signals(signum).name}): starting no new copy, "
            f"waiting up to {grace:g}s for the copies in flight",
            err=True,
        )
        timer = threading.Timer(grace, give_up)
        timer.daemon = True
        timer.start()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
