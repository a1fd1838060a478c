"""The matching formula's weights a deployment runs with: the defaults, or those of the TOML
file ``RAPPORT_MATCH_WEIGHTS`` names (``Settings.match_weights``), parsed by the pure
``projections.matching.weights_from``."""

from __future__ import annotations

import tomllib
from pathlib import Path

from projections.matching import MatchWeightsError, Weights, weights_from

ENVIRONMENT = "RAPPORT_MATCH_WEIGHTS"


def load_weights(path: Path | None) -> Weights:
    """The defaults, overridden by the file at ``path``; ``MatchWeightsError`` names the key."""
    if path is None:
        return Weights()
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except OSError as missing:
        raise MatchWeightsError(
            f"{ENVIRONMENT} {path}: cannot read it ({missing.strerror})"
        ) from None
    except tomllib.TOMLDecodeError as bad:
        raise MatchWeightsError(f"{ENVIRONMENT} {path}: not valid TOML: {bad}") from None
    try:
        return weights_from(document)
    except MatchWeightsError as invalid:
        raise MatchWeightsError(f"{ENVIRONMENT} {path}: {invalid}") from None
