"""The later policies' condition answers computed from the start of a build
(migrate/bundle/early_prewarm.py): a child forked before the parse parses the file's tail
alone; the loader's problems and results are what one process gives, wherever the cut
falls. Real files, real forks."""

from __future__ import annotations

import functools
import os
import select
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrate.bundle import prewarm as prewarm_module
from migrate.bundle.builder import BundleBuilder
from migrate.bundle.early_prewarm import start_early_prewarm
from migrate.bundle.early_tests import EarlyTests
from migrate.bundle.prewarm import argument_answers, prewarm_arguments
from migrate.core import yaml_source, yaml_split
from migrate.core.errors import PolicyError
from migrate.policy import conditions
from migrate.policy.loader import load_policy_documents


def _policy(n: int) -> dict[str, Any]:
    return {
        "id": f"p{n:03d}",
        "priority": n,
        "conditions": [
            {"type": "repository", "operator": "glob", "value": f"team-{n:03d}/*"},
            {"type": "tag", "operator": "matches", "value": f"^v{n}\\.[0-9]+$"},
        ],
        "actions": [{"type": "replicate", "target_registry": "ecr"}],
    }


def _document(count: int, changes: dict[int, dict[str, Any]], wrap: bool = False) -> str:
    policies = [{**_policy(n), **changes.get(n, {})} for n in range(count)]
    return yaml.safe_dump({"policies": policies} if wrap else policies, sort_keys=False)


def test_the_tail_parsed_in_the_child_joins_the_head_parsed_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loader's parse (EarlyPrewarm.load): this process parses only the head; the
    document is what one parse gives (lines included); the policies are the same."""
    source = tmp_path / "p.yaml"
    text = _document(40, {}, wrap=True)
    source.write_text(text)
    plain = load_policy_documents([source])
    parsed_here: list[int] = []
    real = yaml_source._load_plain_counted
    parent = os.getpid()

    def counted(part: str, filename: str, max_depth: int = 64) -> Any:
        if os.getpid() == parent:
            parsed_here.append(len(part))
        return real(part, filename, max_depth)

    monkeypatch.setattr(yaml_split, "_load_plain_counted", counted)
    monkeypatch.setattr(yaml_source, "_load_plain_counted", counted)
    early = start_early_prewarm([source], min_bytes=0)
    assert early is not None
    with early:
        assert early.cut.key_line == 1 and early.cut.indent == 0
        document = early.load(text, str(source))
        assert early.joined
        assert parsed_here == [early.cut.offset]  # the head only
        assert document == yaml_source.load_yaml(text, str(source))
        lines = [p.line for p in document["policies"]]
        assert lines == [p.line for p in yaml_source.load_yaml(text, str(source))["policies"]]
        prewarm = functools.partial(prewarm_arguments, min_policies=4, early=early)
        assert load_policy_documents([source], prewarm=prewarm, parse=early.load) == plain
        assert early.taken


def test_another_text_is_parsed_here(tmp_path: Path) -> None:
    source = tmp_path / "p.yaml"
    text = _document(40, {})
    source.write_text(text)
    conditions._ARGUMENTS.clear()  # the child answers what this process does not know
    early = start_early_prewarm([source], min_bytes=0)
    assert early is not None
    with early:
        changed = text.replace("p039", "p040")  # the file changed since the child read it
        assert early.load(changed, str(source)) == yaml_source.load_yaml(changed, str(source))
        assert not early.joined
        assert early.answers()  # the answers are still pure, still usable


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The argument values computed in this process (not in a child)."""
    parent = os.getpid()
    here: list[Any] = []
    real = conditions._compute_argument

    def counted(ctype: str, key: str, op: str, value: Any, include_prerelease: bool = False) -> Any:
        if os.getpid() == parent:
            here.append(value)
        return real(ctype, key, op, value, include_prerelease)

    monkeypatch.setattr(conditions, "_compute_argument", counted)
    conditions._ARGUMENTS.clear()
    return here


def test_the_child_checks_the_policies_from_the_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "p.yaml"
    text = _document(40, {})
    source.write_text(text)
    plain = load_policy_documents([source])
    here = _counting(monkeypatch)
    early = start_early_prewarm([tmp_path], min_bytes=0)  # a directory, as given
    assert early is not None and early.file == source
    with early:
        first = int(text.splitlines()[early.line - 1].removeprefix("- id: p"))
        assert 17 < first < 23  # about half of the text from its end (CHILD_SHARE)
        prewarm = functools.partial(prewarm_arguments, min_policies=4, early=early)
        assert load_policy_documents([source], prewarm=prewarm) == plain
        assert early.taken
    # the policies before the cut computed here, the others' answers came from the child
    assert here == [v for n in range(first) for v in (f"team-{n:03d}/*", f"^v{n}\\.[0-9]+$")]


def test_its_answers_are_those_of_the_later_policies(tmp_path: Path) -> None:
    source = tmp_path / "p.yaml"
    text = _document(30, {})
    source.write_text(text)
    conditions._ARGUMENTS.clear()  # the child answers what this process does not know
    early = start_early_prewarm([source], min_bytes=0)
    assert early is not None
    with early:
        split = int(text.splitlines()[early.line - 1].removeprefix("- id: p"))
        answers = early.answers()
    conditions._ARGUMENTS.clear()
    assert answers == argument_answers(yaml.safe_load(text)[split:])
    assert len(answers) == 2 * (30 - split) > 0


def test_problems_on_both_sides_of_the_cut_are_reported_as_by_one_process(
    tmp_path: Path,
) -> None:
    bad_regex = {"conditions": [{"type": "tag", "operator": "matches", "value": "v1.(\\d"}]}
    bad_glob = {"conditions": [{"type": "repository", "operator": "glob", "value": "a[/*"}]}
    typo = {"actions": [{"type": "blok"}]}
    source = tmp_path / "p.yaml"
    source.write_text(_document(40, {3: bad_regex, 25: bad_regex, 33: bad_glob, 38: typo}))
    with pytest.raises(PolicyError) as plain:
        load_policy_documents([source])
    conditions._ARGUMENTS.clear()
    early = start_early_prewarm([source], min_bytes=0)
    assert early is not None
    with early, pytest.raises(PolicyError) as got:
        load_policy_documents(
            [source], prewarm=functools.partial(prewarm_arguments, min_policies=4, early=early)
        )
    assert [str(d) for d in got.value.diagnostics] == [str(d) for d in plain.value.diagnostics]
    assert len(plain.value.diagnostics) == 4


def test_a_cut_inside_a_quoted_scalar_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line "- " at column 0 inside a multi-line quoted scalar: the child parses nonsense
    (or nothing); no policy starts on that line here, so the loader forks its own child
    after the parse, and the result is the same."""
    policies = _document(40, {}).split("- id: p020\n")
    text = (
        policies[0]
        + '- id: p020\n  name: "first line\n- id: fake\n  priority: 7\n  last line"\n'
        + policies[1]
    )
    source = tmp_path / "p.yaml"
    source.write_text(text)
    plain = load_policy_documents([source])
    assert plain.policies[20].policy.name == "first line - id: fake priority: 7 last line"
    share = 1 - text.index("\n- id: fake") / len(text)
    conditions._ARGUMENTS.clear()
    early = start_early_prewarm([source], min_bytes=0, share=share)
    assert early is not None and text.splitlines()[early.line - 1] == "- id: fake"
    with early:
        prewarm = functools.partial(prewarm_arguments, min_policies=4, early=early)
        assert load_policy_documents([source], prewarm=prewarm) == plain
        assert not early.taken  # not this document's child: the loader's own ran


def test_no_early_child_for_small_files_or_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "p.yaml"
    source.write_text(_document(40, {}))
    assert start_early_prewarm([source]) is None  # below MIN_BYTES
    assert start_early_prewarm([tmp_path / "missing.yaml"], min_bytes=0) is None
    monkeypatch.setenv("FREIGHTLINER_BUILD_WORKERS", "1")
    assert start_early_prewarm([source], min_bytes=0) is None


def test_a_child_that_dies_changes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "p.yaml"
    text = _document(40, {}, wrap=True)
    source.write_text(text)
    plain = load_policy_documents([source])
    early = start_early_prewarm([source], min_bytes=0)
    assert early is not None and early._pid is not None
    os.kill(early._pid, signal.SIGKILL)
    with early:
        prewarm = functools.partial(prewarm_arguments, min_policies=4, early=early)
        assert load_policy_documents([source], prewarm=prewarm, parse=early.load) == plain
        assert early.joined  # it asked, got nothing, and parsed the whole text here
        assert early.split_of(list(yaml_source.load_yaml(text, "f")["policies"])) is None
    assert early._pid is None  # reaped


def test_tests_start_early_when_the_child_is_done_before_the_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other core would be idle from the child's answers to the split: the generated
    tests of the policies loaded so far start then; the bundle is the same."""
    source = tmp_path / "p.yaml"
    text = _document(40, {}, wrap=True)
    source.write_text(text)
    serial = BundleBuilder().build(load_policy_documents([source]))
    monkeypatch.setattr(prewarm_module, "_READY_EVERY", 1)
    conditions._ARGUMENTS.clear()
    early = start_early_prewarm([source], min_bytes=0)
    assert early is not None
    real_ready = early.answers_ready
    asked: list[int] = []

    def ready_soon() -> bool:  # the child's 20 policies take milliseconds: wait for them
        asked.append(1)
        if early._frames_read == 1 and early._pipe is not None:
            select.select([early._pipe], [], [], 10)
        return real_ready()

    monkeypatch.setattr(early, "answers_ready", ready_soon)
    with early, EarlyTests() as tests:
        prewarm = functools.partial(
            prewarm_arguments, min_policies=4, early=early, on_split=tests.start
        )
        policy_set = load_policy_documents([source], prewarm=prewarm, parse=early.load)
        split = int(text.splitlines()[early.line - 1].removeprefix("- id: p"))
        assert tests.ids == {"p000"}  # asked before the second policy: one loaded
        assert split > 1 and asked
        bundle = BundleBuilder(parallel=True).build(policy_set, early_tests=tests)
    assert (bundle.files, bundle.revision) == (serial.files, serial.revision)
