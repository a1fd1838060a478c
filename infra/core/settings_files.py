"""Reading a TOML file a setting names (the alert rules, the match weights): what goes wrong is
told with the setting's name and the path, as the parser's own error class."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

Parsed = TypeVar("Parsed")


def parsed_file(
    path: Path,
    environment: str,
    parse: Callable[[dict[str, Any]], Parsed],
    error: type[ValueError],
) -> Parsed:
    """``parse`` of the TOML document at ``path``; ``error`` naming ``environment`` and the path
    when it cannot be read, is not TOML, or ``parse`` refuses it (naming the key)."""
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except OSError as missing:
        raise error(f"{environment} {path}: cannot read it ({missing.strerror})") from None
    except tomllib.TOMLDecodeError as bad:
        raise error(f"{environment} {path}: not valid TOML: {bad}") from None
    try:
        return parse(document)
    except error as invalid:
        raise error(f"{environment} {path}: {invalid}") from None
