"""``freightliner-migrate``: legacy replication rules → YAML policies → Rego bundle, and the proof.

The click group :data:`cli` is also mounted as ``freightliner-policy migrate``.

* ``convert LEGACY_FILE... -o OUT_DIR`` writes policies/*.yaml, bundle.tar.gz and report.md;
* ``verify LEGACY_FILE...`` compares legacy semantics with the bundle, image by image;
* ``report LEGACY_FILE...`` prints what translates, what does not, and the warnings.

Exit status: 0 success, 4 mismatches found (verify), 3 bad input or a refused output.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from adapter.errors import Diagnostic, FreightlinerError
from migrate.bundle.atomic import check_output
from migrate.bundle.builder import read_bundle
from migrate.legacy.cases import edge_cases
from migrate.legacy.convert import Conversion, convert_legacy
from migrate.legacy.emit import render_report, write_output
from migrate.legacy.inventory import live_inventory, load_inventory, parse_registry_option
from migrate.legacy.model import LegacyInput
from migrate.legacy.reader import read_legacy, resolve_names
from migrate.legacy.verify import engines_available, verify_images

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])
# The project's exit codes (docs/cli.md, adapter.cli.exit_codes).
EXIT_MISMATCH = 4
EXIT_INPUT = 3


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


def _fail(lines: list[str]) -> None:
    for line in lines:
        click.echo(f"error: {line}", err=True)
    sys.exit(EXIT_INPUT)


def _load(
    files: tuple[Path, ...], registries: tuple[str, ...], tree_source: str, tree_dest: str
) -> tuple[LegacyInput, Conversion, dict[str, str]]:
    try:
        names = parse_registry_option(registries)
        legacy = resolve_names(read_legacy(files), names, tree_source, tree_dest)
    except FreightlinerError as exc:
        _fail(exc.lines())
        raise AssertionError("unreachable") from None
    for warning in legacy.warnings:
        click.echo(f"warning: {warning.render()}", err=True)
    conversion = convert_legacy(legacy)
    if conversion.errors:
        _fail(
            [
                Diagnostic(e.message, e.origin.file, e.origin.line, field=e.origin.label).render()
                for e in conversion.errors
            ]
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
def convert(
    legacy_files: tuple[Path, ...],
    registries: tuple[str, ...],
    tree_source: str,
    tree_dest: str,
    out_dir: Path,
    force: bool,
) -> None:
    """Convert LEGACY_FILE... into OUT_DIR/{policies/*.yaml,bundle.tar.gz,report.md}.

    OUT_DIR must not exist, be empty, or have been written by this tool before
    (unless --force); an OUT_DIR that contains a LEGACY_FILE is always refused.
    """
    try:
        check_output(out_dir, legacy_files, force)
    except FreightlinerError as exc:
        _fail(exc.lines())
    legacy, conversion, _ = _load(legacy_files, registries, tree_source, tree_dest)
    try:
        bundle = write_output(out_dir, legacy, conversion)
    except FreightlinerError as exc:
        _fail(exc.lines())
    click.echo(
        f"{len(conversion.policies)} policies from {len(legacy.files)} file(s) -> {out_dir} "
        f"(bundle revision {bundle.revision})"
    )


@cli.command()
@_legacy_options
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
    try:
        images = (
            load_inventory(inventory) if inventory else (live_inventory(names) if names else [])
        )
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
    except FreightlinerError as exc:
        _fail(exc.lines())
    for mismatch in result.mismatches:
        click.echo(mismatch.render())
    click.echo(
        f"checked {result.images} images ({source} from the inventory, {result.images - source} "
        f"generated edge cases; {result.replicated} replicated by legacy) with "
        f"{', '.join(result.engines)}: {len(result.mismatches)} mismatches"
    )
    if not result.ok:
        sys.exit(EXIT_MISMATCH)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="freightliner-migrate")
