"""A document parsed in two parts (migrate/core/yaml_split.py) is the document parsed once:
the same values and types, every line of every mapping and list, and the same errors, for
every cut a builder could choose, on generated and hostile documents."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.core import yaml_source, yaml_split
from migrate.core.errors import PolicyError
from migrate.core.yaml_source import LocatedDict, LocatedList, load_yaml
from migrate.core.yaml_split import Cut, find_cut, load_joined, parse_tail


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types, with equal lines at every level (and key order)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, LocatedDict):
        return (
            list(a) == list(b)
            and (a.line, a.lines) == (b.line, b.lines)
            and all(_same(a[k], b[k]) for k in a)
        )
    if isinstance(a, LocatedList):
        return (
            len(a) == len(b)
            and (a.line, a.lines) == (b.line, b.lines)
            and all(_same(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, float) and a != a:
        return bool(b != b)
    return bool(a == b)


def _outcome(load: Any) -> tuple[str, Any]:
    try:
        return "value", load()
    except PolicyError as exc:
        return "error", (exc.message, [str(d) for d in exc.diagnostics])


def _cuts(text: str) -> list[Cut]:
    """Every cut a builder could choose: each line starting with ``- `` at the items'
    indentation (as find_cut finds them), the first item's included."""
    start = yaml_split._list_start(text)
    if start is None:
        return []
    indent, key_line = start
    marker = "\n" + " " * indent + "- "
    cuts, offset = [], text.find(marker)
    while offset >= 0:
        cuts.append(Cut(offset + 1, text.count("\n", 0, offset + 1) + 1, indent, key_line))
        offset = text.find(marker, offset + 1)
    return cuts


def _check_every_cut(text: str) -> int:
    """Compare the joined load with the single one at every cut; how many were joined."""
    single = _outcome(lambda: load_yaml(text, "f.yaml"))
    joined = 0
    for cut in _cuts(text):
        tail = parse_tail(text, cut, "f.yaml")
        if tail is not None:
            tail = pickle.loads(pickle.dumps(tail, protocol=pickle.HIGHEST_PROTOCOL))
        got = _outcome(lambda cut=cut, tail=tail: load_joined(text, "f.yaml", cut, tail))
        assert got[0] == single[0], (cut, got, single)
        if got[0] == "value":
            assert _same(got[1], single[1]), cut
        else:
            assert got[1] == single[1], cut
        if tail is not None and yaml_split._join(text, "f.yaml", cut, tail) is not None:
            joined += 1
    return joined


# Values as they may be written, hostile ones included: multi-line quoted scalars whose
# continuation lines start with "- " at column 0, block scalars, flow collections over
# lines, anchors, aliases, tags, comments, tabs, special plain scalars.
_BENIGN = st.sampled_from(
    [
        "plain",
        "123",
        "1.5",
        "true",
        "null",
        "~",
        "2026-01-01",
        ".nan",
        "-.inf",
        "0x1F",
        "'single'",
        '"double \\u00e9 \\t"',
        '"multi\n- id: fake\n  line"',
        "'multi\n- id: fake\nend'",
        "|\n    block\n    - id: not-an-item\n",
        "|+\n    kept\n\n",
        ">-\n    folded\n    text\n",
        "[a, b]",
        "first\n    continued plain",
        "a\tb",
        "'it''s'",
        "x # a comment",
        "\n    - type: tag\n      value: x\n    - type: label",
        "{}",
        "[]",
        "",
    ]
)
_HOSTILE = st.sampled_from(
    [
        '"unterminated\n- id: fake',
        "[a,\n- b]",
        "{a: 1,\n- b: 2}",
        "&anchor x",
        "*anchor",
        "!!str 12",
        "!custom x",
        "first\n  continued plain",
        "- nested\n  - deeper",
        "\n  - compact: 1\n  - compact: 2",
    ]
)
_KEYS = st.sampled_from(["id", "priority", "name", "conditions", "actions", "x"])


@st.composite
def _item(draw: Any, indent: int, hostile: bool) -> str:
    keys: list[str] = draw(st.lists(_KEYS, min_size=1, max_size=4, unique=True))
    values: list[str] = [draw(_BENIGN) for _ in keys]
    if hostile:  # one hostile value, or a duplicate key
        if draw(st.booleans()):
            values[draw(st.integers(0, len(values) - 1))] = draw(_HOSTILE)
        else:
            keys.append(keys[0])
            values.append("dup")
    lines = [
        ("- " if n == 0 else "  ") + f"{k}: {v}"
        for n, (k, v) in enumerate(zip(keys, values, strict=True))
    ]
    text = "\n".join(lines)
    shifted = [(" " * indent + line) if i else line for i, line in enumerate(text.split("\n"))]
    return "\n".join(shifted)


@st.composite
def _document(draw: Any) -> str:
    shape = draw(st.sampled_from(["list", "policies0", "policies2", "other-key-first"]))
    indent = 2 if shape == "policies2" else 0
    count = draw(st.integers(1, 6))
    bad = draw(st.integers(0, 2 * count))  # an item with something hostile in a third of them
    items = [draw(_item(indent, n == bad)) for n in range(count)]
    between: str = draw(
        st.sampled_from(["\n", "\n", "\n# - id: comment\n", "\n\n", "\n  # indented\n"])
    )
    body = between.join(" " * indent + item for item in items) + "\n"
    if shape == "list":
        text = body
    elif shape == "other-key-first":
        text = "kind: policies\npolicies:\n" + body
    else:
        text = "policies:\n" + body
    ending: str = draw(st.sampled_from([""] * 8 + ["trailer: 1\n", "...\n", "---\n- id: 2\n"]))
    start: str = draw(st.sampled_from([""] * 6 + ["---\n", "\ufeff", "%YAML 1.1\n---\n", "# c\n"]))
    text = start + text + ending
    if draw(st.integers(0, 9)) == 0:
        text = text.replace("\n", "\r\n")
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_document())
def test_every_cut_of_a_generated_document_loads_as_one_parse(text: str) -> None:
    _check_every_cut(text)


def _policies(count: int, wrap: str = "") -> str:
    pad = "  " if wrap == "policies2" else ""
    items = [
        f"{pad}- id: p{n}\n{pad}  priority: {n}\n{pad}  conditions:\n"
        f"{pad}  - type: tag\n{pad}    operator: matches\n{pad}    value: '^v{n}$'\n"
        f"{pad}  description: |\n{pad}    text of {n}\n{pad}    - not an item\n"
        for n in range(count)
    ]
    return ("policies:\n" if wrap else "") + "".join(items)


@pytest.mark.parametrize("wrap", ["", "policies0", "policies2"])
def test_plain_documents_are_joined_at_every_later_cut(wrap: str) -> None:
    text = _policies(12, wrap)
    assert _check_every_cut(text) == 11  # every cut but the first item's
    cut = find_cut(text, 0.5)
    assert cut is not None and text[cut.offset :].lstrip(" ").startswith("- id: p")
    assert cut.offset >= len(text) // 2 > text.rfind("- id: p", 0, cut.offset)  # the first after


@pytest.mark.parametrize(
    "hostile",
    [
        ("\n", "\r\n"),  # CRLF: libyaml counts lines otherwise
        ("- id: p3\n", "- id: p3\n...\n"),  # a document end
        ("- id: p3\n", "- id: p3\n---\n"),  # a second document
        ("value: '^v5$'", "value: '^v5$\n- id: fake'"),  # a cut inside a quoted scalar
        ("value: '^v5$'", "value: [a,\n- id: fake]"),  # a cut inside a flow collection
        ("priority: 2\n", "priority: &a 2\n"),  # an anchor
        ("priority: 7\n", "priority: 7\n  priority: 8\n"),  # a duplicate key
        ("- id: p8\n", "- id: p8\n\t\n"),  # a tab line
    ],
)
def test_hostile_documents_load_as_one_parse(hostile: tuple[str, str]) -> None:
    text = _policies(10).replace(*hostile)
    _check_every_cut(text)


def test_the_limits_are_the_whole_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _policies(10)
    single_nodes = yaml_source._load_plain_counted(text, "f")[1]
    assert single_nodes > 100
    cut = find_cut(text, 0.5)
    assert cut is not None
    tail = parse_tail(text, cut, "f")
    assert tail is not None
    # one node fewer than the document has: the split refuses to join, one parse decides
    monkeypatch.setattr(yaml_split, "MAX_YAML_NODES", single_nodes - 1)
    assert yaml_split._join(text, "f", cut, tail) is None
    monkeypatch.setattr(yaml_split, "MAX_YAML_NODES", single_nodes)
    assert yaml_split._join(text, "f", cut, tail) is not None
    # the tail of a `policies:` list is one level less deep than in the document
    wrapped = _policies(10, "policies0")
    deep = wrapped.replace("value: '^v7$'", "value: " + "[" * 60 + "]" * 60)
    cut = find_cut(deep, 0.5)
    assert cut is not None and cut.key_line == 1
    with pytest.raises(PolicyError) as single:
        load_yaml(deep, "f")
    with pytest.raises(PolicyError) as joined:
        load_joined(deep, "f", cut, parse_tail(deep, cut, "f"))
    assert joined.value.diagnostics == single.value.diagnostics
    assert "levels deep" in single.value.message


def test_no_cut_where_the_shape_is_not_a_policy_list() -> None:
    assert find_cut("id: one\npriority: 1\n", 0.5) is None
    assert find_cut("policies:\n  a: 1\n", 0.5) is None
    assert find_cut("- id: a\n", 0.5) is None  # no later item
    assert find_cut(_policies(4).replace("\n", "\r\n"), 0.5) is None
    assert find_cut("%YAML 1.1\n---\n" + _policies(4), 0.5) is None
    assert find_cut(_policies(4) + "...\n", 0.5) is None
    assert find_cut(_policies(4).replace("text of 2", "text\u2028of 2"), 0.5) is None


def test_a_tail_that_is_not_the_cuts_gives_the_whole_parse() -> None:
    text = _policies(8)
    cut = find_cut(text, 0.5)
    assert cut is not None
    other = parse_tail(_policies(9), cut, "f")  # another text's tail
    assert _same(load_joined(text, "f", cut, other), load_yaml(text, "f"))
    assert _same(load_joined(text, "f", cut, None), load_yaml(text, "f"))
    moved = cut._replace(line=cut.line + 1)
    assert _same(load_joined(text, "f", moved, parse_tail(text, cut, "f")), load_yaml(text, "f"))
