"""The config file: strict sections, YAML errors as config errors with their cause."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adapter.config import FreightlinerConfig
from migrate.core.errors import ConfigError


def _load(tmp_path: Path, text: str | bytes) -> FreightlinerConfig:
    path = tmp_path / "config.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return FreightlinerConfig.load(path)


def test_a_typo_in_serve_is_an_error_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "serve:\n  listen: 127.0.0.1:9000\n  thraeds: 8\n")
    assert caught.value.lines() == [
        f"{tmp_path}/config.yaml:3: serve.thraeds: Extra inputs are not permitted"
    ]


def test_a_typo_in_opa_is_the_same_kind_of_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "opa:\n  urll: http://127.0.0.1:8181\n")
    assert caught.value.lines() == [
        f"{tmp_path}/config.yaml:2: opa.urll: Extra inputs are not permitted"
    ]


def test_yaml_syntax_error_keeps_line_and_cause(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "opa: [\n")
    assert caught.value.lines() == [
        f"{tmp_path}/config.yaml:2: YAML syntax error: did not find expected node content"
    ]
    assert isinstance(caught.value.__cause__, yaml.MarkedYAMLError)


def test_duplicate_keys_name_both_lines(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "opa:\n  retries: 1\n  retries: 2\n")
    assert caught.value.lines() == [
        f"{tmp_path}/config.yaml:3: duplicate key 'retries' (first at line 2)"
    ]


def test_not_utf8_is_a_read_error_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, b"opa: \xff\n")
    assert caught.value.lines() == [
        f"{tmp_path}/config.yaml: cannot read: not UTF-8 text (invalid start byte)"
    ]
    assert isinstance(caught.value.__cause__, UnicodeDecodeError)
