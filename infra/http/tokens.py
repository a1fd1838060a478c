"""API tokens: each maps to one role (``domain.access``); only their SHA-256 is ever stored.

The tokens file (``RAPPORT_API_TOKENS_FILE``) is JSON: ``{"tokens": [{"name": ..., "role": ...,
"sha256": ...}]}``. ``rapport token add`` writes it; nothing in the code or the logs knows a
token itself.
"""

from __future__ import annotations

import hmac
import os
import secrets
import tempfile
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

import orjson

from domain.access import UserRole


class TokensInvalid(Exception):
    """The tokens file is missing, unreadable or malformed (the message names what)."""


@dataclass(frozen=True, slots=True)
class ApiToken:
    name: str
    role: UserRole
    digest: str


def digest(token: str) -> str:
    return sha256(token.encode()).hexdigest()


def load_tokens(path: Path) -> list[ApiToken]:
    if not path.exists():
        raise TokensInvalid(
            f"{path}: no tokens file; create one with `rapport token add --role viewer --name ops`"
        )
    try:
        document = orjson.loads(path.read_bytes())
        entries = document["tokens"]
        tokens = [
            ApiToken(str(entry["name"]), UserRole(entry["role"]), str(entry["sha256"]))
            for entry in entries
        ]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as bad:
        raise TokensInvalid(f"{path}: not a tokens file ({type(bad).__name__}: {bad})") from None
    if not tokens:
        raise TokensInvalid(f"{path}: holds no tokens")
    return tokens


def identify(tokens: list[ApiToken], presented: str) -> ApiToken | None:
    """The token presented, if it is one of ours (compared in constant time)."""
    wanted = digest(presented)
    found = None
    for token in tokens:
        if hmac.compare_digest(token.digest, wanted):
            found = token
    return found


def add_token(path: Path, role: UserRole, name: str) -> str:
    """A new random token for ``role``, its digest added to the file (written atomically)."""
    existing: list[dict[str, str]] = []
    if path.exists():
        existing = [
            {"name": t.name, "role": t.role.value, "sha256": t.digest} for t in load_tokens(path)
        ]
    if any(entry["name"] == name for entry in existing):
        raise TokensInvalid(f"{path}: a token named {name!r} exists already")
    token = secrets.token_urlsafe(32)
    existing.append({"name": name, "role": role.value, "sha256": digest(token)})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as file:
        file.write(orjson.dumps({"tokens": existing}, option=orjson.OPT_INDENT_2))
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return token
