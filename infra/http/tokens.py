"""API tokens: each maps to one role (``domain.access``); only their SHA-256 is ever stored.

The tokens file (``RAPPORT_API_TOKENS_FILE``) is JSON: ``{"tokens": [{"name": ..., "role": ...,
"sha256": ..., "created": ...}]}`` (``created``, an ISO instant, is absent from tokens added
before it was kept). ``rapport token add`` writes it, ``token revoke`` removes one; nothing in
the code or the logs knows a token itself.
"""

from __future__ import annotations

import hmac
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson

from domain.access import UserRole


class TokensInvalid(Exception):
    """The tokens file is missing, unreadable or malformed (the message names what)."""


class NoSuchToken(LookupError):
    """No token of that name in the file."""


@dataclass(frozen=True, slots=True)
class ApiToken:
    name: str
    role: UserRole
    digest: str
    created: str | None = None
    """When it was added (ISO, UTC); None for tokens added before this was kept."""

    @property
    def fingerprint(self) -> str:
        """The digest's first 12 hex digits: enough to tell tokens apart in a listing, and
        (like the digest itself) no help in guessing the token."""
        return self.digest[:12]


def digest(token: str) -> str:
    return sha256(token.encode()).hexdigest()


def load_tokens(path: Path) -> list[ApiToken]:
    """The tokens a server accepts: a missing or empty file is an error (it would accept
    nobody)."""
    if not path.exists():
        raise TokensInvalid(
            f"{path}: no tokens file; create one with `rapport token add --role viewer --name ops`"
        )
    tokens = read_tokens(path)
    if not tokens:
        raise TokensInvalid(f"{path}: holds no tokens")
    return tokens


def read_tokens(path: Path) -> list[ApiToken]:
    """The tokens in the file, none when there is no file (for listing and editing it)."""
    if not path.exists():
        return []
    try:
        document = orjson.loads(path.read_bytes())
        entries = document["tokens"]
        return [
            ApiToken(
                str(entry["name"]),
                UserRole(entry["role"]),
                str(entry["sha256"]),
                None if entry.get("created") is None else str(entry["created"]),
            )
            for entry in entries
        ]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as bad:
        raise TokensInvalid(f"{path}: not a tokens file ({type(bad).__name__}: {bad})") from None


def identify(tokens: list[ApiToken], presented: str) -> ApiToken | None:
    """The token presented, if it is one of ours (compared in constant time)."""
    wanted = digest(presented)
    found = None
    for token in tokens:
        if hmac.compare_digest(token.digest, wanted):
            found = token
    return found


def add_token(path: Path, role: UserRole, name: str, *, replace: bool = False) -> str:
    """A new random token for ``role``, its digest added to the file (written atomically).
    ``replace``: a token of that name is dropped first (else one is an error)."""
    existing = read_tokens(path)
    if any(t.name == name for t in existing):
        if not replace:
            raise TokensInvalid(f"{path}: a token named {name!r} exists already")
        existing = [t for t in existing if t.name != name]
    token = secrets.token_urlsafe(32)
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    write_tokens(path, [*existing, ApiToken(name, role, digest(token), created)])
    return token


def revoke_token(path: Path, name: str) -> ApiToken:
    """Remove the token named ``name`` from the file; ``NoSuchToken`` when there is none."""
    existing = read_tokens(path)
    found = next((t for t in existing if t.name == name), None)
    if found is None:
        raise NoSuchToken(f"no token named {name!r} in {path}")
    write_tokens(path, [t for t in existing if t is not found])
    return found


def write_tokens(path: Path, tokens: list[ApiToken]) -> None:
    """The file holding exactly ``tokens``: written whole (0600) or not at all."""
    entries: list[dict[str, Any]] = []
    for t in tokens:
        entry: dict[str, Any] = {"name": t.name, "role": t.role.value, "sha256": t.digest}
        entries.append(entry | ({} if t.created is None else {"created": t.created}))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(orjson.dumps({"tokens": entries}, option=orjson.OPT_INDENT_2))
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
