"""evalkit power PLAN: the design report folder, its sentences, and config errors without
tracebacks."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from evalkit.cli import cli
from evalkit.errors import PlanError
from evalkit.plan import AnalysisPlan
from evalkit.plan_power import load_power_design
from evalkit.report import format as fmt

DESIGN = """\
    fixed: weeks * delivery_mode + isolation
    random: weeks
    effects:
      Intercept: 38
      weeks: 0.3
      delivery_mode[T.one_to_one]: 0
      weeks:delivery_mode[T.one_to_one]: 0.15
      isolation: -1
    variance: {intercept_sd: 6, slope_sd: 0.15, correlation: 0, residual_sd: 4}
    waves: [0, 6, 12, 24]
    allocation: {group: 0.5, one_to_one: 0.5}
    dropout: [0, 0.1, 0.2, 0.3]
    test: weeks:delivery_mode[T.one_to_one]
    sizes: [30, 60]
    nsim: 12
    unit: WEMWBS points
    covariates: [isolation]
    dropout_odds: {isolation: 1.5}
"""


def _plan(tmp_path, body: str, *, section: bool = True):
    header = "programme: Peer support\nseed: 3\npower:\n"
    text = (header + textwrap.indent(textwrap.dedent(body), "  ") if section
            else textwrap.dedent(body))
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


def test_power_writes_the_design_report(tmp_path):
    out = tmp_path / "design"
    result = CliRunner().invoke(cli, ["power", str(_plan(tmp_path, DESIGN)), "--out", str(out),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"power.html", "power.csv", "detectable.csv",
                                                "simulations.csv", "power_curve.png",
                                                "power_curve.csv", "manifest.json"}
    page = (out / "power.html").read_text()
    assert ("With 60 mothers and this drop-out (10% lost by week 6, 20% by week 12 and 30% by week "
            "24), the chance of detecting a difference of 3.6 WEMWBS points in change from week 0 "
            "to week 24 between one-to-one and group support is") in page
    assert "detected with 80% power is" in page and "detected with 90% power is" in page
    assert "Drop-out: 10% lost by week 6" in page and "Satterthwaite degrees of freedom" in page
    assert "one standard deviation higher on isolation has 1.5 times the odds" in page
    table = pd.read_csv(out / "power.csv")
    assert table["n"].tolist() == [30, 60] and (table["n_sim"] == 12).all()
    _sentences_match_the_csv(page, table)
    assert set(pd.read_csv(out / "detectable.csv")["power"]) == {0.8, 0.9}
    assert (out / "power_curve.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("old, new, where, fix", [
    ("weeks:delivery_mode[T.one_to_one]: 0.15", "weeks:delivery_mode[T.one2one]: 0.15",
     "power.effects (line 6)", "did you mean 'weeks:delivery_mode[T.one_to_one]'"),
    ("sizes: [30, 60]", "sizes: [30, 30]", "power.sizes (line 17)", "different numbers of mothers"),
    ("nsim: 12", "nsims: 12", "power.nsims (line 18)", "did you mean 'nsim'"),
    ("allocation: {group: 0.5, one_to_one: 0.5}", "allocation: {group: 0.5, one_to_one: 0.6}",
     "power.allocation (line 14)", "add up to 1"),
])
def test_config_errors_name_file_key_and_fix_without_traceback(tmp_path, old, new, where, fix):
    assert old in DESIGN
    path = _plan(tmp_path, DESIGN.replace(old, new))
    result = CliRunner().invoke(cli, ["power", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()
    assert str(path) in result.output and where in result.output and fix in result.output


def test_a_design_file_and_a_full_plan_both_hold_the_section(tmp_path):
    section, meta = load_power_design(_plan(tmp_path, DESIGN, section=False))
    assert section.sizes == [30, 60] and meta["seed"] == 1
    section, meta = load_power_design(_plan(tmp_path, DESIGN))
    assert meta == {"source": str(tmp_path / "plan.yaml"), "programme": "Peer support", "seed": 3}
    plan = AnalysisPlan.from_dict({"programme": "x", "data": {"dictionary": "d.yaml",
                                                              "files": ["a.csv"]},
                                   "outcomes": [{"instrument": "wemwbs"}],
                                   "power": section.model_dump()})
    assert plan.power.test == "weeks:delivery_mode[T.one_to_one]"
    with pytest.raises(PlanError,
                       match=r"power.variance.slope: unknown key 'slope' \(did you mean"):
        AnalysisPlan.from_dict({"programme": "x",
                                "data": {"dictionary": "d.yaml", "files": ["a.csv"]},
                                "outcomes": [{"instrument": "wemwbs"}],
                                "power": {**section.model_dump(), "variance": {"intercept_sd": 1,
                                                                               "residual_sd": 1,
                                                                               "slope": 1}}})


def _power(plan, out, *options):
    return CliRunner().invoke(cli, ["power", str(plan), "--out", str(out), *options])


def _sentences_match_the_csv(page: str, table: pd.DataFrame) -> None:
    """Each size's chance in the page is power.csv's, formatted as the report formats shares."""
    for row in table.itertuples():
        chance = f"With {fmt.count(row.n)} mothers and this drop-out"
        said = (f"is {fmt.percent(row.power)} (95% CI {fmt.percent(row.ci_low)} to "
                f"{fmt.percent(row.ci_high)}).")
        start = page.index(chance)
        assert said in page[start:page.index("</", start)], (row.n, said)


def test_the_readme_design_renders_through_evalkit_power(tmp_path):
    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(# design\.yaml.*?)```", readme, re.S).group(1)
    assert "nsim: 1000" in block
    design = tmp_path / "design.yaml"
    # the README's design as written, at 20 studies per size to keep the suite quick
    design.write_text(block.replace("nsim: 1000", "nsim: 20"))
    out = tmp_path / "report"
    result = _power(design, out, "--no-progress")
    assert result.exit_code == 0, result.output
    page = (out / "power.html").read_text()
    table = pd.read_csv(out / "power.csv")
    assert table["n"].tolist() == [40, 80, 120]
    assert "the chance of detecting a difference of 2.4 WEMWBS points in change from week 0 to " \
        "week 24 between one-to-one and group support is" in page
    _sentences_match_the_csv(page, table)


def test_a_difference_in_change_in_words_reads_and_runs_as_the_term_does(tmp_path):
    term_out, words_out = tmp_path / "term", tmp_path / "words"
    worded = DESIGN.replace("test: weeks:delivery_mode[T.one_to_one]",
                            "test: {change: [0, 24], between: [one_to_one, group]}")
    for body, out in ((DESIGN, term_out), (worded, words_out)):
        folder = tmp_path / f"{out.name}_plan"
        folder.mkdir()
        result = _power(_plan(folder, body), out, "--no-progress")
        assert result.exit_code == 0, result.output
    # 24 × the interaction is the change it makes over the study: same studies, same sentences
    term, words = (pd.read_csv(o / "power.csv") for o in (term_out, words_out))
    pd.testing.assert_frame_equal(words.drop(columns=["mean_estimate", "true_value", "bias",
                                                      "empirical_se", "mean_std_error"]),
                                  term.drop(columns=["mean_estimate", "true_value", "bias",
                                                     "empirical_se", "mean_std_error"]))
    assert words["true_value"].iloc[0] == pytest.approx(24 * term["true_value"].iloc[0])
    sentence = "the chance of detecting a difference of 3.6 WEMWBS points in change from week 0 " \
        "to week 24 between one-to-one and group support is"
    assert sentence in (term_out / "power.html").read_text()
    assert sentence in (words_out / "power.html").read_text()
    _sentences_match_the_csv((words_out / "power.html").read_text(), words)


def test_change_in_one_group_in_words_and_a_region_refused_with_the_way_to_run_it(tmp_path):
    body = DESIGN.replace("test: weeks:delivery_mode[T.one_to_one]",
                          "test: {change: [0, 24], at: {delivery_mode: group}}")
    out = tmp_path / "o"
    result = _power(_plan(tmp_path, body), out, "--no-progress")
    assert result.exit_code == 0, result.output
    page = (out / "power.html").read_text()
    assert "a difference of 7.2 WEMWBS points from week 0 to week 24 among mothers in group " \
        "support is" in page                                         # 24 weeks × 0.3 a week
    region = DESIGN.replace("test: weeks:delivery_mode[T.one_to_one]",
                            "test: {change: [0, 24], johnson_neyman: isolation}")
    result = _power(_plan(tmp_path, region), tmp_path / "r")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "power.test.johnson_neyman" in result.output
    assert "run it with evalkit.power_curve" in result.output
