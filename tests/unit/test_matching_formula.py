"""The matching formula's pure parts: its weights file, and the words that explain a score."""

from __future__ import annotations

import pytest

from projections.matching import MatchWeightsError, Opening, Weights, explain, weights_from
from projections.pool import AREA_BITS, CERTIFICATION_BITS, bits

NOW = 1_780_000_000.0


def test_a_weights_file_overrides_the_defaults_and_names_what_is_wrong() -> None:
    assert weights_from({}) == Weights()
    custom = weights_from({"weights": {"role": 0, "half_life_days": 30}})
    assert (custom.role, custom.half_life_days, custom.areas) == (0.0, 30.0, 20.0)
    for document, message in [
        ({"weight": {}}, "weight: unknown section"),
        ({"weights": {"rol": 1}}, "weights.rol: unknown term"),
        ({"weights": {"role": -1}}, "weights.role: expected a number >= 0"),
        ({"weights": {"role": True}}, "weights.role: expected a number >= 0"),
        ({"weights": {"half_life_days": 0}}, "weights.half_life_days: expected a number > 0"),
        ({"weights": 3}, "weights: expected a table"),
    ]:
        with pytest.raises(MatchWeightsError, match=message):
            weights_from(document)


def test_each_term_says_what_it_found() -> None:
    opening = Opening("REQ-1", "cra", ("oncology", "cardiology"), (), ("gcp",), (), "DE",
                      False, 5)  # fmt: skip
    row = {
        "role": "crc",
        "areas": bits(["oncology"], AREA_BITS),
        "phases": 0,
        "certifications": bits(["gcp", "rn"], CERTIFICATION_BITS),
        "years": 3,
        "country": "FR",
        "last_engagement": NOW - 10 * 86_400,
        "last_personal_touch": None,
    }
    terms = explain(row, [0, 1000, 0, 2000, 0, 600, 0, 1393, 0], opening, NOW)
    why = {t.name: (t.points, t.why) for t in terms}
    assert why["role"] == (0.0, "crc, not cra")
    assert why["areas"] == (10.0, "1 of 2: oncology (missing cardiology)")
    assert why["phases"][1] == "the position names no trial phase"
    assert why["required_certifications"] == (20.0, "1 of 1: gcp")
    assert why["preferred_certifications"][1] == "the position names none preferred"
    assert why["years"][1] == "3 years for a minimum of 5"
    assert why["country"][1] == "FR, not DE"
    assert why["engagement"] == (13.93, "engaged 10 days ago")
    assert why["personal_touch"][1] == "never personally touched"
