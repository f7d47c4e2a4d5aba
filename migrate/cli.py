"""``freightliner-migrate``: legacy replication rules → YAML policies → Rego bundle, and the proof.

The click group :data:`cli` is also mounted as ``freightliner-policy migrate``.

* ``convert LEGACY_FILE... -o OUT_DIR`` writes policies/*.yaml, bundle.tar.gz and report.md;
* ``verify LEGACY_FILE...`` compares legacy semantics with the bundle, image by image;
* ``report LEGACY_FILE...`` prints what translates, what does not, and the warnings.

Exit codes are the project's one table (:mod:`migrate.core.exit_codes`,
docs/cli.md): 0 ok, 2 usage, 3 invalid legacy input or a refused output
directory, 4 mismatches found (verify) or rules not translated (report), 6 a
registry unavailable (live inventory), 1 anything unexpected.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from migrate.bundle.atomic import check_output
from migrate.bundle.builder import read_bundle
from migrate.bundle.signing_options import verification_config, verification_options
from migrate.core.cli_options import add_common_options, verbosity
from migrate.core.errors import ConfigError, Diagnostic
from migrate.core.exit_codes import ExitCode, exit_on_error
from migrate.core.progress import Progress, progress_option
from migrate.legacy.cases import edge_cases
from migrate.legacy.convert import Conversion, convert_legacy
from migrate.legacy.emit import render_report, write_output
from migrate.legacy.inventory import LiveInventory, load_inventory, parse_registry_option
from migrate.legacy.model import LegacyInput
from migrate.legacy.reader import read_legacy, resolve_names
from migrate.legacy.verify import engines_available, verify_images

__all__ = ["cli"]

F = TypeVar("F", bound=Callable[..., Any])


def _legacy_options(func: F) -> F:
    func = click.option(
        "--tree-dest",
        default="",
        metavar="REGISTRY[/PREFIX]",
        help="Destination of tree replication (treeReplicate filters).",
    )(func)
    func = click.option(
        "--tree-source",
        default="",
        metavar="REGISTRY[/PREFIX]",
        help="Source of tree replication (treeReplicate filters).",
    )(func)
    func = click.option(
        "--registry",
        "registries",
        multiple=True,
        metavar="NAME=URL",
        help="Registry name for a URL/host used by sync configs (and live inventory).",
    )(func)
    return click.argument(
        "legacy_files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False)
    )(func)


def _load(
    files: tuple[Path, ...],
    registries: tuple[str, ...],
    tree_source: str,
    tree_dest: str,
    strict: bool = False,
    progress: Progress | None = None,
) -> tuple[LegacyInput, Conversion, dict[str, str]]:
    step = progress.step if progress is not None else (lambda _: None)
    names = parse_registry_option(registries)
    step("reading legacy rules")
    legacy = resolve_names(read_legacy(files), names, tree_source, tree_dest)
    step(f"converting {len(legacy.rules):,} rules")
    for warning in legacy.warnings:
        click.echo(f"warning: {warning.render()}", err=True)
    conversion = convert_legacy(legacy, strict=strict)
    for warning in conversion.warnings:
        click.echo(f"warning: {warning.render()}", err=True)
    if conversion.errors:
        raise ConfigError(
            "the legacy rules do not convert",
            [
                Diagnostic(e.message, e.origin.file, e.origin.line, field=e.origin.label)
                for e in conversion.errors
            ],
        )
    return legacy, conversion, names


_ROOT_EPILOG = """\b
Examples:
  freightliner-migrate report examples/legacy/rules.yaml
  freightliner-migrate convert examples/legacy/rules.yaml -o out/
  freightliner-migrate verify examples/legacy/rules.yaml --inventory inventory.json
  freightliner-migrate convert -h

\b
Exit codes (the same table as freightliner-policy, docs/cli.md):
  0 ok, 1 unexpected error, 2 usage, 3 invalid input, 4 mismatches (verify)
  or rules not translated (report), 6 registry unavailable.

\b
Environment:
  FREIGHTLINER_LOG_FORMAT   default of --log-format (text or json)
  (live inventories read registries anonymously: no credential variables)

\b
Shell completion (bash; zsh and fish alike, see docs/cli.md):
  eval "$(_FREIGHTLINER_MIGRATE_COMPLETE=bash_source freightliner-migrate)"
"""


@click.group(
    name="migrate",
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=_ROOT_EPILOG,
)
@click.version_option(package_name="freightliner-policy")
def cli() -> None:
    """Migrate legacy Freightliner replication rules, sync configs and tree filters to policies."""


@cli.command(
    epilog="""\b
Examples:
  freightliner-migrate convert examples/legacy/rules.yaml -o out/
  freightliner-migrate convert rules.yaml sync.yaml \\
      --registry docker.io=https://registry-1.docker.io -o out/
  freightliner-migrate convert rules.yaml -o out/ --strict --force"""
)
@_legacy_options
@progress_option
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Output directory (replaced atomically; empty, new, or written by this tool before).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace OUT_DIR even if it is a non-empty directory this tool did not write.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse what legacy accepted but never acted on (malformed globs, unparsable "
    "tag_regex/semver_constraint, non-portable destination regexes) instead of "
    "converting it disabled.",
)
@exit_on_error
def convert(
    legacy_files: tuple[Path, ...],
    registries: tuple[str, ...],
    tree_source: str,
    tree_dest: str,
    progress_flag: bool | None,
    out_dir: Path,
    strict: bool,
    force: bool,
) -> None:
    """Convert LEGACY_FILE... into OUT_DIR/{policies/*.yaml,bundle.tar.gz,report.md}.

    OUT_DIR must not exist, be empty, or have been written by this tool before
    (unless --force); an OUT_DIR that contains a LEGACY_FILE is always refused.
    """
    check_output(out_dir, legacy_files, force)
    with Progress("convert", flag=progress_flag, quiet=verbosity() < 0) as progress:
        legacy, conversion, _ = _load(
            legacy_files, registries, tree_source, tree_dest, strict, progress
        )
        progress.step(f"writing {len(conversion.policies):,} policies and the bundle")
        bundle = write_output(out_dir, legacy, conversion)
    click.echo(
        f"{len(conversion.policies)} policies from {len(legacy.files)} file(s) -> {out_dir} "
        f"(bundle revision {bundle.revision})"
    )


@cli.command(
    epilog="""\b
Examples:
  freightliner-migrate report examples/legacy/rules.yaml
  freightliner-migrate report rules.yaml sync.yaml > report.md || echo "not all translated"

Exit 4 when a rule is not translated (the report is printed all the same)."""
)
@_legacy_options
@exit_on_error
def report(
    legacy_files: tuple[Path, ...], registries: tuple[str, ...], tree_source: str, tree_dest: str
) -> None:
    """Print what translates, what needs attention, what does not, and the warnings (Markdown).

    Exit 4 when any rule is not translated.
    """
    legacy, conversion, _ = _load(legacy_files, registries, tree_source, tree_dest)
    click.echo(render_report(legacy, conversion), nl=False)
    missing = sum(1 for e in conversion.entries if e.status == "not translated")
    if missing:
        click.echo(
            f'error: {missing} legacy rule(s) not translated (see "Not translated")', err=True
        )
        sys.exit(int(ExitCode.TEST_FAILURE))


@cli.command(
    epilog="""\b
Examples:
  freightliner-migrate verify examples/legacy/rules.yaml
  freightliner-migrate verify rules.yaml --inventory inventory.json --engine opa
  freightliner-migrate verify rules.yaml --bundle out/bundle.tar.gz --samples 32 --seed 7
  freightliner-migrate verify rules.yaml --bundle signed.tar.gz --verification-key pub.pem
  freightliner-migrate verify rules.yaml --registry quay=https://quay.example.com"""
)
@_legacy_options
@progress_option
@click.option(
    "--bundle",
    "bundle_path",
    type=click.Path(path_type=Path, exists=True),
    help="Bundle to check (default: convert the legacy files now).",
)
@click.option(
    "--inventory",
    type=click.Path(path_type=Path, dir_okay=False),
    help="JSON inventory of repositories and tags (see docs/migration.md).",
)
@click.option(
    "--samples",
    default=8,
    show_default=True,
    type=click.IntRange(min=0),
    help="Random instantiations per pattern for the generated edge cases.",
)
@click.option(
    "--engine",
    "engine_names",
    multiple=True,
    type=click.Choice(["embedded", "opa"]),
    help="Engines to use (default: embedded, plus opa when on PATH).",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the edge-case generator.")
@verification_options
@exit_on_error
def verify(
    legacy_files: tuple[Path, ...],
    registries: tuple[str, ...],
    tree_source: str,
    tree_dest: str,
    bundle_path: Path | None,
    inventory: Path | None,
    samples: int,
    engine_names: tuple[str, ...],
    seed: int,
    progress_flag: bool | None,
    verification_key: Path | None,
    verification_key_id: str,
    verification_alg: str,
    verification_scope: str,
) -> None:
    """Check the bundle decides like the legacy rules on an inventory and generated edge cases.

    With --bundle, the bundle is read once (limits, content hash and, with
    --verification-key, its signature) and the engines decide with that copy.
    Exit 4 when any image is decided differently (each mismatch is printed).
    """
    verification = verification_config(
        verification_key, verification_key_id, verification_alg, verification_scope
    )
    if verification is not None and bundle_path is None:
        raise click.UsageError("--verification-key checks a built bundle: give --bundle")
    with (
        Progress("verify", flag=progress_flag, quiet=verbosity() < 0) as progress,
        tempfile.TemporaryDirectory(prefix="freightliner-verify-") as tmp,
    ):
        legacy, conversion, names = _load(
            legacy_files, registries, tree_source, tree_dest, progress=progress
        )
        progress.step("reading the inventory")
        if inventory:
            images = load_inventory(inventory)
        elif names:
            images = _live_inventory()(names)
        else:
            images = []
        source = len(images)
        images = sorted(set(images) | set(edge_cases(legacy, samples, seed)))
        if bundle_path is not None:
            # limits, integrity and the signature; the engines read this checked copy,
            # not the path again (which could change in between)
            checked = Path(tmp) / "checked.tar.gz"
            read_bundle(bundle_path, verification).write_tarball(checked)
            bundle_path = checked
        else:
            progress.step("building the bundle")
            write_output(Path(tmp) / "out", legacy, conversion)
            bundle_path = Path(tmp) / "out" / "bundle.tar.gz"
        engines = engines_available(bundle_path, engine_names or ("embedded", "opa"))
        progress.step(f"deciding {len(images):,} images with {', '.join(engines)}")
        result = verify_images(legacy, images, engines)
    for mismatch in result.mismatches:
        click.echo(mismatch.render())
    click.echo(
        f"checked {result.images} images ({source} from the inventory, {result.images - source} "
        f"generated edge cases; {result.replicated} replicated by legacy) with "
        f"{', '.join(result.engines)}: {len(result.mismatches)} mismatches"
    )
    if not result.ok:
        sys.exit(int(ExitCode.TEST_FAILURE))


def _live_inventory() -> LiveInventory:
    """The registry reader the command was started with (``ctx.obj["live_inventory"]``:
    the adapter's registry client, set by ``freightliner-migrate`` and
    ``freightliner-policy migrate``); the translator has no HTTP client of its own."""
    obj = click.get_current_context().obj
    reader = obj.get("live_inventory") if isinstance(obj, dict) else None
    if reader is None:
        raise ConfigError(
            "no registry reader: live inventories (--registry without --inventory) need the "
            "freightliner-migrate or freightliner-policy migrate command"
        )
    result: LiveInventory = reader
    return result


add_common_options(cli)
