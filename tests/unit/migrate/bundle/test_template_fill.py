"""render_template fills each template exactly as string.Template.substitute does
(issue 13.5: split once, then joined), including ``$$``, ``${name}`` and errors."""

from __future__ import annotations

from importlib import resources
from string import Template

import pytest

from migrate.bundle import rego_text
from migrate.bundle.rego_text import render_template

NAMES = sorted(p.name for p in resources.files("migrate.bundle").joinpath("templates").iterdir())


@pytest.mark.parametrize("name", NAMES)
def test_every_template_fills_as_substitute_does(name: str) -> None:
    template = Template(
        resources.files("migrate.bundle").joinpath("templates", name).read_text("utf-8")
    )
    names = {
        m.group("named") or m.group("braced")
        for m in template.pattern.finditer(template.template)
        if m.group("named") or m.group("braced")
    }
    assert names  # every template has placeholders
    # values that look like placeholders are never expanded again
    values = {k: f'"{k} $x ${{y}} $$"' for k in names}
    assert render_template(name, **values) == template.substitute(values)
    missing = sorted(names)[0]
    with pytest.raises(KeyError):
        render_template(name, **{k: v for k, v in values.items() if k != missing})


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a $$ b ${x}y $x", "a $ b Vy V"), ("$$$$", "$$"), ("${x}", "V"), ("no placeholder", None)],
)
def test_split_matches_substitute(text: str, expected: str | None) -> None:
    parts = rego_text._split(Template(text))
    joined = "".join(literal + ({"x": "V"}[n] if n else "") for literal, n in parts)
    assert joined == Template(text).substitute({"x": "V"})
    if expected is not None:
        assert joined == expected


@pytest.mark.parametrize("text", ["$", "x $1", "end $"])
def test_invalid_placeholders_are_marked(text: str) -> None:
    assert any(name is None for _, name in rego_text._split(Template(text)))
    with pytest.raises(ValueError):
        Template(text).substitute({})
