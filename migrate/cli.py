"""``freightliner-migrate``: legacy replication rules → YAML policies → Rego bundle, and the proof.

The click group :data:`cli` is also mounted as ``freightliner-policy migrate``.

* ``convert LEGACY_FILE... -o OUT_DIR`` writes policies/*.yaml, bundle.tar.gz and report.md;
* ``verify LEGACY_FILE...`` compares legacy semantics with the bundle, image by image;
* ``report LEGACY_FILE...`` prints what translates, what does not, and the warnings.

Exit codes are the project's one table (:mod:`migrate.core.exit_codes`,
docs/cli.md): 0 ok, 2 usage, 3 invalid legacy input or a refused output
directory, 4 mismatches found (verify), 6 a registry unavailable (live
inventory), 1 anything unexpected.
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
from migrate.core.errors import ConfigError, Diagnostic
from migrate.core.exit_codes import ExitCode, exit_on_error
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
) -> tuple[LegacyInput, Conversion, dict[str, str]]:
    names = parse_registry_option(registries)
    legacy = resolve_names(read_legacy(files), names, tree_source, tree_dest)
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


@click.group(name="migrate")
def cli() -> None:
    """Migrate legacy Freightliner replication rules, sync configs and tree filters to policies."""


@cli.command()
@_legacy_options
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
    out_dir: Path,
    strict: bool,
    force: bool,
) -> None:
    """Convert LEGACY_FILE... into OUT_DIR/{policies/*.yaml,bundle.tar.gz,report.md}.

    OUT_DIR must not exist, be empty, or have been written by this tool before
    (unless --force); an OUT_DIR that contains a LEGACY_FILE is always refused.
    """
    check_output(out_dir, legacy_files, force)
    legacy, conversion, _ = _load(legacy_files, registries, tree_source, tree_dest, strict)
    bundle = write_output(out_dir, legacy, conversion)
    click.echo(
        f"{len(conversion.policies)} policies from {len(legacy.files)} file(s) -> {out_dir} "
        f"(bundle revision {bundle.revision})"
    )


@cli.command()
@_legacy_options
@exit_on_error
def report(
    legacy_files: tuple[Path, ...], registries: tuple[str, ...], tree_source: str, tree_dest: str
) -> None:
    """Print what translates, what needs attention, what does not, and the warnings."""
    legacy, conversion, _ = _load(legacy_files, registries, tree_source, tree_dest)
    click.echo(render_report(legacy, conversion), nl=False)


@cli.command()
@_legacy_options
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
) -> None:
    """Check the bundle decides like the legacy rules on an inventory and generated edge cases."""
    legacy, conversion, names = _load(legacy_files, registries, tree_source, tree_dest)
    if inventory:
        images = load_inventory(inventory)
    elif names:
        images = _live_inventory()(names)
    else:
        images = []
    source = len(images)
    images = sorted(set(images) | set(edge_cases(legacy, samples, seed)))
    if bundle_path is not None:
        read_bundle(bundle_path)  # limits and integrity, whichever engines read it next
    with tempfile.TemporaryDirectory(prefix="freightliner-verify-") as tmp:
        if bundle_path is None:
            write_output(Path(tmp) / "out", legacy, conversion)
            bundle_path = Path(tmp) / "out" / "bundle.tar.gz"
        engines = engines_available(bundle_path, engine_names or ("embedded", "opa"))
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
