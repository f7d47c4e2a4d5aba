"""ustar_header lays a bundle member's header out itself: byte for byte what tarfile
writes (the tarball's bytes and the revision users compare must not move)."""

from __future__ import annotations

import re
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.bundle.tar_layout import ustar_header


def _tarfile(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name=name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.USTAR_FORMAT, tarfile.ENCODING, "surrogateescape")


_SEGMENT = st.text(
    alphabet=st.sampled_from("abz09_-.é日\udcff ") | st.characters(), min_size=0, max_size=60
)
_NAMES = st.lists(_SEGMENT, min_size=1, max_size=6).map(lambda parts: "/" + "/".join(parts))
_SIZES = st.integers(0, 8**11 + 10) | st.sampled_from([0, 1, 511, 512, 8**11 - 1, 8**11])


@settings(max_examples=600, deadline=None)
@given(_NAMES, _SIZES)
def test_the_header_is_what_tarfile_writes(name: str, size: int) -> None:
    try:
        want = _tarfile(name, size)
    except (ValueError, UnicodeEncodeError) as exc:
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            ustar_header(name, size)
        return
    assert ustar_header(name, size) == want


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("/data.json", 19_433_465),
        ("/.manifest", 0),
        ("/" + "a" * 99, 1),  # the name field exactly full
        ("/" + "a" * 100, 1),  # one past: tarfile splits it into prefix and name
        ("/freightliner/generated/tests/team_00042/p_" + "x" * 80 + "_test.rego", 4097),
        ("/é.rego", 3),  # not ASCII: tarfile's encoding
        ("/" + "b" * 300, 1),  # too long for ustar: tarfile's ValueError
        ("/big", 8**11),  # past eleven octal digits: tarfile's overflow
    ],
)
def test_edges(name: str, size: int) -> None:
    try:
        want = _tarfile(name, size)
    except ValueError as exc:
        with pytest.raises(ValueError, match=re.escape(str(exc))):
            ustar_header(name, size)
        return
    got = ustar_header(name, size)
    assert got == want
    assert len(got) == tarfile.BLOCKSIZE
    if len(name.encode()) <= 100:  # (tarfile reads a split name back without its "/")
        assert tarfile.TarInfo.frombuf(got, tarfile.ENCODING, "surrogateescape").name == name
