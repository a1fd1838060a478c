"""The matching formula's weights a deployment runs with: the defaults, or those of the TOML
file ``RAPPORT_MATCH_WEIGHTS`` names (``Settings.match_weights``), parsed by the pure
``projections.matching.weights_from``."""

from __future__ import annotations

from pathlib import Path

from infra.core.settings_files import parsed_file
from projections.matching import MatchWeightsError, Weights, weights_from

ENVIRONMENT = "RAPPORT_MATCH_WEIGHTS"


def load_weights(path: Path | None) -> Weights:
    """The defaults, overridden by the file at ``path``; ``MatchWeightsError`` names the key."""
    if path is None:
        return Weights()
    return parsed_file(path, ENVIRONMENT, weights_from, MatchWeightsError)
