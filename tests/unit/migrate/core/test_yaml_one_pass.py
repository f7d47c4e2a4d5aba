"""The one-pass YAML path gives exactly what the general path gives (values, types, lines,
errors), and leaves everything unusual (aliases, tags, merge keys, duplicates, errors,
limits) to the general path."""

from __future__ import annotations

from typing import Any

import pytest

from migrate.core import yaml_source
from migrate.core.errors import FreightlinerError, PolicyError
from migrate.core.limits import MAX_YAML_DEPTH
from migrate.core.yaml_source import LocatedDict, LocatedList, load_yaml


def _shape(value: Any) -> Any:
    """Everything a caller can observe: types, values, and every line."""
    if isinstance(value, LocatedDict):
        return ("map", value.line, [(k, value.lines[k], _shape(v)) for k, v in value.items()])
    if isinstance(value, LocatedList):
        return ("seq", value.line, list(value.lines), [_shape(v) for v in value])
    return (type(value).__name__, repr(value))


def _general(text: str) -> Any:
    return yaml_source._load_general(text, "f.yaml", PolicyError, "YAML syntax error")


PLAIN = [
    "",
    "---\n",
    "hello\n",
    "- id: a\n  priority: 10\n  enabled: true\n  x: null\n  y: ~\n  z: 1.5\n  w: -3\n",
    "a: 0x1F\nb: 0o17\nc: 1_000\nd: .inf\ne: -.Inf\nf: .nan\ng: 2001-12-14t21:59:43.10-05:00\n",
    "a: yes\nb: No\nc: on\nd: OFF\ne: 'true'\nf: \"1\"\ng: !!str 12\nh: 2026-01-01\n",
    "policies:\n  - id: x\n    conditions: [{type: tag, operator: matches, value: '^v.*'}]\n",
    "{a: [1, [2, [3, {b: c}]]], d: {}}\n",
    "? [a, b]\n: 1\n? {c: d}\n: 2\n1: one\ntrue: t\nnull: n\n",
    "a: |\n  line one\n  line two\nb: >\n  folded\n  text\nc: ''\nd: \"\\u00e9\\n\"\n",
    "!!map\na: !!seq\n  - 1\n",
    "%YAML 1.1\n---\na: 1\n...\n",
    "- - - - deep\n",
    "a:\n\n\n  b:\n    - 1\n\n    - x: 2\n      y: 3\n",
    "a: ''\nb:\n",
    "k: 'it''s'\nn: 00012\no: 012\np: 1e3\nq: 1.0e+3\nr: +12\ns: 190:20:30\n",
]


@pytest.mark.parametrize("text", PLAIN)
def test_one_pass_equals_the_general_path(text: str) -> None:
    fast = yaml_source._load_plain(text, "f.yaml")  # not _Unusual: the one-pass path took it
    assert _shape(fast) == _shape(_general(text))
    assert _shape(load_yaml(text, "f.yaml")) == _shape(fast)


UNUSUAL = [
    "a: &x [1, 2]\nb: *x\n",  # alias
    "a: &x 1\n",  # an anchor (the composer checks duplicate anchors)
    "a: *nowhere\n",  # undefined alias
    "base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n",  # merge key
    "=: 1\n",  # value key
    "a: !custom 1\n",  # unknown tag
    "a: !!int 12\nb: !!float 1\n",  # explicit scalar tags
    "a: !!int abc\n",  # a constructor's error
    "a: ! 12\n",  # the non-specific tag
    "s: !!set {a, b}\n",
    "o: !!omap [a: 1]\n",
    "a: 1\na: 2\n",  # duplicate key
    "a:\n  b: 1\n  b: {c: 1, c: 2}\n",  # duplicate inside a duplicate
    "a: 1\n---\nb: 2\n",  # two documents
    "a: [1, 2\n",  # syntax error
    "a: b: c\n",
    "a: !!int x\nb: [\n",  # a constructor's error, then a syntax error
    "a: 1\n\tb: 2\n",
    "c: -\n",
    "[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1),  # past the depth limit
]


@pytest.mark.parametrize("text", UNUSUAL)
def test_unusual_input_goes_to_the_general_path(text: str) -> None:
    with pytest.raises(yaml_source._Unusual):
        yaml_source._load_plain(text, "f.yaml")
    try:
        expected: Any = ("ok", _shape(_general(text)))
    except FreightlinerError as exc:
        expected = ("error", type(exc), str(exc), [d.render() for d in exc.diagnostics])
    except Exception as exc:
        expected = ("raised", type(exc), str(exc))
    try:
        actual: Any = ("ok", _shape(load_yaml(text, "f.yaml")))
    except FreightlinerError as exc:
        actual = ("error", type(exc), str(exc), [d.render() for d in exc.diagnostics])
    except Exception as exc:
        actual = ("raised", type(exc), str(exc))
    assert actual == expected


def test_duplicate_keys_still_name_both_lines() -> None:
    with pytest.raises(PolicyError) as caught:
        load_yaml("- id: a\n  id: b\n", "p.yaml")
    assert [d.render() for d in caught.value.diagnostics] == [
        "p.yaml:2: duplicate key 'id' (first at line 1)"
    ]


def test_depth_limit_still_refused_with_its_line() -> None:
    text = "a:\n" + "".join("  " * i + "- \n" for i in range(1, MAX_YAML_DEPTH + 2))
    with pytest.raises(PolicyError) as caught:
        load_yaml(text, "p.yaml")
    assert "nests more than 64 levels deep" in str(caught.value)
    assert caught.value.diagnostics[0].line is not None
