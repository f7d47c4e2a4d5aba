"""Loading policies from YAML files, directories of them, or a Freightliner
``config.yaml`` with a ``policy:`` section, collecting every problem.

Accepted document shapes:

* a list of policies;
* ``{policies: [...]}``;
* a single policy mapping (it has an ``id``);
* ``{policy: {enabled, configPath, ..., policies: [...]}}`` (a config file:
  its embedded policies; ``configPath`` is the directory ``serve`` watches,
  not read here - pass it as another path to include its policies).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from migrate.core.errors import Diagnostic, PolicyError
from migrate.core.limits import InputLimitError, check_source_size
from migrate.core.yaml_source import line_of, load_yaml
from migrate.policy.model import LoadedPolicy, Policy, PolicyConfig, PolicySet
from migrate.policy.salvage import salvage
from migrate.policy.semantics import check_policy
from migrate.policy.targets import judge_policy_targets

__all__ = ["Prewarm", "load_policy_documents", "parse_policy_text", "policy_files"]

_SUFFIXES = (".yaml", ".yml")

#: Given the raw policies of a document about to be checked in order, a context whose
#: value is called before each one is checked with its number and the policies of the
#: document loaded so far (to make the work cheaper or start it sooner, never to change
#: it): migrate.bundle.prewarm.prewarm_arguments.
Prewarm = Callable[[list[Any]], AbstractContextManager[Callable[[int, list[LoadedPolicy]], None]]]


def policy_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories (recursively, ``*.yaml``/``*.yml``) into a sorted file list."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
            )
        else:
            files.append(path)
    return files


def _entries(
    data: Any, filename: str
) -> tuple[list[tuple[Any, list[str | int]]], list[Diagnostic], str | None]:
    """The raw policy mappings of one document with their paths, problems, and a configPath."""
    if data is None:
        return [], [], None
    if isinstance(data, list):
        return [(item, [i]) for i, item in enumerate(data)], [], None
    if not isinstance(data, dict):
        return (
            [],
            [Diagnostic("expected a mapping or a list of policies", file=filename, line=1)],
            None,
        )
    if "policy" in data and "id" not in data:
        section = data["policy"] if isinstance(data["policy"], dict) else {}
        try:
            config = PolicyConfig.model_validate(section)
        except ValidationError as exc:
            return [], _pydantic_diagnostics(exc, data, ["policy"], filename, None), None
        entries: list[tuple[Any, list[str | int]]] = [
            (item, ["policy", "policies", i])
            for i, item in enumerate(section.get("policies") or [])
        ]
        return entries, [], config.configPath
    if "policies" in data and "id" not in data:
        unknown = sorted(set(data) - {"policies", "registries", "opa", "version"})
        problems = [
            Diagnostic(f"unknown top-level key {k!r}", file=filename, line=line_of(data, [k]))
            for k in unknown
        ]
        items = data["policies"]
        if not isinstance(items, list):
            return (
                [],
                [
                    Diagnostic(
                        "'policies' must be a list", file=filename, line=line_of(data, ["policies"])
                    )
                ],
                None,
            )
        return [(item, ["policies", i]) for i, item in enumerate(items)], problems, None
    return [(data, [])], [], None


def _field_path(loc: tuple[Any, ...]) -> str:
    text = ""
    for step in loc:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += ("." if text else "") + ("not" if step == "not" else str(step))
    return text


def _pydantic_diagnostics(
    exc: ValidationError, root: Any, base: list[str | int], filename: str, policy_id: str | None
) -> list[Diagnostic]:
    problems = []
    for error in exc.errors():
        loc = tuple(
            step
            for step in error["loc"]
            if not (isinstance(step, str) and step.startswith("function-"))
        )
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(
            Diagnostic(
                message,
                file=filename,
                line=line_of(root, [*base, *loc]),
                policy_id=policy_id,
                field=_field_path(loc),
            )
        )
    return problems


def _under(field: str, paths: set[str]) -> bool:
    """``field`` is one of ``paths`` or below one of them."""
    return any(field == p or field.startswith((p + ".", p + "[")) for p in paths)


def _load_document(
    data: Any,
    filename: str,
    base_dir: Path | None,
    check_targets: bool = False,
    prewarm: Prewarm | None = None,
) -> tuple[list[LoadedPolicy], list[Diagnostic], Path | None]:
    entries, problems, config_path = _entries(data, filename)
    with (
        prewarm([raw for raw, _ in entries]) if prewarm is not None else nullcontext(None)
    ) as before:
        loaded = _load_entries(entries, data, filename, check_targets, problems, before)
    extra = (base_dir / config_path) if (config_path and base_dir is not None) else None
    return loaded, problems, extra


def _load_entries(
    entries: list[tuple[Any, list[str | int]]],
    data: Any,
    filename: str,
    check_targets: bool,
    problems: list[Diagnostic],
    before: Callable[[int, list[LoadedPolicy]], None] | None,
) -> list[LoadedPolicy]:
    loaded: list[LoadedPolicy] = []
    for number, (raw, path) in enumerate(entries):
        if before is not None:
            before(number, loaded)
        line = line_of(data, path)
        policy_id = (
            raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        )
        if not isinstance(raw, dict):
            problems.append(Diagnostic("a policy must be a mapping", file=filename, line=line))
            continue
        skip: set[str] = set()
        valid = True
        try:
            policy: Policy | None = Policy.model_validate(raw)
        except ValidationError as exc:
            problems.extend(_pydantic_diagnostics(exc, data, path, filename, policy_id))
            # the rest of the policy is still checked: one typo does not hide the others
            policy, skip = salvage(raw, exc)
            valid = False
        if policy is None:
            continue
        semantic = [(f, m) for f, m in check_policy(policy) if not _under(f, skip)]
        for field, message in semantic:
            loc = _parse_field(field)
            problems.append(
                Diagnostic(
                    message,
                    file=filename,
                    line=line_of(data, [*path, *loc]),
                    policy_id=policy_id,
                    field=field,
                )
            )
        if check_targets:
            targets = judge_policy_targets(
                policy,
                file=filename,
                root=data,
                path=path,
                line=line,
                skip=frozenset(skip | {f for f, _ in semantic}),
            )
            problems.extend(targets)
            valid = valid and not targets
        if valid and not semantic:
            loaded.append(LoadedPolicy(policy=policy, file=filename, line=line, raw=raw))
    return loaded


def _parse_field(field: str) -> list[str | int]:
    """``conditions[1].any[0].value`` back to a path for line lookup."""
    steps: list[str | int] = []
    for part in field.replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("[") and part.endswith("]") and part[1:-1].isdigit():
            steps.append(int(part[1:-1]))
        else:
            steps.append(part)
    return steps


def parse_policy_text(text: str, filename: str) -> PolicySet:
    """Parse and validate one YAML document's policies; PolicyError lists every problem."""
    data = load_yaml(text, filename)
    loaded, problems, _ = _load_document(data, filename, None)
    _raise_if(problems, loaded)
    return PolicySet(sorted(loaded, key=lambda p: p.policy.id))


def _raise_if(problems: list[Diagnostic], loaded: list[LoadedPolicy]) -> None:
    seen: dict[str, LoadedPolicy] = {}
    for item in loaded:
        first = seen.setdefault(item.policy.id, item)
        if first is not item:
            problems.append(
                Diagnostic(
                    f"duplicate policy id (first defined at {first.file}:{first.line})",
                    file=item.file,
                    line=item.line,
                    policy_id=item.policy.id,
                    field="id",
                )
            )
    if problems:
        count = len(problems)
        raise PolicyError(f"{count} problem{'s' if count != 1 else ''} in policy input", problems)


def load_policy_documents(
    paths: Iterable[Path],
    overrides: Mapping[Path, str | None] | None = None,
    *,
    check_targets: bool = False,
    prewarm: Prewarm | None = None,
    parse: Callable[[str, str], Any] | None = None,
) -> PolicySet:
    """Load every policy from files, directories and config files.

    Reports every problem of every file at once (PolicyError.diagnostics):
    schema and semantic problems together (a policy that fails the schema is
    still checked, :mod:`migrate.policy.salvage`), and, with ``check_targets``
    (``policy validate``), replicate targets that break the image-name grammar
    (:mod:`migrate.policy.targets`); ids must be unique across all inputs.
    ``overrides`` (a proposed change, not yet on disk): a file's text instead of
    its content, ``None`` to leave the file out; override paths not among the
    files are added. ``prewarm``: see :data:`Prewarm` (the same result, sooner).
    ``parse(text, filename)``: what ``load_yaml`` gives, computed otherwise (the same
    value and errors, sooner: :meth:`migrate.bundle.early_prewarm.EarlyPrewarm.load`).
    """
    loaded: list[LoadedPolicy] = []
    problems: list[Diagnostic] = []
    overrides = overrides or {}
    pending = list(policy_files(paths))
    pending.extend(p for p in overrides if p not in pending and overrides[p] is not None)
    visited: set[Path] = set()
    while pending:
        file = pending.pop(0)
        resolved = file.resolve()
        if resolved in visited:
            continue
        visited.add(resolved)
        name = str(file)
        try:
            if file in overrides:  # a proposed text (the policy API), maybe not on disk yet
                text = overrides[file]
                if text is not None:
                    check_source_size(len(text.encode("utf-8")))
            else:
                check_source_size(file.stat().st_size)  # before reading it into memory
                text = file.read_text(encoding="utf-8")
        except InputLimitError as exc:
            problems.append(Diagnostic(exc.message, file=name))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(
                Diagnostic(f"cannot read: {getattr(exc, 'strerror', None) or exc}", file=name)
            )
            continue
        if text is None:  # removed by the overrides
            continue
        try:
            data = (parse or load_yaml)(text, name)
        except PolicyError as exc:
            problems.extend(exc.diagnostics)
            continue
        items, file_problems, _ = _load_document(data, name, file.parent, check_targets, prewarm)
        loaded.extend(items)
        problems.extend(file_problems)
    _raise_if(problems, loaded)
    return PolicySet(sorted(loaded, key=lambda p: p.policy.id))
