"""Sealing personal data with the candidate's own key (AES-256-GCM, ``cryptography``).

Each candidate gets a random 256-bit key when they are registered; a touchpoint's ``personal``
field is stored as ``aesgcm1:`` + base64(nonce ‖ ciphertext ‖ tag). The associated data binds
the ciphertext to its candidate and event version, so a sealed value copied onto another event
does not open. Destroying the key (an erasure) leaves ciphertext that nobody can read, in the
ledger and in every copy or backup of it: that is crypto-shredding.
"""

from __future__ import annotations

import os
from base64 import b64decode, b64encode
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "aesgcm1:"
KEY_BYTES = 32
_NONCE_BYTES = 12


class Unsealable(Exception):
    """The sealed value does not open with this key: it was altered or moved."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(key: bytes, candidate: UUID, version: int, plaintext: bytes) -> str:
    return seal_with(AESGCM(key), os.urandom(_NONCE_BYTES), candidate, version, plaintext)


def seal_with(cipher: AESGCM, nonce: bytes, candidate: UUID, version: int, plaintext: bytes) -> str:
    """``seal`` with the candidate's cipher made once and a nonce from ``Nonces``."""
    sealed = cipher.encrypt(nonce, plaintext, _context(candidate, version))
    return PREFIX + b64encode(nonce + sealed).decode("ascii")


class Nonces:
    """Random nonces drawn from the OS in bulk: one ``os.urandom`` call per few thousand
    events of an import, not one per event."""

    def __init__(self, batch: int = 4096) -> None:
        self._batch = batch * _NONCE_BYTES
        self._pool = b""
        self._at = 0

    def next(self) -> bytes:
        if self._at >= len(self._pool):
            self._pool, self._at = os.urandom(self._batch), 0
        nonce = self._pool[self._at : self._at + _NONCE_BYTES]
        self._at += _NONCE_BYTES
        return nonce


def unseal(key: bytes, candidate: UUID, version: int, value: str) -> bytes:
    raw = b64decode(value[len(PREFIX) :])
    try:
        return AESGCM(key).decrypt(
            raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _context(candidate, version)
        )
    except InvalidTag:
        raise Unsealable(
            f"personal data of candidate {candidate} v{version} does not open"
        ) from None


def _context(candidate: UUID, version: int) -> bytes:
    return b"rapport:%s:%d" % (candidate.hex.encode(), version)
