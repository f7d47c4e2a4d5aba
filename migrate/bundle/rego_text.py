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


_CACHE: dict[str, Template] = {}


def render_template(template_name: str, /, **values: str) -> str:
    """Fill ``templates/<name>`` with already-rendered Rego text (rego_literal output)."""
    template = _CACHE.get(template_name)
    if template is None:
        text = (
            resources.files("migrate.bundle")
            .joinpath("templates", template_name)
            .read_text(encoding="utf-8")
        )
        template = _CACHE[template_name] = Template(text)
    return template.substitute(values)
