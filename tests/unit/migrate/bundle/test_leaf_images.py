"""The derived tests' single-leaf images are kept by (path, value type, value): the text is
what rego_literal of the image gives, and values equal in Python but not in Rego (1, True,
1.0) never share one (migrate/bundle/testgen.py)."""

from __future__ import annotations

from typing import Any

import pytest

from migrate.bundle import testgen
from migrate.bundle.rego_text import rego_literal


def _fresh(setter: tuple[tuple[str, ...], Any]) -> str:
    return rego_literal(testgen._apply(testgen._BASE_IMAGE, setter))


@pytest.mark.parametrize(
    "setter",
    [
        (("tag",), "v1.2.3"),
        (("labels", "environment"), "production"),
        (("labels", "environment"), testgen._ABSENT),
        (("annotations", 'quote"and\\slash'), "ünïcode\n"),
        (("size",), 5),
        (("size",), 0),
        (("size",), 2**70),
        (("size",), 1.5),  # not kept (a float), still right
        (("labels", "x"), ["a", "b"]),  # not kept (a list), still right
    ],
)
def test_the_kept_text_is_rego_literal_of_the_image(setter: tuple[tuple[str, ...], Any]) -> None:
    testgen._LEAF_IMAGES.clear()
    first = testgen._leaf_image(setter)
    assert first == _fresh(setter)
    assert testgen._leaf_image(setter) == first  # from the cache the second time


def test_equal_values_of_different_types_do_not_share_a_text() -> None:
    testgen._LEAF_IMAGES.clear()
    texts = [testgen._leaf_image((("size",), v)) for v in (1, True, 1.0)]
    assert texts == [_fresh((("size",), v)) for v in (1, True, 1.0)]
    assert '"size": 1,' in texts[0] and '"size": true,' in texts[1] and '"size": 1.0,' in texts[2]


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    testgen._LEAF_IMAGES.clear()
    monkeypatch.setattr(testgen, "_LEAF_IMAGES_MAX", 3)
    for n in range(10):
        assert testgen._leaf_image((("tag",), f"t{n}")) == _fresh((("tag",), f"t{n}"))
        assert len(testgen._LEAF_IMAGES) <= 3
