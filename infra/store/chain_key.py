"""The chain's secret: kept outside the ledger's database, created once, never logged.

Whoever holds it can make valid links; whoever can only write the database cannot. It comes
from ``RAPPORT_CHAIN_KEY`` (64 hex digits) or from a key file (``RAPPORT_CHAIN_KEY_FILE``),
which Rapport creates with mode 0600 the first time a ledger is opened without one.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from infra.core.settings import Settings

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
    """Written whole aside and linked in: a process opening the ledger at the same moment
    reads either no key file or the complete key, never a half-written one."""
    secret = secrets.token_bytes(SECRET_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, aside = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(secret.hex() + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(aside, path)
        except FileExistsError:  # another process made it first: theirs is the key
            return _parse(path.read_text(encoding="ascii"), str(path))
    finally:
        os.unlink(aside)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return secret


def _parse(text: str, where: str) -> bytes:
    try:
        secret = bytes.fromhex(text.strip())
    except ValueError:
        secret = b""
    if len(secret) != SECRET_BYTES:
        raise ChainKeyInvalid(f"{where}: the chain key is not {SECRET_BYTES * 2} hex digits")
    return secret
