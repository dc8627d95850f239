"""The demonstration run behind ``make demo`` / ``evalkit demo``.

It simulates the example cohort, validates it against the bundled dictionary and writes what the
pipeline has so far: the data, the validation result and the participant flow. Later stages (scores,
models, reports) are added to this run as they are built.
"""

from __future__ import annotations

from pathlib import Path

from .dictionary import DataDictionary

__all__ = ["run_demo"]


def run_demo(out: str | Path, *, n: int = 300, seed: int = 1) -> list[Path]:
    """Simulate, validate and write the demo outputs under ``out``; return the written paths."""
    from . import example_dictionary_path
    from .cohort import build_cohort
    from .simulate import simulate_cohort
    from .validation import validate

    out = Path(out)
    data_dir = out / "data"
    out.mkdir(parents=True, exist_ok=True)
    dd = DataDictionary.from_yaml(example_dictionary_path())
    cohort = simulate_cohort(n=n, seed=seed)
    written = list(cohort.write(data_dir))
    report = validate(written, dictionary=dd)
    report.raise_if_problems()
    written.append(out / "validation.json")
    report.to_json(written[-1])
    written.append(out / "participant_flow.csv")
    report.flow.to_csv(written[-1], index=False, lineterminator="\n")
    frame = build_cohort(report, dictionary=dd)
    observed = frame.groupby("wave", observed=True)["observed"].sum()
    written.append(out / "waves_observed.csv")
    observed.rename("participants").reset_index().to_csv(written[-1], index=False,
                                                         lineterminator="\n")
    return written
