"""The demonstration run behind ``make demo`` / ``evalkit demo``.

It simulates the example cohort (:func:`evalkit.simulate_cohort`) and runs the bundled analysis
plan on it. The simulated input data hold row-level answers with participant identifiers (EPDS
item 10 among them), so they are written *outside* the report folder, into the restricted folder
beside it (``<out>-restricted/demo_data/``, owner-only), never into the folder a charity may
publish. ``OUT`` ends up with ``impact.html``, ``technical.html``, ``tables/``, ``figures/``,
``suppression_log.csv``, ``provenance.json`` and ``manifest.json``. The same ``n`` and ``seed``
give byte-identical outputs.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["run_demo", "example_plan_path"]


def example_plan_path() -> Path:
    """Path of the bundled analysis plan for the example cohort."""
    return Path(__file__).parent / "data" / "example_plan.yaml"


def run_demo(out: str | Path, *, n: int = 300, seed: int = 1, progress: bool = False,
             pdf: bool | None = None) -> list[Path]:
    """Simulate the example cohort, run the bundled plan on it, and return the written paths.

    ``pdf=True`` also prints ``impact.pdf`` and ``technical.pdf`` (:mod:`evalkit.report.pdf`);
    the default follows the bundled plan's ``report.pdf``.
    """
    from . import example_dictionary_path
    from .pipeline.run import run_plan
    from .pipeline.write import resolve_output
    from .plan import AnalysisPlan, DataSection
    from .simulate import simulate_cohort

    paths = resolve_output(out)
    paths.restricted.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(paths.restricted, 0o700)
    data_dir = paths.restricted / "demo_data"
    written = list(simulate_cohort(n=n, seed=seed).write(data_dir))
    os.chmod(data_dir, 0o700)
    for p in written:
        os.chmod(p, 0o600)
    plan = AnalysisPlan.from_yaml(example_plan_path())
    data = DataSection(dictionary=str(example_dictionary_path().resolve()),
                       files={"participants": str((data_dir / "participants.csv").resolve()),
                              "responses": str((data_dir / "responses.csv").resolve())},
                       on_problems=plan.data.on_problems)
    plan = plan.model_copy(update={"data": data, "seed": seed})
    result = run_plan(plan, out=paths.report, progress=progress, pdf=pdf)
    return written + list(result.files)
