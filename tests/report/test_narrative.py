"""Sentences claim no more than the numbers: direction only when the CI excludes 0, groups only
when the adjusted heterogeneity test supports a difference, suppressed counts never guessed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evalkit.report.narrative import (attrition_sentence, change_sentence, context_sentence,
                                      reliable_change_sentence)


def test_direction_is_named_only_when_the_interval_excludes_zero():
    worse = change_sentence("WEMWBS", estimate=-2.0, ci_low=-3.5, ci_high=-0.5, higher_is="better",
                            weeks=(0, 12))
    assert "fell by 2.0 points" in worse and "a worsening" in worse
    unclear = change_sentence("WEMWBS", estimate=1.0, ci_low=-0.5, ci_high=2.5, higher_is="better",
                              weeks=(0, 12), mid=3)
    assert "consistent with no change" in unclear and "improv" not in unclear
    nan = change_sentence("WEMWBS", estimate=np.nan, ci_low=np.nan, ci_high=np.nan,
                          higher_is="better", weeks=(0, 12))
    assert nan == "The average change in WEMWBS could not be estimated."


def test_mid_comparison_uses_the_whole_interval():
    above = change_sentence("X", estimate=6.0, ci_low=4.0, ci_high=8.0, higher_is="better",
                            weeks=(0, 12), mid=3)
    below = change_sentence("X", estimate=1.5, ci_low=1.0, ci_high=2.0, higher_is="better",
                            weeks=(0, 12), mid=3)
    assert "the whole interval is above it" in above
    assert "smaller than one mothers would notice" in below


def test_suppressed_counts_are_said_to_be_small_not_guessed():
    text = reliable_change_sentence("EPDS", n=40, improved=20.0, unchanged=np.nan, deteriorated=np.nan,
                                    threshold=5)
    assert text.count("fewer than 5") == 2 and "20 (50%) reliably improved" in text
    assert "reliably deteriorated" in text


def _scan(p_adjusted):
    return pd.DataFrame({
        "context": ["site", "site", "site"], "level": ["North", "South", "East"],
        "status": ["estimated", "estimated", "withheld (n < 5)"],
        "estimate": [1.0, 5.0, np.nan], "heterogeneity_p_adjusted": [p_adjusted] * 3})


def test_context_sentence_names_groups_only_with_support():
    supported = context_sentence("WEMWBS", _scan(0.01), threshold=5, min_n=10)
    assert "differed by site" in supported and "+1.0 points (North)" in supported
    unsupported = context_sentence("WEMWBS", _scan(0.30), threshold=5, min_n=10)
    assert "did not differ" in unsupported and "North" not in unsupported.split("Not estimated")[0]
    assert "East (site)" in unsupported


def test_attrition_sentence_counts_and_the_largest_difference():
    text = attrition_sentence(n_started=200, n_end=120.0, threshold=5, smd_top=("site = East", 0.31))
    assert text.startswith("80 of 200 mothers who started support (40%)")
    assert "site = East (standardised difference +0.31)" in text
