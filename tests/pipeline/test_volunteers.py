"""Without a volunteer term in the plan there is no variation table, sentence or restricted
per-volunteer output (the shared scenario run fits the mother's random effects only)."""

from __future__ import annotations


def test_no_volunteer_outputs_without_a_volunteer_term(scenario_run):
    folder, result = scenario_run
    assert not any(name.endswith("_variation_by_level") for name in result.publication.tables)
    assert all("variation" not in f for f in result.facts["outcomes"].values())
    impact = (folder / "report" / "impact.html").read_text(encoding="utf-8")
    assert "lay between volunteers" not in impact
    technical = (folder / "report" / "technical.html").read_text(encoding="utf-8")
    assert "Variation between volunteers" not in technical
    restricted = folder / "report-restricted"
    assert not (restricted / "level_blups.csv").exists()
    assert not list(restricted.glob("caterpillar_*.png"))
