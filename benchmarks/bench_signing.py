"""Bundle signing and verification time as the number of policies grows.

For each size: build the bundle served to OPA (no generated tests), sign it
(RS256, ES256, HS256; `migrate.bundle.signing`) and verify it; the median of
``--repeat`` runs each. The cost is hashing every file, the structured ones
(``data.json``, ``.manifest``) over their canonical JSON, so it grows with the
size of ``data.json``; the JWT itself is one signature.

    python benchmarks/bench_signing.py [--sizes 100,1000,10000] [--repeat 3]

Prints a Markdown table (copied into docs/benchmarks.md) and the load average.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_decisions import make_policies
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from migrate.bundle.builder import BundleBuilder
from migrate.bundle.signing import SigningConfig, VerificationConfig, sign_bundle, verify_files
from tests.fixtures.keys import write_pem_pair


def keys(tmp: Path) -> dict[str, tuple[Path, Path]]:
    out: dict[str, tuple[Path, Path]] = {}
    for alg, private in (
        ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ES256", ec.generate_private_key(ec.SECP256R1())),
    ):
        out[alg] = write_pem_pair(private, tmp / f"{alg}.pem", tmp / f"{alg}.pub")
    secret = tmp / "hmac"
    secret.write_bytes(os.urandom(32))
    out["HS256"] = (secret, secret)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pairs = keys(Path(tmp))
        print("| policies | data.json (MB) | alg | sign (s) | verify (s) |")
        print("|---:|---:|---|---:|---:|")
        for size in (int(s) for s in args.sizes.split(",")):
            bundle = BundleBuilder(generate_tests=False).build(
                make_policies(size, random.Random(size))
            )
            megabytes = len(bundle.files["data.json"]) / 1e6
            for alg, (priv, pub) in pairs.items():
                signing = SigningConfig.from_file(priv, alg)
                verification = VerificationConfig.from_file(pub, alg)
                signs, verifies = [], []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    signed = sign_bundle(bundle, signing)
                    signs.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    verify_files(signed.files, verification)
                    verifies.append(time.perf_counter() - started)
                print(
                    f"| {size:,} | {megabytes:.1f} | {alg} | {statistics.median(signs):.3f} "
                    f"| {statistics.median(verifies):.3f} |"
                )
    print(f"\nload average: {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    main()
