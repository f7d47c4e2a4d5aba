"""Bundle.tarball_bytes lays the tar stream out itself: byte for byte what tarfile writes
member by member (the bytes OPA downloads and the revision users compare must not move)."""

from __future__ import annotations

import gzip
import io
import sys
import tarfile
from pathlib import Path

import yaml

from migrate.bundle.builder import Bundle, BundleBuilder, read_bundle
from migrate.policy.loader import load_policy_documents

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "benchmarks"))
from bench_decisions import make_policies


def _tarfile_bytes(files: dict[str, bytes]) -> bytes:
    """The tarball as tarfile writes it (the implementation before issue 13.5)."""
    raw = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        for path in sorted(files):
            content = files[path]
            info = tarfile.TarInfo(name=f"/{path}")
            info.size = len(content)
            info.mode = 0o644
            info.mtime = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(content))
    return raw.getvalue()


def test_tarball_bytes_are_what_tarfile_writes(repo_root: Path, tmp_path: Path) -> None:
    org = tmp_path / "org.yaml"
    org.write_text(yaml.safe_dump(make_policies(300, "realistic"), sort_keys=False))
    bundle = BundleBuilder().build(
        load_policy_documents([repo_root / "examples" / "policies", org])
    )
    assert bundle.tarball_bytes() == _tarfile_bytes(bundle.files)
    # sizes on and off the 512-byte blocks and the 10,240-byte records, an empty member
    for sizes in ([0], [511], [512], [513], [10240 - 1024 - 512], [10240 - 1024], [3, 10_000]):
        files = {f"f{n}/x.rego": b"a" * size for n, size in enumerate(sizes)}
        assert Bundle(files, "r").tarball_bytes() == _tarfile_bytes(files)
    out = tmp_path / "b.tar.gz"
    bundle.write_tarball(out)
    assert read_bundle(out).files == bundle.files
