"""The stale-contact rules a deployment runs with: the built-in defaults, or those of the TOML
file ``RAPPORT_ALERT_RULES`` names (``Settings.alert_rules``). Read once where a process starts
(a command, ``rapport serve``, a consumer), never per request; parsed by the pure
``projections.alert_rules.rules_from``."""

from __future__ import annotations

import tomllib
from pathlib import Path

from projections.alert_rules import AlertRules, AlertRulesError, rules_from

ENVIRONMENT = "RAPPORT_ALERT_RULES"


def load_rules(path: Path | None) -> AlertRules:
    """The defaults, overridden by the file at ``path``; ``AlertRulesError`` names the key."""
    if path is None:
        return AlertRules()
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except OSError as missing:
        raise AlertRulesError(
            f"{ENVIRONMENT} {path}: cannot read it ({missing.strerror})"
        ) from None
    except tomllib.TOMLDecodeError as bad:
        raise AlertRulesError(f"{ENVIRONMENT} {path}: not valid TOML: {bad}") from None
    try:
        return rules_from(document)
    except AlertRulesError as invalid:
        raise AlertRulesError(f"{ENVIRONMENT} {path}: {invalid}") from None
