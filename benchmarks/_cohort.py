"""A simulated cohort as the coverage benchmarks fit it: one row per mother and wave, with WEMWBS.

Shared by bench_context_coverage.py and bench_volunteer_coverage.py (run as scripts: this folder
is on their import path).
"""

from __future__ import annotations


def wemwbs_frame(*, n: int, seed: int, **design):
    """Simulate ``n`` mothers (``seed``; ``design``: further options of ``simulate_cohort``),
    validate and build the cohort, add each wave's WEMWBS; returns ``(simulation, frame)`` (the
    simulation carries the truth)."""
    import evalkit as ek
    from evalkit.scoring import score_dictionary

    sim = ek.simulate_cohort(n=n, seed=seed, **design)
    dd = ek.DataDictionary.from_yaml(ek.example_dictionary_path())
    rep = ek.validate({"participants": sim.participants, "responses": sim.responses}, dictionary=dd)
    frame = ek.build_cohort(rep, dictionary=dd)
    scores = score_dictionary(rep, dictionary=dd).scores
    scores["wave"] = scores["wave"].astype(str)
    frame["wave"] = frame["wave"].astype(str)
    return sim, frame.merge(scores[["participant_id", "wave", "wemwbs"]],
                            on=["participant_id", "wave"], how="left")
