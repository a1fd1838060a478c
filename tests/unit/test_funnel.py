"""The funnel's arithmetic over stage entries (the journey projection's ``view_stage_entries``):
who reached each stage, the conversion from the stage before, the median days spent in each."""

from __future__ import annotations

from projections.journey import STAGES, funnel_of

DAY = 86_400.0


def test_the_funnel_counts_converts_and_measures_days_in_stage() -> None:
    entries = [
        {"sourced": 0 * DAY, "contacted": 2 * DAY, "engaged": 5 * DAY, "applied": 6 * DAY},
        {"sourced": 0 * DAY, "contacted": 4 * DAY},
        # Applied before anyone contacted them: reached both, no negative days in "contacted".
        {"sourced": 0 * DAY, "applied": 1 * DAY, "contacted": 3 * DAY},
    ]
    stages = {stage.stage: stage for stage in funnel_of(entries)}
    assert [stage.stage for stage in funnel_of(entries)] == list(STAGES)
    assert [stages[s].candidates for s in ("sourced", "contacted", "engaged", "applied")] == [
        3, 3, 1, 2,
    ]  # fmt: skip
    assert stages["sourced"].conversion is None
    contacted = stages["contacted"].conversion
    assert contacted is not None and (contacted.successes, contacted.n) == (3, 3)
    applied = stages["applied"].conversion
    assert applied is not None and (applied.successes, applied.n) == (1, 1)
    assert stages["sourced"].median_days == 3.0  # 2, 4 and 3 days to the next stage in order
    assert stages["contacted"].median_days == 3.0  # 3 days; the third candidate left out
    assert stages["hired"].candidates == 0 and stages["hired"].median_days is None
