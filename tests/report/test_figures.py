"""evalkit.report.figures: alt texts carry the numbers, hidden groups are text only (never a point,
bar or line, and their numbers never reach the exported table) and read exactly HIDDEN, figures
take protected tidy tables only (no individual values, not even in a QQ plot), data labels are drawn
literally, PNGs are byte-identical on rerun, the models' .plot() methods share the figures' drawing
code, and no pyplot figure is left open."""

from __future__ import annotations

import base64
import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text

import evalkit as ek
import evalkit.report.figures as figures
from evalkit.errors import SpecificationError, UnknownNameError
from evalkit.models.moderation import JohnsonNeyman, johnson_neyman
from evalkit.models.survival import kaplan_meier
from evalkit.report.disclosure import DisclosureControl
from evalkit.report.figures import (OKABE_ITO, PALETTE, WIDTH, ReportFigure, axes_figure,
                                    flow_figure, forest_figure, jn_figure, km_figure,
                                    missingness_figure, qq_figure, reliable_change_figure,
                                    trajectory_figure)
from evalkit.report.figures.base import HIDDEN

matplotlib.use("Agg")
WEMWBS = "WEMWBS (14–70, higher = better)"
DOLLAR = "$5 voucher$"
#: wording that claims a bound for a hidden group, or prints a missing value
BAD_WORDS = re.compile(r"suppress|fewer than|n < \d|<\d|\bnan\b|\bNone\b|\bNA\b")


@pytest.fixture(autouse=True)
def no_pyplot_leaks():
    plt.close("all")            # what other test modules left open is not this module's leak
    yield
    assert plt.get_fignums() == [], "a report figure was left open in pyplot"


def texts(fig) -> list[Text]:
    return [t for t in fig.figure.findobj(Text) if t.get_visible() and t.get_text()]


def strings(fig) -> list[str]:
    return [t.get_text() for t in texts(fig)]


def check_common(fig: ReportFigure, allowed=("too small (n < 10)",)):
    """Every figure: A4 width, base font >= 9 pt, a caption, alt text with numbers in it, no
    bound claimed for hidden groups and no missing value printed as nan/None/NA. ``allowed``:
    statuses from the input for groups too small to estimate whose n is shown."""
    w, _ = fig.figure.get_size_inches()
    assert w == pytest.approx(WIDTH)
    small = [(t.get_text(), t.get_fontsize()) for t in texts(fig) if t.get_fontsize() < 9]
    assert small == []
    assert fig.caption
    assert re.search(r"\d", fig.alt)
    assert fig.alt.endswith(".")
    for text in (fig.alt, fig.caption, *strings(fig)):
        for ok in allowed:
            text = text.replace(ok, "")
        assert not BAD_WORDS.search(text), text
    if "status" in fig.data.columns:
        status = fig.data["status"].astype(str)
        assert not status[~status.isin(allowed)].str.contains("suppress|withheld|<").any()
    fig.to_png(dpi=40)                               # renders (mathtext would fail on "$")


# ====================================================================== ReportFigure
def _values(n=200, seed=0):
    return np.random.default_rng(seed).normal(size=n)


def _qq():
    return qq_figure(_values() ** 3, label="Residual (WEMWBS points)", name="qq_demo")


def test_png_is_byte_identical_across_builds_and_saves(tmp_path):
    a, b = _qq(), _qq()
    assert a.to_png() == b.to_png()
    assert a.to_png() == a.to_png()
    png, csv = a.save(tmp_path / "one")
    png2, csv2 = b.save(tmp_path / "two")
    assert png.name == "qq_demo.png" and csv.name == "qq_demo.csv"
    assert png.read_bytes() == png2.read_bytes()
    assert csv.read_bytes() == csv2.read_bytes()
    raw = png.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"matplotlib" not in raw.lower()         # no Software stamp with a version in it
    back = pd.read_csv(csv)
    assert list(back.columns) == ["probability", "theoretical", "sample", "reference"]
    np.testing.assert_allclose(back["sample"], a.data["sample"], rtol=1e-12)


def test_dpi_sets_pixel_size():
    fig = _qq()
    png = fig.to_png(dpi=100)
    width = int.from_bytes(png[16:20], "big")
    assert width == round(WIDTH * 100)
    with pytest.raises(SpecificationError, match="dpi"):
        fig.to_png(dpi=0)


def test_data_uri_and_html_escape_alt():
    fig = _qq()
    uri = fig.to_data_uri()
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == fig.to_png()
    odd = ReportFigure("odd", fig.figure, 'Scores "rose" <sharply> & stayed 5 points up.',
                       fig.data, "cap & note")
    html = odd.to_html()
    assert 'alt="Scores &quot;rose&quot; &lt;sharply&gt; &amp; stayed 5 points up."' in html
    assert "<figcaption>cap &amp; note</figcaption>" in html


def test_bad_name_empty_alt_and_closed_figure_are_errors():
    fig = _qq()
    with pytest.raises(SpecificationError, match="file stem"):
        ReportFigure("../escape", fig.figure, "x 1.", fig.data)
    with pytest.raises(SpecificationError, match="alt text"):
        ReportFigure("ok", fig.figure, "  ", fig.data)
    fig.close()
    with pytest.raises(SpecificationError, match="closed"):
        fig.to_png()


def test_palette_is_okabe_ito():
    assert set(PALETTE) == set(OKABE_ITO.values())
    assert PALETTE[0] == "#0072B2"


def test_package_exports_what_the_module_did():
    assert set(figures.__all__) == {
        "ReportFigure", "trajectory_figure", "forest_figure", "jn_figure",
        "reliable_change_figure", "km_figure", "missingness_figure", "flow_figure", "qq_figure",
        "PALETTE", "OKABE_ITO", "STYLE", "WIDTH", "axes_figure", "dose_figure", "tipping_figure",
        "power_figure"}
    for name in figures.__all__:
        assert getattr(figures, name) is not None


def test_axes_figure_wraps_a_plot_method():
    data = pd.DataFrame({"sessions": [0, 5, 10], "change": [1.0, 2.5, 4.0]})
    seen = []

    def draw(ax):
        seen.append(ax)
        ax.plot(data["sessions"], data["change"])

    fig = axes_figure("dose_response", draw, data=data, caption="A line.",
                      alt="Change rose from 1.0 to 4.0 points over 10 sessions.", height=3.0)
    assert isinstance(fig, ReportFigure) and fig.name == "dose_response"
    assert seen == [fig.figure.axes[0]]
    assert tuple(fig.figure.get_size_inches()) == pytest.approx((WIDTH, 3.0))
    assert fig.caption == "A line." and fig.data is data
    assert fig.to_png(dpi=40)[:4] == b"\x89PNG"


# ====================================================================== power curve
def test_power_figure_states_where_the_target_is_reached_and_is_reproducible():
    from evalkit.report.figures import power_figure

    table = pd.DataFrame({"n": [40, 80, 120], "power": [0.21, 0.39, float("nan")],
                          "ci_low": [0.17, 0.34, float("nan")], "ci_high": [0.25, 0.43, float("nan")],
                          "n_sim": [500, 500, 500], "n_failed": [0, 0, 500]})
    fig = power_figure(table, target=0.8)
    assert fig.alt == ("Power curve: the chance of detecting the difference rises from 21% with 40 "
                       "mothers to 39% with 80; 80% power is not reached at any size tried.")
    assert list(fig.data.columns) == ["n", "power", "ci_low", "ci_high", "n_sim", "n_failed"]
    assert fig.to_png(dpi=40) == power_figure(table, target=0.8).to_png(dpi=40)
    ax = fig.figure.axes[0]
    assert [round(float(y), 2) for y in ax.get_lines()[0].get_ydata()] == [0.21, 0.39]
    assert any(float(line.get_ydata()[0]) == 0.8 for line in ax.get_lines()[1:])


# ====================================================================== forest
def _scan():
    return pd.DataFrame({
        "outcome": "wemwbs",
        "context": ["delivery_mode"] * 3 + ["site"] * 4,
        "level": ["one_to_one", "group", "both", "north", "east", "south", "west"],
        # "both" was withheld by disclosure control; "west" has 3 mothers but nobody marked it,
        # and its estimate leaked through: the figure must hide it anyway
        "n_participants": [120, 90, np.nan, 60, 55, 7, 3],
        "status": ["estimated", "estimated", "withheld (n < 5)", "estimated", "estimated",
                   "too small (n < 10)", "estimated"],
        "estimate": [6.1, 2.6, np.nan, 4.4, 3.9, np.nan, 9.87],
        "ci_low": [4.0, 0.5, np.nan, 2.2, 1.7, np.nan, 1.23],
        "ci_high": [8.2, 4.7, np.nan, 6.6, 6.1, np.nan, 18.51],
        "heterogeneity_p_adjusted": [0.012] * 3 + [0.4] * 4,
    })


def _row_y(ax, text):
    """y (data units) of the Texts whose string is ``text`` within axes ``ax``."""
    ys = [t.get_position()[1] for t in ax.texts if t.get_text() == text]
    assert ys, f"no text {text!r}"
    return ys


def test_forest_hidden_levels_are_text_only():
    fig = forest_figure(_scan(), outcome="wemwbs", label=WEMWBS, reference=4.6)
    check_common(fig)
    d = fig.data
    assert d["level"].tolist() == ["one_to_one", "group", "both", "north", "east", "south", "west"]
    hidden = d.loc[d["level"].isin(["both", "west"])]
    assert (hidden["status"] == HIDDEN).all()
    assert hidden[["n_participants", "estimate", "ci_low", "ci_high"]].isna().all().all()
    assert d["drawn"].tolist() == [True, True, False, True, True, False, False]
    assert d.loc[d["level"] == "south", "n_participants"].item() == 7   # too small, not disclosive
    assert d.loc[d["level"] == "south", "status"].item() == "too small (n < 10)"

    (ax,) = fig.figure.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == d["level"].tolist()
    hidden_y = _row_y(ax, HIDDEN)
    assert len(hidden_y) == 2
    drawn_y = {float(y) for line in ax.lines for y in np.atleast_1d(line.get_ydata())
               if line.get_marker() not in (None, "None", "")}
    assert len(drawn_y) == 4
    assert not drawn_y & set(hidden_y)
    assert _row_y(ax, "too small (n < 10)")
    # n is printed for every visible level, nothing for hidden ones; leaked numbers nowhere
    assert {"120", "90", "60", "55", "7"} <= set(strings(fig))
    assert "3" not in strings(fig)
    everything = " ".join(strings(fig)) + fig.alt + fig.data.to_csv()
    assert "9.87" not in everything and "9.9" not in everything and "18.5" not in everything


def test_forest_alt_states_the_range_and_hidden_groups():
    # lowest to highest estimate, never "largest/smallest" (backwards where lower is better)
    fig = forest_figure(_scan(), outcome="wemwbs", label=WEMWBS, reference=4.6)
    assert fig.alt.startswith("Estimated change in WEMWBS ranged from +2.6 points (95% CI 0.5 to "
                              "4.7) for group (delivery_mode) to +6.1 points (95% CI 4.0 to 8.2) "
                              "for one_to_one (delivery_mode).")
    assert "Overall change was +4.6 points." in fig.alt
    assert "Change differed by delivery_mode by more than chance would explain" in fig.alt
    assert (f"2 groups {HIDDEN}: both (delivery_mode) and west (site).") in fig.alt
    assert "1 level not estimated: south (site), too small (n < 10)." in fig.alt
    assert HIDDEN in fig.caption
    assert fig.name == "forest_wemwbs"


def test_forest_threshold_and_outcome_filter():
    scan = pd.concat([_scan(), _scan().assign(outcome="epds")], ignore_index=True)
    fig = forest_figure(scan, outcome="epds", label="EPDS (0–30)", threshold=10)
    assert len(fig.data) == 7
    # with threshold 10 the 7-mother level is hidden as well
    assert (fig.data["status"] == HIDDEN).sum() == 3
    assert f"3 groups {HIDDEN}: both (delivery_mode), south (site) and west (site)." in fig.alt
    with pytest.raises(UnknownNameError, match=r"'phq9' is not in the scan; it has \['wemwbs', 'epds'\]"):
        forest_figure(scan, outcome="phq9", label="PHQ-9")
    with pytest.raises(UnknownNameError, match="lacks column"):
        forest_figure(_scan().drop(columns="status"), outcome="wemwbs", label=WEMWBS)
    with pytest.raises(SpecificationError, match="threshold"):
        forest_figure(_scan(), outcome="wemwbs", label=WEMWBS, threshold=0)


def test_forest_says_differences_in_words_not_p_values():
    # the forest plot is in the impact report, which shows no p-values (issue 13)
    scan = _scan().assign(heterogeneity_p_adjusted=0.00001)
    fig = forest_figure(scan, outcome="wemwbs", label=WEMWBS)
    assert "Change differed by delivery_mode and site by more than chance would explain" in fig.alt
    assert "differs (adjusted test)" in strings(fig)
    assert not any("p " in s or "p=" in s for s in strings(fig))
    flat = forest_figure(_scan().assign(heterogeneity_p_adjusted=0.4), outcome="wemwbs",
                         label=WEMWBS)
    assert "no clear difference" in strings(flat) and "p" not in flat.alt.split("explain")[0][-3:]


# ====================================================================== trajectories
def _means():
    rows = []
    for g, slope in (("one_to_one", 0.5), ("group", 0.25), ("online", 0.9)):
        for w in (0, 6, 12):
            e = 42 + slope * w
            rows.append({"delivery_mode": g, "weeks": w, "estimate": e, "ci_low": e - 1.5,
                         "ci_high": e + 1.5})
    return pd.DataFrame(rows)


def _observed():
    rows = []
    for g, n in (("one_to_one", 40), ("group", 30), ("online", 3)):
        for w, k in ((0.0, n), (6.0, n - 2), (12.0, n - 4)):
            rows.append({"delivery_mode": g, "weeks": w, "mean": 42.3 + 0.45 * w, "n": k})
    return pd.DataFrame(rows)


def test_trajectory_means_by_group_and_hidden_group():
    means = _means()
    means["status"] = np.where(means["delivery_mode"] == "online", "withheld (n < 5)", "estimated")
    fig = trajectory_figure(means, outcome="wemwbs", label=WEMWBS, group="delivery_mode")
    check_common(fig)
    (ax,) = fig.figure.axes
    assert not [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(ax.lines) == 2                      # two means, nothing for "online"
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    assert f"online: {HIDDEN}" in " ".join(strings(fig))
    d = fig.data
    assert list(d.columns) == ["group", "time", "kind", "estimate", "ci_low", "ci_high", "n",
                               "status"]
    online = d.loc[d["group"] == "online"]
    assert online[["estimate", "ci_low", "ci_high", "n"]].isna().all().all()
    assert (online["status"] == HIDDEN).all()
    assert ("Model-estimated mean WEMWBS: for one_to_one it went from 42.0 (95% CI 40.5 to 43.5) "
            "at week 0 to 48.0 (95% CI 46.5 to 49.5) at week 12") in fig.alt
    assert fig.alt.endswith(f"1 group {HIDDEN}: online.")
    assert "Hollow" not in fig.alt


def test_trajectory_observed_means_are_hollow_markers_and_small_groups_hidden():
    means = _means().assign(n_participants=lambda m: m["delivery_mode"].map(
        {"one_to_one": 40, "group": 30, "online": 3}))
    fig = trajectory_figure(means, observed=_observed(), outcome="wemwbs", label=WEMWBS,
                            group="delivery_mode")
    check_common(fig)
    (ax,) = fig.figure.axes
    hollow = [ln for ln in ax.lines if ln.get_linestyle() == "None"]
    assert len(hollow) == 2
    assert all(ln.get_markerfacecolor() == "none" for ln in hollow)
    assert len(ax.lines) == 4                      # 2 means + 2 observed, nothing for online
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["one_to_one (n = 40)", "group (n = 30)"]
    d = fig.data
    obs = d.loc[d["kind"] == "observed"]
    assert len(obs) == 9
    assert obs.loc[obs["group"] == "online", ["estimate", "n"]].isna().all().all()
    assert (obs.loc[obs["group"] == "online", "status"] == HIDDEN).all()
    assert "Hollow markers show the observed mean WEMWBS at each wave." in fig.alt
    assert "Hollow markers" in fig.caption
    assert "3" not in d.loc[d["group"] == "online"].to_csv(index=False).split("\n", 1)[1]


def test_trajectory_hides_observed_waves_below_threshold():
    obs = _observed()
    obs.loc[(obs["delivery_mode"] == "group") & (obs["weeks"] == 12.0), "n"] = 4
    obs.loc[(obs["delivery_mode"] == "group") & (obs["weeks"] == 6.0), "n"] = np.nan
    fig = trajectory_figure(_means(), observed=obs, outcome="wemwbs", label=WEMWBS,
                            group="delivery_mode")
    d = fig.data.loc[(fig.data["kind"] == "observed") & (fig.data["group"] == "group")]
    assert d["estimate"].notna().tolist() == [True, False, False]
    assert d["status"].tolist() == ["shown", HIDDEN, HIDDEN]


def test_trajectory_names_groups_without_means():
    means = _means().loc[lambda m: m["delivery_mode"] != "group"]
    fig = trajectory_figure(means, observed=_observed(), outcome="wemwbs", label=WEMWBS,
                            group="delivery_mode")
    assert "No model means for group, so not drawn." in fig.caption
    assert set(fig.data["group"]) == {"one_to_one", "online"}


def test_trajectory_takes_no_person_level_arguments():
    with pytest.raises(TypeError):
        trajectory_figure(_means(), outcome="wemwbs", label=WEMWBS, group="delivery_mode",
                          individuals=True)
    with pytest.raises(TypeError):
        trajectory_figure(pd.DataFrame(), _means(), outcome="wemwbs", label=WEMWBS)


def test_trajectory_input_errors():
    with pytest.raises(SpecificationError, match="several rows per 'weeks'"):
        trajectory_figure(_means(), outcome="wemwbs", label=WEMWBS)
    with pytest.raises(UnknownNameError, match="means lacks column"):
        trajectory_figure(_means().drop(columns="ci_low"), outcome="wemwbs", label=WEMWBS,
                          group="delivery_mode")
    with pytest.raises(UnknownNameError, match="observed lacks column"):
        trajectory_figure(_means(), observed=_observed().drop(columns="n"), outcome="wemwbs",
                          label=WEMWBS, group="delivery_mode")


# ====================================================================== Johnson–Neyman
def _jn(ci_shift=0.0, slope=-1.2):
    w = np.linspace(0, 10, 101)
    est = 6 + slope * w
    curve = pd.DataFrame({"isolation": w, "estimate": est, "std_error": 1.0, "df": 100.0,
                          "ci_low": est - 2 + ci_shift, "ci_high": est + 2 + ci_shift})
    curve["significant"] = (curve["ci_low"] > 0) | (curve["ci_high"] < 0)
    roots = [] if slope == 0 else sorted(
        r for r in ((-2 - ci_shift - 6) / slope, (2 - ci_shift - 6) / slope) if 0 <= r <= 10)
    bounds = pd.DataFrame({"moderator_value": roots, "inside_data": True,
                           "side": ["significant below"] * len(roots)})
    return JohnsonNeyman(effect="weeks", moderator="isolation", bounds=bounds, curve=curve,
                         observed_range=(0.0, 10.0), confidence=0.95)


def _jn_fig(jn, **kw):
    return jn_figure(jn.curve, jn.bounds, moderator=jn.moderator,
                     observed_range=jn.observed_range, confidence=jn.confidence, **kw)


def test_jn_two_regions():
    # CI excludes 0 below 3.33 and above 6.67
    fig = _jn_fig(_jn(), label=WEMWBS, moderator_label="Isolation (0–10)",
                  effect_label="change in WEMWBS over 12 weeks")
    check_common(fig)
    assert fig.alt.startswith("Change in WEMWBS over 12 weeks was distinguishable from 0 (95% CI "
                              "excludes 0) for isolation below 3.33 and above 6.67; elsewhere the "
                              "CI includes 0.")
    assert "+6.0 (95% CI 4.0 to 8.0) at isolation 0.00 and -6.0 (95% CI -8.0 to -4.0)" in fig.alt
    ax = fig.figure.axes[0]
    spans = [p for p in ax.patches if isinstance(p, Rectangle)] + \
        [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(spans) >= 3                         # two shaded regions and the CI band
    assert {"3.33", "6.67"} <= set(strings(fig))
    d = fig.data
    assert (d["kind"] == "curve").sum() == 101
    np.testing.assert_allclose(d.loc[d["kind"] == "boundary", "moderator_value"], [10 / 3, 20 / 3])
    assert fig.name == "jn_isolation"


def test_jn_none_and_whole_range():
    none = _jn_fig(_jn(slope=0.0, ci_shift=-6.0), label=WEMWBS, moderator_label="Isolation")
    assert none.alt.startswith("The effect on WEMWBS was not distinguishable from 0 (95% "
                               "CI includes 0) anywhere in the observed range of isolation "
                               "(0.00 to 10.00).")
    whole = _jn_fig(_jn(slope=0.0), label=WEMWBS, moderator_label="Isolation")
    assert "for isolation across the whole observed range (0.00 to 10.00)." in whole.alt


def test_jn_from_a_real_fit_has_no_individual_values():
    rng = np.random.default_rng(4)
    n = 60
    ids = np.repeat(np.arange(n), 3)
    weeks = np.tile([0.0, 6.0, 12.0], n)
    iso = rng.uniform(0, 10, n)[ids]
    y = 40 + rng.normal(0, 5, n)[ids] + (0.6 - 0.08 * iso) * weeks + rng.normal(0, 3, 3 * n)
    d = pd.DataFrame({"id": ids, "weeks": weeks, "isolation": iso, "wemwbs": y})
    fit = ek.fit_mixed(d, outcome="wemwbs", fixed="weeks * isolation", subject="id", random="1")
    jn = johnson_neyman(fit, effect="weeks", by="isolation", change=(0, 12), n_points=101)
    inside = jn.bounds.loc[jn.bounds["inside_data"], "moderator_value"]
    assert len(inside) == 1
    fig = _jn_fig(jn, label=WEMWBS, moderator_label="Isolation (0–10)")
    assert f"for isolation below {inside.iat[0]:.2f}; elsewhere the CI includes 0." in fig.alt
    assert f"{inside.iat[0]:.2f}" in strings(fig)
    assert len(fig.data) == 101 + len(inside)      # only the boundaries drawn
    ax = fig.figure.axes[0]
    # no rug, no histogram: only the curve's own points are drawn
    inner = set(np.round(np.unique(iso)[1:-1], 9))
    for line in ax.lines:
        assert not set(np.round(np.atleast_1d(line.get_xdata()).astype(float), 9)) & inner
    with pytest.raises(SpecificationError, match="johnson_neyman"):
        jn_figure(fit, jn.bounds, moderator="isolation", observed_range=(0, 10), label=WEMWBS,
                  moderator_label="Isolation")


# ====================================================================== reliable change
def _rc_summary():
    before = [16, 16, 12, 15, 18, 20, 14, 17, 19, 13, 16, 22, 15, 18, 14]
    after = [12, 19, 16, 10, 13, 15, 14, 12, 18, 9, 11, 16, 15, 10, 18]
    group = ["a"] * 6 + ["b"] * 6 + ["c"] * 3
    res = ek.reliable_change(before, after, instrument="epds")
    return ek.change_summary(res, by=group)


def test_reliable_change_numbers_and_small_group():
    s = _rc_summary()
    fig = reliable_change_figure(s, label="EPDS (0–30, higher = worse)")
    check_common(fig)
    d = fig.data
    assert d["group"].unique().tolist() == ["all", "a", "b", "c"]
    assert set(d["outcome"]) == {"reliable_improvement", "no_reliable_change",
                                 "reliable_deterioration"}
    # group c has 3 mothers: hidden though change_summary showed it
    c = d.loc[d["group"] == "c"]
    assert c[["n", "count", "proportion", "ci_low", "ci_high"]].isna().all().all()
    assert (c["status"] == HIDDEN).all()

    ref = s.set_index(["group", "outcome"])
    imp, det = ref.loc[("all", "reliable_improvement")], ref.loc[("all", "reliable_deterioration")]
    assert imp["n"] == 15
    expected = (f"Of all 15 mothers with both scores, {100 * imp.proportion:.0f}% (95% CI "
                f"{100 * imp.ci_low:.0f}% to {100 * imp.ci_high:.0f}%) reliably improved on EPDS and "
                f"{100 * det.proportion:.0f}% (95% CI {100 * det.ci_low:.0f}% to "
                f"{100 * det.ci_high:.0f}%) reliably deteriorated")
    assert fig.alt.startswith(expected)
    assert expected.startswith("Of all 15 mothers with both scores, 60% (95% CI 36% to 80%)")
    assert fig.alt.endswith(f"1 group {HIDDEN}: c.")

    ax = fig.figure.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    centres = sorted({round(p.get_y() + p.get_height() / 2, 6) for p in bars})
    assert centres == [0.0, 1.0, 2.0]              # nothing at y = 3 (group c)
    assert any(t.get_text() == HIDDEN and t.get_position()[1] == 3 for t in ax.texts)
    assert [t.get_text() for t in ax.get_yticklabels()][3] == "c"      # no n for c
    # deterioration is drawn (vermillion) for every shown group, like improvement (blue)
    colours = [matplotlib.colors.to_hex(p.get_facecolor()) for p in bars]
    assert colours.count(OKABE_ITO["vermillion"].lower()) == 3
    assert colours.count(OKABE_ITO["blue"].lower()) == 3


def test_reliable_change_hidden_cell_hides_the_whole_group():
    s = _rc_summary()
    # disclosure control hid one cell of group "a": the other two would reveal it by subtraction
    s.loc[(s["group"] == "a") & (s["outcome"] == "reliable_deterioration"),
          ["count", "proportion", "ci_low", "ci_high"]] = np.nan
    fig = reliable_change_figure(s, label="EPDS (0–30, higher = worse)")
    check_common(fig)
    a = fig.data.loc[fig.data["group"] == "a"]
    assert (a["status"] == HIDDEN).all()
    assert a[["count", "proportion"]].isna().all().all()
    assert (a["n"] == 6).all()                     # its size was published: not a bound claim
    assert f"2 groups {HIDDEN}: a and c." in fig.alt
    assert strings(fig).count(HIDDEN) == 2
    with pytest.raises(SpecificationError, match="change_summary"):
        reliable_change_figure(s.assign(outcome="recovered"), label="EPDS")


# ====================================================================== Kaplan–Meier
def _km_data():
    w = [2, 3, 3, 5, 8, 8, 9, 12, 12, 12, 1, 2, 4, 4, 6, 7, 9, 10, 12, 12, 3, 5, 12]
    e = [1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0]
    g = ["a"] * 10 + ["b"] * 10 + ["c"] * 3
    return pd.DataFrame({"weeks": w, "stopped": e, "mode": g})


def _km_tables(data, times, *, across_groups=False):
    km = kaplan_meier(data, duration="weeks", event="stopped", by="mode")
    dc = DisclosureControl(threshold=5)
    risk = dc.risk_table(km.risk_table(times), name="risk", across_groups=across_groups)
    curve = dc.km_curve(km.table, name="curve", withheld_groups=risk.withheld_groups)
    return km, curve.data, risk


def test_km_withheld_small_group_and_risk_table():
    times = [0, 4, 8, 12]
    km, curve, risk = _km_tables(_km_data(), times)
    assert risk.withheld_groups == ("c",)
    fig = km_figure(curve[["group", "time", "survival", "ci_low", "ci_high"]], risk.data,
                    label="Proportion still engaged", times=times,
                    withheld=risk.withheld_groups)
    check_common(fig)
    main, table_ax = fig.figure.axes
    steps = [ln for ln in main.lines if len(ln.get_xdata()) > 2]
    assert len(steps) == 2                          # a and b; c (3 mothers) not drawn
    cells = [t.get_text() for t in table_ax.texts]
    assert cells.count("*") == int(risk.data.loc[risk.data["group"].isin(["a", "b"]),
                                                 "at_risk"].isna().sum()) > 0
    assert f"* {HIDDEN}" in cells
    assert HIDDEN in cells                          # the row of c
    d = fig.data
    assert set(d["kind"]) == {"curve", "risk"}
    assert "c" not in set(d.loc[d["kind"] == "curve", "group"])
    c = d.loc[d["group"] == "c"]
    assert (c["status"] == HIDDEN).all() and c[["at_risk", "events", "censored"]].isna().all().all()
    assert d.loc[d["kind"] == "curve", "at_risk"].isna().all()
    # only drawn points are exported: every curve row has a survival value
    assert d.loc[d["kind"] == "curve", "survival"].notna().all()
    assert fig.alt.endswith(f"1 group {HIDDEN}: c.")
    assert "(Kaplan–Meier) at week" in fig.alt


def test_km_curve_stops_where_hidden_and_alt_reads_the_drawn_curve():
    times = [0, 4, 8, 12]
    km, curve, risk = _km_tables(_km_data(), times)
    fig = km_figure(curve, risk.data, label="Proportion still engaged", times=times,
                    withheld=risk.withheld_groups)
    drawn = fig.data.loc[fig.data["kind"] == "curve"]
    for g in ("a", "b"):
        visible = curve.loc[(curve["group"] == g) & curve["survival"].notna(), "time"]
        assert drawn.loc[drawn["group"] == g, "time"].max() == visible.max() < 12
    # the last risk-table time every drawn curve reaches
    s = km.survival_at(8).set_index("group")
    for g in ("a", "b"):
        r = s.loc[g]
        assert (f"{100 * r.survival:.0f}% (95% CI {100 * r.ci_low:.0f}% to "
                f"{100 * r.ci_high:.0f}%) for {g}") in fig.alt
    assert "at week 8:" in fig.alt
    assert "At week 12 the curve is not available for a, b." in fig.alt


def test_km_defends_against_an_unprotected_curve():
    km = kaplan_meier(_km_data(), duration="weeks", event="stopped", by="mode")
    risk = km.risk_table([0, 6, 12], suppress_below=5)
    fig = km_figure(km.table, risk, label="Proportion still engaged", times=[0, 6, 12])
    check_common(fig)
    d = fig.data
    assert "c" not in set(d.loc[d["kind"] == "curve", "group"])        # starts with 3
    # each curve stops before fewer than 5 are at risk (the at_risk column of the raw table)
    for g in ("a", "b"):
        t = km.table.loc[km.table["group"] == g]
        first_small = t.loc[t["at_risk"] < 5, "time"].min()
        assert d.loc[(d["kind"] == "curve") & (d["group"] == g), "time"].max() < first_small
    risk_rows = d.loc[d["kind"] == "risk"]
    counts = risk_rows[["at_risk", "events", "censored"]].to_numpy(float)
    assert not ((counts > 0) & (counts < 5)).any()


def test_km_explicit_withheld_and_errors():
    d = _km_data()
    d.loc[d["mode"] == "c", "mode"] = "a"
    km, curve, risk = _km_tables(d, [0, 6, 12])
    fig = km_figure(curve, risk.data, label="Proportion still engaged", times=[0, 6, 12],
                    withheld=["b"])
    assert set(fig.data.loc[fig.data["kind"] == "curve", "group"]) == {"a"}
    assert len([ln for ln in fig.figure.axes[0].lines if len(ln.get_xdata()) > 2]) == 1
    with pytest.raises(UnknownNameError, match="withheld group"):
        km_figure(curve, risk.data, label="x", times=[0, 6], withheld=["z"])
    with pytest.raises(SpecificationError, match="curve must be a pandas DataFrame"):
        km_figure(km, risk.data, label="x", times=[0])


# ====================================================================== missingness
def _patterns():
    return pd.DataFrame({"pattern": ["XXX", "XX.", "X..", "X.X", ".X."],
                         "baseline": [True, True, True, True, False],
                         "mid": [True, True, False, False, True],
                         "end": [True, False, False, True, False],
                         "n_participants": [60, 25, 12, np.nan, 3],
                         "percent": [58.3, 24.3, 11.7, np.nan, 2.9]})


def test_missingness_alt_and_hidden_counts():
    fig = missingness_figure(_patterns(), label="WEMWBS")
    check_common(fig)
    assert fig.alt == ("WEMWBS completion by wave: the most common pattern was all 3 waves (60 "
                       "mothers, 58%). 58% completed all 3 waves and 12% baseline only. The counts "
                       f"of 2 patterns are {HIDDEN}.")
    d = fig.data
    assert d.loc[d["pattern"] == ".X.", ["n_participants", "percent"]].isna().all().all()
    assert (d["status"] == "shown").sum() == 3
    assert (d.loc[d["status"] != "shown", "status"] == HIDDEN).all()
    (ax,) = fig.figure.axes
    assert len([p for p in ax.patches if isinstance(p, Rectangle)]) == 3
    assert [t.get_text() for t in ax.texts].count(HIDDEN) == 2
    assert "n = 60 (58%)" in strings(fig)
    assert not any("n = 3" in s or "(3%)" in s for s in strings(fig))
    np.testing.assert_array_equal(ax.get_images()[0].get_array(),
                                  _patterns()[["baseline", "mid", "end"]].to_numpy(float))


def test_missingness_needs_boolean_waves():
    bad = _patterns().assign(end=[1, 0, 0, 1, 0])
    with pytest.raises(SpecificationError, match=r"not boolean: \['end'\]"):
        missingness_figure(bad, label="WEMWBS")


# ====================================================================== flow
def test_flow_boxes_and_hidden_stage():
    flow = pd.DataFrame({"stage": ["referred", "started", "completed end", "completed follow-up"],
                         "n": [200, 150, 96, 3], "percent_of_referred": [100, 75.0, 48.0, 1.5],
                         "note": ["", "50 declined", "54 lost to follow-up", None]})
    fig = flow_figure(flow)
    check_common(fig)
    s = strings(fig)
    assert "n = 150 (75% of referred)" in s
    assert f"n {HIDDEN}" in s
    assert "50 declined" in s
    assert not any("1.5" in t or "n = 3" in t for t in s)
    d = fig.data
    assert np.isnan(d["n"].iat[3]) and np.isnan(d["percent_of_referred"].iat[3])
    assert d["status"].tolist() == ["shown"] * 3 + [HIDDEN]
    assert fig.alt == ("Participant flow: of 200 mothers referred, 96 (48%) reached completed end, "
                       "the last stage with a count shown. Stages: referred 200; started 150 (75%); "
                       f"completed end 96 (48%); completed follow-up: {HIDDEN}.")
    boxes = [p for p in fig.figure.axes[0].patches if type(p).__name__ == "FancyBboxPatch"]
    assert len(boxes) == 4


def test_flow_missing_percentage_is_left_out_not_printed_as_nan():
    flow = pd.DataFrame({"stage": ["referred", "started"], "n": [200, 150],
                         "percent_of_referred": [100.0, np.nan], "note": ["", ""]})
    fig = flow_figure(flow)
    check_common(fig)
    assert fig.alt == ("Participant flow: of 200 mothers referred, 150 reached the last stage "
                       "(started). Stages: referred 200; started 150.")


# ====================================================================== QQ
def test_qq_plots_quantiles_at_k_over_m_plus_1():
    v = _values(1000, seed=3)
    fig = qq_figure(v, label="Random intercept (points)", name="qq_re")
    check_common(fig)
    d = fig.data
    m = min(99, 1000 // 5 - 1)
    assert len(d) == m == 99
    p = np.arange(1, m + 1) / (m + 1)
    np.testing.assert_allclose(d["probability"], p)
    np.testing.assert_allclose(d["sample"], np.quantile(v, p))         # type 7
    from scipy import stats

    np.testing.assert_allclose(d["theoretical"], stats.norm.ppf(p))
    # R's qqline: through the quartiles of the data
    yq, xq = np.quantile(v, [0.25, 0.75]), stats.norm.ppf([0.25, 0.75])
    slope = (yq[1] - yq[0]) / (xq[1] - xq[0])
    np.testing.assert_allclose(d["reference"], yq[0] + slope * (d["theoretical"] - xq[0]))
    assert fig.alt.startswith("Normal QQ plot of 99 quantiles of 1,000 random intercept values: ")
    # fewer points when n / threshold is small: at least `threshold` values per step
    assert len(qq_figure(v[:200], label="x", name="qq").data) == 39
    assert len(qq_figure(v[:200], label="x", name="qq", threshold=10).data) == 19


@pytest.mark.parametrize("n", [20, 101, 200, 1000, 1001, 4000])
def test_qq_never_shows_an_input_value(n):
    v = _values(n, seed=n)
    fig = qq_figure(v, label="Residual (points)", name="qq")
    assert len(fig.data) >= 3
    assert not np.isin(fig.data["sample"].to_numpy(), v).any()
    ax = fig.figure.axes[0]
    for line in ax.lines:
        assert not np.isin(np.asarray(line.get_ydata(), float), v).any()
    # at least `threshold` values below the first quantile and above the last
    assert (v < fig.data["sample"].iat[0]).sum() >= 5
    assert (v > fig.data["sample"].iat[-1]).sum() >= 5
    assert "SD from the mean" not in fig.alt


def test_qq_draws_nothing_for_fewer_than_four_thresholds():
    v = _values(19, seed=1)
    fig = qq_figure(np.r_[v, np.nan], label="Random intercept (points)", name="qq_small")
    assert fig.data.empty
    assert list(fig.data.columns) == ["probability", "theoretical", "sample", "reference"]
    ax = fig.figure.axes[0]
    assert len(ax.lines) == 0 and len(ax.collections) == 0
    note = "Too few random intercept values to draw a QQ plot without showing individuals"
    assert [t.get_text() for t in ax.texts] == [note + "."]
    assert fig.alt.startswith(note)
    assert "1 missing value(s) left out." in fig.caption
    check_common(fig)
    assert len(qq_figure(_values(20), label="x", name="qq").data) == 3
    # 21 values: at most 3 quantiles, but then the middle one would be the 11th value
    assert len(qq_figure(_values(21), label="x", name="qq").data) == 0
    assert len(qq_figure(_values(39), label="x", name="qq", threshold=10).data) == 0


def test_qq_describes_skew_without_extreme_values():
    v = np.random.default_rng(0).exponential(size=400)
    fig = qq_figure(v, label="Residual (points)", name="qq_skew")
    assert "right-skewed (long upper tail)" in fig.alt
    assert re.search(r"skewness 2\.\d\d", fig.alt)       # 2 for the exponential
    assert "SD" not in fig.alt
    with pytest.raises(SpecificationError, match="numbers"):
        qq_figure(["a", "b"], label="x", name="qq")
    with pytest.raises(SpecificationError, match="threshold"):
        qq_figure(v, label="x", name="qq", threshold=0)


# ====================================================================== data labels drawn literally
def test_dollar_signs_in_labels_render_literally():
    scan = _scan()
    scan.loc[0, "level"] = DOLLAR
    scan.loc[scan["context"] == "site", "context"] = "$ite"
    forest = forest_figure(scan, outcome="wemwbs", label="WEMWBS ($ points)")
    means = _means().replace({"online": DOLLAR})
    traj = trajectory_figure(means, outcome="wemwbs", label=WEMWBS, group="delivery_mode")
    s = _rc_summary().replace({"a": DOLLAR})
    rc = reliable_change_figure(s, label="EPDS $")
    d = _km_data().replace({"a": DOLLAR})
    _, curve, risk = _km_tables(d, [0, 6, 12])
    km = km_figure(curve, risk.data, label="Share $", times=[0, 6, 12],
                   withheld=risk.withheld_groups)
    pat = _patterns().rename(columns={"mid": "$mid$"})
    miss = missingness_figure(pat, label="WEMWBS")
    flow = flow_figure(pd.DataFrame({"stage": [DOLLAR, "started"], "n": [200, 150],
                                     "percent_of_referred": [100.0, 75.0],
                                     "note": ["$1 and $2", ""]}))
    for fig in (forest, traj, rc, km, miss, flow):
        assert fig.to_png(dpi=40)[:4] == b"\x89PNG"   # mathtext would raise on "$5 voucher$"
        shown = " ".join(strings(fig))
        for label in fig.figure.findobj(Text):
            if "$" in label.get_text() and "\\$" not in label.get_text():
                assert not label.get_parse_math(), label.get_text()
        assert "$" in shown
    assert DOLLAR in [t.get_text() for t in forest.figure.axes[0].get_yticklabels()][0].replace(
        "\\$", "$")
    assert DOLLAR in strings(flow)


# ====================================================================== one drawing path
def test_model_plot_methods_use_the_figures_draw_functions(monkeypatch):
    calls = []

    def spy(name):
        real = getattr(figures, name)

        def wrapped(ax, *args, **kwargs):
            calls.append(name)
            return real(ax, *args, **kwargs)
        monkeypatch.setattr(figures, name, wrapped)

    for name in ("draw_jn", "draw_forest", "draw_missingness", "draw_km"):
        spy(name)
    ax = Figure().subplots()
    assert _jn().plot(ax=ax) is ax
    assert ek.forest_plot(_scan(), outcome="wemwbs", ax=Figure().subplots()) is not None
    assert ek.plot_missingness(_patterns().fillna(1), ax=Figure().subplots()) is not None
    km = kaplan_meier(_km_data(), duration="weeks", event="stopped", by="mode")
    assert km.plot(Figure().subplots()) is not None
    assert calls == ["draw_jn", "draw_forest", "draw_missingness", "draw_km"]


def test_model_plots_and_report_figures_draw_the_same_artists():
    jn = _jn()
    ax = jn.plot(ax=Figure().subplots())
    fig = _jn_fig(jn, label=WEMWBS, moderator_label="isolation", effect_label="effect of weeks")
    fax = fig.figure.axes[0]
    assert [t.get_text() for t in ax.texts] == [t.get_text() for t in fax.texts]
    assert len(ax.lines) == len(fax.lines) and len(ax.patches) == len(fax.patches)
    np.testing.assert_array_equal(ax.lines[0].get_xydata(), fax.lines[0].get_xydata())


def test_qq_figure_from_a_published_quantile_table():
    from evalkit.report.figures.qq import qq_table

    v = np.random.default_rng(0).exponential(size=400)
    table = qq_table(v, threshold=5)
    fig = qq_figure(table, label="Residual (points)", name="qq_table")
    check_common(fig)
    pd.testing.assert_frame_equal(fig.data, qq_figure(v, label="x", name="qq").data)
    assert fig.alt.startswith("Normal QQ plot of 79 quantiles of residual values: compared with a "
                              "normal distribution the values have a shorter lower tail and a "
                              "longer upper tail.")
    empty = qq_figure(qq_table(v[:10]), label="Residual (points)", name="qq_empty")
    assert empty.data.empty and empty.alt.startswith("Too few residual values")
    with pytest.raises(SpecificationError, match="at most 99"):
        qq_figure(pd.concat([table] * 2), label="x", name="qq")
