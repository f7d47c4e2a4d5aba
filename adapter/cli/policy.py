"""``freightliner-policy policy ...``: validate, build, test, eval and list policies."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from adapter.cli.common import load_bundle
from migrate.bundle.signing_options import (
    SIGNING_ALGORITHMS,
    verification_config,
    verification_options,
)
from migrate.contract.decision import ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.core.cli_options import verbosity
from migrate.core.errors import ConfigError, Diagnostic, PolicyError
from migrate.core.exit_codes import ExitCode, exit_on_error, json_errors_wanted, print_json_error
from migrate.core.fast_exit import skip_teardown
from migrate.core.lazy_commands import LazyGroup
from migrate.core.progress import Progress, progress_option

__all__ = ["policy", "render_decision_text"]

_PATHS = click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
)


@click.group(
    cls=LazyGroup,
    epilog="""\b
Examples:
  freightliner-policy policy validate examples/policies
  freightliner-policy policy build examples/policies -o bundle.tar.gz
  freightliner-policy policy test bundle.tar.gz
  freightliner-policy policy eval examples/policies --image examples/images/prod-scanned.json""",
)
def policy() -> None:
    """Validate, build, test and evaluate replication policies."""


_MAX_CANDIDATES = click.option(
    "--max-candidates",
    type=click.IntRange(min=0),
    default=None,
    help="Fail (exit 9) when an image may have more candidate policies than this.",
)


def _build(
    paths: tuple[Path, ...],
    *,
    generate_tests: bool,
    progress: Progress | None = None,
    policy_set: Any = None,
    parallel: bool = False,
    on_data: Any = None,
    early_tests: Any = None,
    early_prewarm: Any = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """(bundle, index report, its data as built): load and build policy sources, reporting
    progress. ``parallel``: use the other cores (``early_tests``, a
    :class:`~migrate.bundle.early_tests.EarlyTests`, starts tests while loading;
    ``early_prewarm``, a :class:`~migrate.bundle.early_prewarm.EarlyPrewarm`, parses the
    later half of a large file and checks its conditions, from before this parse)."""
    from adapter.cli.common import is_bundle_path
    from migrate.bundle.builder import BundleBuilder
    from migrate.core.errors import BundleError
    from migrate.policy.loader import load_policy_documents

    if any(is_bundle_path(p) for p in paths):
        raise BundleError("give policy sources, not a built bundle")
    step = progress.step if progress is not None else (lambda _: None)
    if policy_set is None:
        step("loading policies")
        if parallel:  # the later part of a large file's checks on the other core
            from functools import partial

            from migrate.bundle.prewarm import prewarm_arguments

            start = early_tests.start if early_tests is not None and generate_tests else None
            prewarm = partial(prewarm_arguments, on_split=start, early=early_prewarm)
            parse = early_prewarm.load if early_prewarm is not None else None
            policy_set = load_policy_documents(list(paths), prewarm=prewarm, parse=parse)
        else:
            policy_set = load_policy_documents(list(paths))
    step(f"loaded {len(policy_set):,} policies; compiling")
    builder = BundleBuilder(generate_tests=generate_tests, parallel=parallel)
    bundle = builder.build(
        policy_set,
        progress=step,
        on_data=on_data,
        early_tests=early_tests if generate_tests else None,
    )
    step("built")
    return bundle, builder.report, builder.data


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """The cyclic collector less often while a build allocates its ~10^6 objects (they
    live until the build ends; 10,000 policies: about 1.2 s of CPU less)."""
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _index_checks(
    bundle: Any, report: Any, max_candidates: int | None, data: dict[str, Any] | None = None
) -> None:
    """Warnings where the index cannot help; exit 9 above --max-candidates."""
    from migrate.bundle.advice import index_warnings
    from migrate.bundle.program import guarded_ids

    policy_set = (data if data is not None else bundle.data())["freightliner"]["policy_set"]
    guarded = guarded_ids(policy_set["index"])
    for line in index_warnings(policy_set["policies"], report, guarded):
        click.echo(line, err=True)
    if max_candidates is not None and report.worst_case > max_candidates:
        message = (
            f"an image may have {report.worst_case:,} candidate policies, more than "
            f"--max-candidates {max_candidates:,} (see the warnings above); nothing written"
        )
        if json_errors_wanted():
            print_json_error(message, ExitCode.TOO_MANY_CANDIDATES, [])
        else:
            click.echo(f"error: {message}", err=True)
        sys.exit(int(ExitCode.TOO_MANY_CANDIDATES))


@policy.command(
    epilog="""\b
Examples:
  freightliner-policy policy validate examples/policies
  freightliner-policy policy validate team-a.yaml team-b.yaml config.yaml --max-candidates 50
  freightliner-policy policy validate policies/ --output json | jq -r '.error.problems[]?.line'

Every problem of every file in one pass (schema, semantics, replicate
targets), one line each: FILE:LINE: policy 'ID': FIELD: message; exit 3."""
)
@_PATHS
@_MAX_CANDIDATES
@click.option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help='json: {"ok": true, "policies", "files", "worst_case_candidates"} on stdout, or '
    "the error object with every problem.",
)
@exit_on_error
def validate(paths: tuple[Path, ...], max_candidates: int | None, output: str) -> None:
    """Check policy files (YAML files, directories, config.yaml) and report every problem.

    Also compiles and indexes them: policies every image must evaluate (the
    index cannot narrow them) are named on stderr with a rewrite that would
    index them.
    """
    from migrate.policy.loader import load_policy_documents, policy_files

    # every problem of every file in one pass: schema, semantics and replicate targets
    policy_set = load_policy_documents(list(paths), check_targets=True)
    bundle, report, data = _build(paths, generate_tests=False, policy_set=policy_set)
    _index_checks(bundle, report, max_candidates, data)
    count = len(bundle.policy_ids)
    files = len(policy_files(list(paths)))
    if output == "json":
        document = {
            "ok": True,
            "policies": count,
            "files": files,
            "worst_case_candidates": report.worst_case,
        }
        click.echo(json.dumps(document, sort_keys=True))
        return
    click.echo(
        f"ok: {count} polic{'y' if count == 1 else 'ies'} in {files} file(s); "
        f"at most {report.worst_case:,} candidate(s) per image"
    )


@policy.command(
    epilog="""\b
Examples:
  freightliner-policy policy build examples/policies -o bundle.tar.gz
  freightliner-policy policy build policies/ -o bundle/ --no-tests --force
  freightliner-policy policy build policies/ -o bundle.tar.gz --signing-key key.pem --key-id k1"""
)
@_PATHS
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="OUT.tar.gz for a tarball, otherwise a bundle directory.",
)
@click.option("--no-tests", is_flag=True, help="Leave out the generated per-policy tests.")
@_MAX_CANDIDATES
@progress_option
@click.option(
    "--force",
    is_flag=True,
    help="Replace OUT even if it is a non-empty directory this tool did not write.",
)
@click.option(
    "--signing-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Sign the bundle (.signatures.json): PEM private key, or a file holding the HMAC secret.",
)
@click.option("--signing-alg", type=SIGNING_ALGORITHMS, default="RS256", show_default=True)
@click.option("--key-id", default="", help="Key id written as the JWT's kid.")
@click.option("--scope", default="", help="Scope claim of the signature.")
@exit_on_error
def build(
    paths: tuple[Path, ...],
    out: Path,
    no_tests: bool,
    max_candidates: int | None,
    progress_flag: bool | None,
    force: bool,
    signing_key: Path | None,
    signing_alg: str,
    key_id: str,
    scope: str,
) -> None:
    """Build an OPA bundle from policy sources (written atomically), signed with --signing-key.

    OUT must not exist, be empty, or have been written by this tool (unless
    --force); an OUT that contains one of PATHS is always refused.

    Uses the other cores where there are some (forked processes: the later
    half of a large file's condition checks, the generated tests, and the check
    that every policy decides, in one run of policies per core); the bundle's
    bytes and every error are the same either way. FREIGHTLINER_BUILD_WORKERS=1
    keeps it to one process; =N checks the decides in N runs.
    """
    from contextlib import ExitStack

    from migrate.bundle.early_prewarm import start_early_prewarm

    # Before the imports below: a child parses the later half of a large file and checks
    # its conditions while this process imports and parses the rest (early_prewarm.py).
    early_prewarm = start_early_prewarm(list(paths))
    from migrate.bundle.atomic import check_output

    with ExitStack() as outer:
        if early_prewarm is not None:
            outer.enter_context(early_prewarm)  # stopped here if not used
        check_output(out, paths, force)
        _build_command(
            paths,
            out,
            no_tests,
            max_candidates,
            progress_flag,
            signing_key,
            signing_alg,
            key_id,
            scope,
            early_prewarm,
        )


def _build_command(
    paths: tuple[Path, ...],
    out: Path,
    no_tests: bool,
    max_candidates: int | None,
    progress_flag: bool | None,
    signing_key: Path | None,
    signing_alg: str,
    key_id: str,
    scope: str,
    early_prewarm: Any,
) -> None:
    """``policy build`` once its output was checked (``early_prewarm``: see :func:`_build`)."""
    from contextlib import ExitStack

    from migrate.bundle.builder import Bundle
    from migrate.bundle.decides_parallel import ParallelDecidesCheck
    from migrate.bundle.early_tests import EarlyTests
    from migrate.core.errors import FreightlinerError

    with (
        Progress("build", flag=progress_flag, quiet=verbosity() < 0) as progress,
        ExitStack() as stack,
        _fewer_collections(),
    ):
        started: list[ParallelDecidesCheck] = []

        def start_decides(files: dict[str, bytes], data: dict[str, Any]) -> None:
            # On the other core as soon as data.json is made, while the tests are added,
            # the warnings print and the tarball is packed; nothing is written before it
            # passed (migrate/bundle/background.py). The tests play no part in it.
            progress.step("checking the bundle decides")
            library = Bundle(files=files, revision="")
            check = ParallelDecidesCheck(library, data)
            started.append(stack.enter_context(check))

        bundle, report, data = _build(
            paths,
            generate_tests=not no_tests,
            progress=progress,
            parallel=True,
            on_data=start_decides,
            early_tests=stack.enter_context(EarlyTests()),
            early_prewarm=early_prewarm,
        )
        (decides,) = started
        _index_checks(bundle, report, max_candidates, data)
        signed = ""
        payload = None
        try:
            if signing_key is not None:
                from migrate.bundle.signing import SigningConfig, sign_bundle

                bundle = sign_bundle(
                    bundle, SigningConfig.from_file(signing_key, signing_alg, key_id, scope)
                )
                signed = f", signed {signing_alg}"
            if out.name.endswith(".tar.gz"):
                payload = bundle.tarball_bytes()
        except FreightlinerError:
            decides.wait()  # a bundle that does not decide is reported first, as before
            raise
        decides.wait()
        progress.step("writing")
        if payload is not None:
            bundle.write_tarball(out, payload=payload)
        else:
            bundle.write(out)
    click.echo(
        f"built {out} revision {bundle.revision} ({len(bundle.policy_ids)} policies; "
        f"at most {report.worst_case:,} candidate(s) per image{signed})"
    )
    # Everything is written: the process may end without freeing the build's ~10^6
    # objects one by one (10,000 policies: 0.45 s; migrate/core/fast_exit.py).
    skip_teardown()


@policy.command(
    name="test",
    epilog="""\b
Examples:
  freightliner-policy policy test examples/policies
  freightliner-policy policy test bundle.tar.gz --runner embedded -v
  freightliner-policy policy test bundle.tar.gz --verification-key pub.pem

-v lists every test, not only the failures; exit 4 when any fails.""",
)
@_PATHS
@click.option(
    "--runner",
    type=click.Choice(["auto", "opa", "embedded"]),
    default="auto",
    show_default=True,
    help="auto: `opa test` when opa is on PATH, else the embedded engine.",
)
@verification_options
@exit_on_error
def test_command(
    paths: tuple[Path, ...],
    runner: str,
    verification_key: Path | None,
    verification_key_id: str,
    verification_alg: str,
    verification_scope: str,
) -> None:
    """Run the library's and the generated per-policy tests of a bundle."""
    from migrate.bundle.tester import run_bundle_tests

    verification = verification_config(
        verification_key, verification_key_id, verification_alg, verification_scope
    )
    report = run_bundle_tests(load_bundle(paths, verification=verification), runner)
    for outcome in report.outcomes:
        if verbosity() > 0 or not outcome.passed:
            status = "PASS" if outcome.passed else "FAIL"
            detail = f": {outcome.error}" if outcome.error else ""
            click.echo(f"{status} data.{outcome.package}.{outcome.name}{detail}")
    click.echo(f"{report.runner}: {report.passed} passed, {report.failed} failed")
    if not report.ok:
        sys.exit(int(ExitCode.TEST_FAILURE))


def _read_image(source: str) -> ImageMetadata:
    from migrate.core.limits import InputLimitError, check_json_text

    name = "<stdin>" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        check_json_text(text)
        value = json.loads(text)
        return ImageMetadata.model_validate(value)
    except InputLimitError as exc:
        raise ConfigError(f"{name}:{exc.line}: {exc.message}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    except ValidationError as exc:
        problems = [
            Diagnostic(e["msg"], file=name, field="image." + ".".join(str(s) for s in e["loc"]))
            for e in exc.errors()
        ]
        raise PolicyError("invalid image metadata", problems) from exc


def _shown(type_: str, actual: Any) -> str:
    """An explanation's actual value: ages as days and hours, the rest as JSON."""
    if type_ == "age" and isinstance(actual, int):
        hours = actual // 3_600_000_000_000
        return f"{hours // 24}d{hours % 24}h old"
    return json.dumps(actual, ensure_ascii=False)


def render_decision_text(decision: ReplicationDecision, explain: bool) -> list[str]:
    """The human form of a decision."""
    lines = [f"outcome: {decision.outcome}", f"reason: {decision.reason}"]
    if decision.matched_policies:
        lines.append(f"matched policies: {', '.join(decision.matched_policies)}")
    for action in decision.actions:
        target = f"{action.target_registry}/{action.target_repo}:{action.target_tag}"
        detail = (
            target if action.type == "replicate" else json.dumps(action.parameters, sort_keys=True)
        )
        lines.append(f"  {action.type:<9} {detail}  [{', '.join(action.policy_ids)}]")
    if explain:
        for policy_result in decision.explanation:
            mark = "matched" if policy_result.matched else "not matched"
            lines.append(
                f"policy {policy_result.policy_id} (priority {policy_result.priority}): {mark}"
            )
            for c in policy_result.conditions:
                if c.type == "group":  # an explicit all/any/not: the group's own verdict
                    lines.append(f"  {'✓' if c.matched else '✗'} {c.path}: {_group_text(c)}")
                    continue
                key = f"[{c.key}]" if c.key else ""
                lines.append(
                    f"  {'✓' if c.matched else '✗'} {c.path}: {c.type}{key} {c.operator} "
                    f"{json.dumps(c.value, ensure_ascii=False)} "
                    f"(actual: {_shown(c.type, c.actual)})"
                )
    return lines


def _group_text(line: Any) -> str:
    """``not`` / ``any of N`` / ``all of N``, and what the verdict is about."""
    if line.operator == "not":
        return "not (holds when the condition below does not)"
    size = line.value if isinstance(line.value, int) else "?"
    return f"{line.operator} of {size} (the conditions below)"


def _check_now(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A usage error (exit 2) before any engine sees it."""
    from migrate.policy.values import check_rfc3339

    if value is None:
        return None
    try:
        return check_rfc3339(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@policy.command(
    name="eval",
    epilog="""\b
Examples:
  freightliner-policy policy eval examples/policies --image examples/images/prod-scanned.json
  freightliner-policy policy eval bundle.tar.gz --image - --output json < image.json
  freightliner-policy policy eval examples/policies --image examples/images/dev-build.json \\
      --explain --now 2026-11-23T12:00:00Z""",
)
@_PATHS
@click.option(
    "--image", "image_source", required=True, help="ImageMetadata JSON file, or - for stdin."
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--explain", is_flag=True, help="Show how every candidate policy's conditions evaluated."
)
@click.option(
    "--now",
    default=None,
    callback=_check_now,
    help="RFC 3339 time for age conditions (default: now).",
)
@verification_options
@exit_on_error
def eval_command(
    paths: tuple[Path, ...],
    image_source: str,
    output: str,
    explain: bool,
    now: str | None,
    verification_key: Path | None,
    verification_key_id: str,
    verification_alg: str,
    verification_scope: str,
) -> None:
    """Decide one image with the embedded engine. Exit 5 when the decision blocks it."""
    from migrate.engine.embedded import EmbeddedEngine

    image = _read_image(image_source)
    verification = verification_config(
        verification_key, verification_key_id, verification_alg, verification_scope
    )
    bundle = load_bundle(paths, generate_tests=False, verification=verification)
    engine = EmbeddedEngine(bundle.modules(), bundle.data(), bundle.revision)
    decision = engine.decide(image, now=now, explain=explain)
    if output == "json":
        document: dict[str, Any] = decision.model_dump(mode="json")
        click.echo(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        for line in render_decision_text(decision, explain):
            click.echo(line)
    if decision.outcome == "block":
        sys.exit(int(ExitCode.BLOCKED))


@policy.command(
    name="list",
    epilog="""\b
Examples:
  freightliner-policy policy list examples/policies
  freightliner-policy policy list examples/policies --output json | jq '.[].id'""",
)
@_PATHS
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@exit_on_error
def list_command(paths: tuple[Path, ...], output: str) -> None:
    """List policies by descending priority."""
    from migrate.policy.loader import load_policy_documents

    items = sorted(
        load_policy_documents(list(paths)).policies, key=lambda p: (-p.policy.priority, p.policy.id)
    )
    rows: list[dict[str, Any]] = [
        {
            "id": p.policy.id,
            "name": p.policy.name,
            "priority": p.policy.priority,
            "enabled": p.policy.enabled,
            "schedule": p.policy.schedule or "",
            "conditions": len(p.policy.conditions),
            "actions": [a.type for a in p.policy.actions],
            "source": f"{p.file}:{p.line}" if p.line else p.file,
        }
        for p in items
    ]
    if output == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    click.echo(f"{'PRIORITY':>8}  {'ENABLED':<7}  {'ID':<32}  {'ACTIONS':<24}  SOURCE")
    for row in rows:
        actions = ",".join(row["actions"]) or "-"
        click.echo(
            f"{row['priority']:>8}  {str(row['enabled']).lower():<7}  {row['id']:<32}  "
            f"{actions:<24}  {row['source']}"
        )


# The commands that talk to a `serve` (httpx), after those above as before: imported
# when used (adapter.cli.main).
assert isinstance(policy, LazyGroup)
policy.add_lazy_command("export", "adapter.cli.policy_remote:export_command")
policy.add_lazy_command("apply", "adapter.cli.policy_remote:apply_command")
policy.add_lazy_command("preview", "adapter.cli.policy_remote:preview_command")
