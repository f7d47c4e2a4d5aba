"""Rendering values into Rego source text, safely.

Generated files come from templates (``templates/*.rego.tmpl``) whose
``$placeholders`` are filled only with the output of :func:`rego_literal`
(and :func:`rego_set`): JSON text with every non-ASCII and control character
escaped. JSON strings, numbers, booleans, null, arrays and objects are also
Rego terms with the same meaning, so no policy value - quotes, backslashes,
newlines, braces, ``import``, unicode, very long strings - can become Rego
syntax. The escaped text contains no newline, so it is safe in comments and
in METADATA YAML (a JSON string is a YAML double-quoted scalar).
"""

from __future__ import annotations

import json
from importlib import resources
from string import Template
from typing import Any

__all__ = ["rego_literal", "rego_set", "render_template"]


# One encoder for every literal: json.dumps with any non-default option builds
# a new encoder per call (a 10,000-policy build renders about 150,000 literals).
_ENCODER = json.JSONEncoder(
    ensure_ascii=True, sort_keys=True, separators=(", ", ": "), allow_nan=False
)


def rego_literal(value: Any) -> str:
    """A Rego term denoting exactly ``value`` (a JSON-compatible value)."""
    return _ENCODER.encode(value)


def rego_set(values: list[str]) -> str:
    """A Rego set literal of strings (``set()`` when empty)."""
    if not values:
        return "set()"
    return "{" + ", ".join(rego_literal(v) for v in sorted(set(values))) + "}"


#: Each template split once, by string.Template's own pattern, into literal text
#: (``$$`` already one ``$``) and placeholder names (``None`` for an invalid one):
#: filling is then a join, with what ``Template.substitute`` gives (a 10,000-policy
#: build fills about 60,000 templates; its regex pass with a callback per
#: placeholder was most of the tests' rendering).
_CACHE: dict[str, list[tuple[str, str | None]]] = {}
_TEXTS: dict[str, Template] = {}
_INVALID: set[str] = set()  # templates with an invalid placeholder


def _split(template: Template) -> list[tuple[str, str | None]]:
    """(literal, placeholder) pairs: a literal, then the placeholder after it ("" at the end)."""
    parts: list[tuple[str, str | None]] = []
    text, start = template.template, 0
    for match in template.pattern.finditer(text):
        literal = text[start : match.start()]
        start = match.end()
        if match.group("escaped") is not None:
            parts.append((literal + template.delimiter, ""))
        elif match.group("invalid") is not None:
            parts.append((literal, None))
        else:
            parts.append((literal, match.group("named") or match.group("braced")))
    parts.append((text[start:], ""))
    return parts


def render_template(template_name: str, /, **values: str) -> str:
    """Fill ``templates/<name>`` with already-rendered Rego text (rego_literal output)."""
    parts = _CACHE.get(template_name)
    if parts is None:
        text = (
            resources.files("migrate.bundle")
            .joinpath("templates", template_name)
            .read_text(encoding="utf-8")
        )
        _TEXTS[template_name] = Template(text)
        parts = _CACHE[template_name] = _split(_TEXTS[template_name])
        if any(name is None for _, name in parts):
            _INVALID.add(template_name)
    if template_name in _INVALID:
        return _TEXTS[template_name].substitute(values)  # its ValueError, as before
    return "".join([literal + str(values[name]) if name else literal for literal, name in parts])
