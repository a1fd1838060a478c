"""The chain's secret: kept outside the ledger's database, created once, never logged.

Whoever holds it can make valid links; whoever can only write the database cannot. It comes
from ``RAPPORT_CHAIN_KEY`` (64 hex digits) or from a key file (``RAPPORT_CHAIN_KEY_FILE``),
which Rapport creates with mode 0600 the first time a ledger is opened without one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from infra.settings import Settings

SECRET_BYTES = 32


class ChainKeyInvalid(Exception):
    """The chain's secret is unreadable, malformed, or missing for a ledger keyed with one."""


class ChainTampered(ChainKeyInvalid):
    """What the database says of the chain's key was altered (its seal does not match)."""


def load_secret(settings: Settings, *, create: bool) -> bytes | None:
    """The secret from the settings or the key file; a new key file when ``create``."""
    if settings.chain_key is not None:
        return _parse(settings.chain_key.get_secret_value(), "RAPPORT_CHAIN_KEY")
    path = settings.chain_key_path
    try:
        return _parse(path.read_text(encoding="ascii"), str(path))
    except FileNotFoundError:
        if not create:
            return None
    except (OSError, UnicodeDecodeError) as unreadable:
        raise ChainKeyInvalid(f"{path}: cannot read the chain key ({unreadable})") from None
    return _create(path)


def _create(path: Path) -> bytes:
    secret = secrets.token_bytes(SECRET_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:  # another process made it first: theirs is the key
        return _parse(path.read_text(encoding="ascii"), str(path))
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(secret.hex() + "\n")
        file.flush()
        os.fsync(file.fileno())
    return secret


def _parse(text: str, where: str) -> bytes:
    try:
        secret = bytes.fromhex(text.strip())
    except ValueError:
        secret = b""
    if len(secret) != SECRET_BYTES:
        raise ChainKeyInvalid(f"{where}: the chain key is not {SECRET_BYTES * 2} hex digits")
    return secret
