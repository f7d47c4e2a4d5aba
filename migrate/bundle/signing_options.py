"""The command-line options that check a built bundle's signature, shared by every
command that reads a bundle (``freightliner-policy policy test|eval``,
``freightliner-migrate verify --bundle``), and the algorithms a key may use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:  # the signing module (cryptography) loads only when a key is given
    from migrate.bundle.signing import VerificationConfig

__all__ = ["SIGNING_ALGORITHMS", "verification_config", "verification_options"]

F = TypeVar("F", bound=Callable[..., Any])

#: The JWS algorithms of bundle signatures (as OPA's ``--signing-alg``).
SIGNING_ALGORITHMS = click.Choice(["RS256", "ES256", "HS256"])


def verification_options(func: F) -> F:
    """``--verification-key`` and friends: check a built bundle's signature (as ``opa run``).

    The command receives ``verification_key``, ``verification_key_id``,
    ``verification_alg`` and ``verification_scope``; :func:`verification_config` turns
    them into the ``verification`` that :func:`migrate.bundle.builder.read_bundle` takes.
    """
    decorators = [
        click.option(
            "--verification-key",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Verify a built bundle's signature: PEM public key, or HMAC secret file.",
        ),
        click.option("--verification-key-id", default="default", show_default=True, help="Key id."),
        click.option(
            "--signing-alg",
            "verification_alg",
            type=SIGNING_ALGORITHMS,
            default="RS256",
            show_default=True,
            help="Algorithm of --verification-key.",
        ),
        click.option("--scope", "verification_scope", default="", help="Expected scope."),
    ]
    wrapped: Any = func
    for decorator in reversed(decorators):
        wrapped = decorator(wrapped)
    return wrapped  # type: ignore[no-any-return]


def verification_config(
    key: Path | None, key_id: str, algorithm: str, scope: str
) -> VerificationConfig | None:
    """The verification the options ask for; None without ``--verification-key``."""
    if key is None:
        return None
    from migrate.bundle.signing import VerificationConfig

    return VerificationConfig.from_file(key, algorithm, key_id, scope)
