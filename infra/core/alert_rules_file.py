"""The stale-contact rules a deployment runs with: the built-in defaults, or those of the TOML
file ``RAPPORT_ALERT_RULES`` names (``Settings.alert_rules``). Read once where a process starts
(a command, ``rapport serve``, a consumer), never per request; parsed by the pure
``projections.alert_rules.rules_from``."""

from __future__ import annotations

from pathlib import Path

from infra.core.settings_files import parsed_file
from projections.alert_rules import AlertRules, AlertRulesError, rules_from

ENVIRONMENT = "RAPPORT_ALERT_RULES"


def load_rules(path: Path | None) -> AlertRules:
    """The defaults, overridden by the file at ``path``; ``AlertRulesError`` names the key."""
    if path is None:
        return AlertRules()
    return parsed_file(path, ENVIRONMENT, rules_from, AlertRulesError)
