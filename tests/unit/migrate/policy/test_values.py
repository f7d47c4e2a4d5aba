"""Typed policy strings: durations, sizes, cron, semver ranges, templates."""

from __future__ import annotations

import pytest

from migrate.policy.values import (
    parse_cron,
    parse_duration_ns,
    parse_semver_range,
    parse_size,
    parse_template,
    semver_condition_arg,
)

S = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("30d", 30 * 86400 * S),
        ("12h", 12 * 3600 * S),
        ("1h30m", 5400 * S),
        ("500ms", S // 2),
        ("2w", 14 * 86400 * S),
    ],
)
def test_durations(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize("text", ["", "30", "d", "1x", "-1d", "0s", "1d 2h", "1h30"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration_ns(text)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (1024, 1024),
        ("1024", 1024),
        ("500MiB", 500 * 1024**2),
        ("1.5GB", 1_500_000_000),
        ("2 KiB", 2048),
        ("7B", 7),
    ],
)
def test_sizes(value: object, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("value", [-1, "1.5B", "5 parsecs", "MiB", True, 1.5])
def test_bad_sizes(value: object) -> None:
    with pytest.raises(ValueError):
        parse_size(value)


def test_cron_fields() -> None:
    assert parse_cron("*/5 * * * *") == 5
    assert parse_cron("0 30 2 * * MON-FRI") == 6
    assert parse_cron("@hourly") == 0
    assert parse_cron("@every 90s") == 0
    for bad in [
        "* * * *",
        "60 * * * *",
        "* * * 13 *",
        "*/0 * * * *",
        "5-1 * * * *",
        "@sometimes",
        "? * * * *",
    ]:
        with pytest.raises(ValueError):
            parse_cron(bad)


def test_semver_ranges() -> None:
    assert parse_semver_range(">=1.2.0 <2.0.0") == [[[">=", "1.2.0"], ["<", "2.0.0"]]]
    assert parse_semver_range("^1.2.3") == [[[">=", "1.2.3"], ["<", "2.0.0-0"]]]
    assert parse_semver_range("^0.2.3") == [[[">=", "0.2.3"], ["<", "0.3.0-0"]]]
    assert parse_semver_range("~1.2.3") == [[[">=", "1.2.3"], ["<", "1.3.0-0"]]]
    assert parse_semver_range("1.x || =2.0.0") == [
        [[">=", "1.0.0"], ["<", "2.0.0-0"]],
        [["=", "2.0.0"]],
    ]
    assert parse_semver_range(">= 1.0.0") == [[[">=", "1.0.0"]]]
    for bad in ["", ">=banana", "1.2.3.4", "||"]:
        with pytest.raises(ValueError):
            parse_semver_range(bad)


def test_templates() -> None:
    assert parse_template("prod-mirror/{repository}") == [
        {"text": "prod-mirror/", "var": ""},
        {"text": "", "var": "repository"},
    ]
    assert parse_template("{registry}/{tag}{{x}}") == [
        {"text": "", "var": "registry"},
        {"text": "/", "var": ""},
        {"text": "", "var": "tag"},
        {"text": "{x}", "var": ""},
    ]
    assert parse_template("") == []
    for bad in ["{repo}", "{tag", "a}b", "{}"]:
        with pytest.raises(ValueError):
            parse_template(bad)


def test_semver_condition_arg_names_prerelease_tuples() -> None:
    assert semver_condition_arg(">=1.0.0 <3.0.0") == {
        "alternatives": [[[">=", "1.0.0"], ["<", "3.0.0"]]],
        "prerelease": [[]],
    }
    # ^ / ~ / x-ranges expand to "-0" bounds: those only exclude, they name no prerelease
    assert semver_condition_arg("^1.2.3 || 1.x")["prerelease"] == [[], []]
    assert semver_condition_arg(">= 2.0.0-rc.1 <3.0.0 || =v4.1.0-beta || 5.0.0") == {
        "alternatives": [
            [[">=", "2.0.0-rc.1"], ["<", "3.0.0"]],
            [["=", "4.1.0-beta"]],
            [["=", "5.0.0"]],
        ],
        "prerelease": [["2.0.0"], ["4.1.0"], []],
    }
    assert semver_condition_arg(">=1.0.0 <3.0.0", include_prerelease=True)["prerelease"] is True
