"""The demonstration run behind ``make demo`` / ``evalkit demo``.

It simulates the example cohort (:func:`evalkit.simulate_cohort`), writes it under ``OUT/data/``,
and runs the bundled analysis plan (``analyses/example_plan.yaml``) on it, so ``OUT`` ends up with
``impact.html``, ``technical.html``, ``tables/``, ``figures/`` (PNG plus the CSV behind each),
``suppression_log.csv``, ``provenance.json`` and ``restricted/`` (safeguarding flags, for authorised
staff only). The same ``n`` and ``seed`` give byte-identical tables.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["run_demo", "example_plan_path"]


def example_plan_path() -> Path:
    """Path of the bundled analysis plan for the example cohort."""
    return Path(__file__).parent / "data" / "example_plan.yaml"


def run_demo(out: str | Path, *, n: int = 300, seed: int = 1, progress: bool = False) -> list[Path]:
    """Simulate the example cohort, run the bundled plan on it, and return the written paths."""
    from . import example_dictionary_path
    from .plan import AnalysisPlan, DataSection
    from .runner import run_plan
    from .simulate import simulate_cohort

    out = Path(out)
    data_dir = out / "data"
    written = list(simulate_cohort(n=n, seed=seed).write(data_dir))
    plan = AnalysisPlan.from_yaml(example_plan_path())
    data = DataSection(dictionary=str(example_dictionary_path().resolve()),
                       files={"participants": str((data_dir / "participants.csv").resolve()),
                              "responses": str((data_dir / "responses.csv").resolve())},
                       on_problems=plan.data.on_problems)
    plan = plan.model_copy(update={"data": data, "seed": seed})
    result = run_plan(plan, out=out, progress=progress)
    return written + list(result.files)
