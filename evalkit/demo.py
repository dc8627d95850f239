"""The demonstration run behind ``make demo`` / ``evalkit demo``.

It simulates the example cohort, validates it against the bundled dictionary, scores every
instrument, and writes what the pipeline has so far: the data, the validation result, the
participant flow, scores, reliable change and internal consistency. Tables under ``tables/`` hold
aggregates only (no participant identifiers); safeguarding flags go to ``restricted/``. Later stages
(models, reports) are added to this run as they are built.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .dictionary import DataDictionary
from .errors import ProratedScoreWarning, SafeguardingWarning

__all__ = ["run_demo"]

_CSV = {"index": False, "lineterminator": "\n", "float_format": "%.6g"}


def run_demo(out: str | Path, *, n: int = 300, seed: int = 1) -> list[Path]:
    """Simulate, validate, score and write the demo outputs under ``out``; return the written paths."""
    from . import example_dictionary_path
    from .change import change_summary, reliable_change
    from .cohort import build_cohort
    from .psychometrics import internal_consistency
    from .scoring import score_dictionary
    from .simulate import simulate_cohort
    from .validation import validate

    out = Path(out)
    data_dir, tables, restricted = out / "data", out / "tables", out / "restricted"
    for folder in (out, tables):
        folder.mkdir(parents=True, exist_ok=True)
    dd = DataDictionary.from_yaml(example_dictionary_path())
    cohort = simulate_cohort(n=n, seed=seed)
    written = list(cohort.write(data_dir))
    report = validate(written, dictionary=dd)
    report.raise_if_problems()

    def save(frame: pd.DataFrame, path: Path) -> None:
        frame.to_csv(path, **_CSV)
        written.append(path)

    report.to_json(out / "validation.json")
    written.append(out / "validation.json")
    save(report.flow, out / "participant_flow.csv")

    # Prorating and safeguarding are expected in routine data: recorded in the outputs, and the
    # safeguarding list is written where only authorised staff may read it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ProratedScoreWarning, SafeguardingWarning))
        scored = score_dictionary(report, dictionary=dd)
    save(scored.scores, data_dir / "scores.csv")
    if len(scored.safeguarding):
        restricted.mkdir(parents=True, exist_ok=True)
        save(scored.safeguarding, restricted / "safeguarding_flags.csv")

    frame = build_cohort(report, dictionary=dd)
    waves = pd.CategoricalDtype([w.name for w in dd.waves], ordered=True)
    scores = scored.scores.assign(**{dd.wave_column: scored.scores[dd.wave_column].astype(waves)})
    frame = frame.merge(scores, on=[dd.id_column, dd.wave_column], how="left")
    save(_score_summary(frame, scored.instruments, dd), tables / "score_summary.csv")
    save(_change_table(frame, dd, reliable_change, change_summary), tables / "reliable_change.csv")
    resp = report.data["responses"].assign(wave=lambda d: d["wave"].astype(object).astype(waves))
    alphas = [internal_consistency(resp, inst, by="wave") for inst in scored.instruments]
    save(pd.concat(alphas, ignore_index=True), tables / "internal_consistency.csv")
    return written


def _score_summary(frame: pd.DataFrame, instruments, dd) -> pd.DataFrame:
    rows = []
    for inst in instruments:
        for wave, grp in frame.groupby(dd.wave_column, observed=True, sort=True):
            v = grp[inst].dropna()
            rows.append({"instrument": inst, "wave": wave, "n": len(v),
                         "mean": v.mean() if len(v) else np.nan,
                         "sd": v.std() if len(v) > 1 else np.nan,
                         "prorated": int(grp[f"{inst}_prorated"].eq(True).sum())})
    return pd.DataFrame(rows)


def _change_table(frame, dd, reliable_change, change_summary) -> pd.DataFrame:
    """Reliable change from baseline to end of support, overall and by delivery mode."""
    wide = frame.pivot(index=dd.id_column, columns=dd.wave_column, values=["wemwbs", "epds"])
    mode = frame.groupby(dd.id_column, observed=True)["delivery_mode"].first()
    mode = mode.astype(object).where(mode.notna(), "not started").reindex(wide.index)
    parts = []
    for inst in ("wemwbs", "epds"):
        res = reliable_change(wide[(inst, "baseline")], wide[(inst, "end")], instrument=inst)
        summary = change_summary(res, group=mode.to_numpy())
        parts.append(summary.assign(instrument=inst, threshold=res.threshold, method=res.method))
    table = pd.concat(parts, ignore_index=True)
    return table[["instrument", "method", "threshold", *[c for c in table.columns
                                                          if c not in ("instrument", "method", "threshold")]]]
