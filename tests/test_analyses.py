"""The shipped analysis script runs end to end through the public API (a small cohort)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
ROOT = Path(__file__).resolve().parents[1]


def test_example_analysis_script_runs(tmp_path):
    spec = importlib.util.spec_from_file_location("example_analysis", ROOT / "analyses" / "example_analysis.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(n=150, seed=2, out=tmp_path, m=3)
    assert set(out["by_mode"]["delivery_mode"]) == {"one_to_one", "group", "both"}
    assert out["pooled"]["m"].iloc[0] == 3 and out["pooled"]["std_error"].iloc[0] > 0
    assert {"reliable_improvement", "reliable_deterioration"} <= set(out["shares"]["outcome"])
    written = pd.read_csv(tmp_path / "tables" / "change_by_context.csv")
    assert list(written["context"].unique()) == ["imd_quintile", "language_matched"]
