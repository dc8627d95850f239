"""evalkit.report.figures: alt texts carry the numbers, suppressed groups are text only (never a
point, bar or line, and their numbers never reach the exported table), PNGs are byte-identical on
rerun, and no pyplot figure is left open."""

from __future__ import annotations

import base64
import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.patches import Rectangle
from matplotlib.text import Text

import evalkit as ek
from evalkit.errors import SpecificationError, UnknownNameError
from evalkit.models.moderation import JohnsonNeyman, johnson_neyman
from evalkit.models.survival import kaplan_meier
from evalkit.report.figures import (OKABE_ITO, PALETTE, WIDTH, ReportFigure, flow_figure,
                                    forest_figure, jn_figure, km_figure, missingness_figure,
                                    qq_figure, reliable_change_figure, trajectory_figure)

matplotlib.use("Agg")
WEMWBS = "WEMWBS (14–70, higher = better)"
SUPP = "suppressed (n < 5)"


@pytest.fixture(autouse=True)
def no_pyplot_leaks():
    assert plt.get_fignums() == []
    yield
    assert plt.get_fignums() == []


def texts(fig) -> list[Text]:
    return [t for t in fig.figure.findobj(Text) if t.get_visible() and t.get_text()]


def strings(fig) -> list[str]:
    return [t.get_text() for t in texts(fig)]


def check_common(fig: ReportFigure):
    """Every figure: A4 width, base font >= 9 pt, a caption, alt text with numbers in it."""
    w, _ = fig.figure.get_size_inches()
    assert w == pytest.approx(WIDTH)
    small = [(t.get_text(), t.get_fontsize()) for t in texts(fig) if t.get_fontsize() < 9]
    assert small == []
    assert fig.caption
    assert re.search(r"\d", fig.alt)
    assert fig.alt.endswith(".")


# ====================================================================== ReportFigure
def _qq():
    return qq_figure(np.linspace(-2, 2, 9) ** 3, label="Residual (WEMWBS points)", name="qq_demo")


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
    assert list(back.columns) == ["theoretical", "sample", "reference"]
    np.testing.assert_allclose(back["sample"], a.data["sample"])


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


# ====================================================================== forest
def _scan():
    return pd.DataFrame({
        "outcome": "wemwbs",
        "context": ["delivery_mode"] * 3 + ["site"] * 4,
        "level": ["one_to_one", "group", "both", "north", "east", "south", "west"],
        # "both" was withheld by disclosure control; "west" has 3 mothers but nobody marked it,
        # and its estimate leaked through: the figure must hide it anyway
        "n_participants": [120, 90, np.nan, 60, 55, 7, 3],
        "status": ["estimated", "estimated", "withheld", "estimated", "estimated",
                   "too small (n < 10)", "estimated"],
        "estimate": [6.1, 2.6, np.nan, 4.4, 3.9, np.nan, 9.87],
        "ci_low": [4.0, 0.5, np.nan, 2.2, 1.7, np.nan, 1.23],
        "ci_high": [8.2, 4.7, np.nan, 6.6, 6.1, np.nan, 18.51],
        "heterogeneity_p_adjusted": [0.012] * 3 + [0.4] * 4,
    })


def _row_y(fig, ax, text):
    """y (data units) of the Text whose string is ``text`` within axes ``ax``."""
    ys = [t.get_position()[1] for t in ax.texts if t.get_text() == text]
    assert ys, f"no text {text!r}"
    return ys


def test_forest_suppressed_levels_are_text_only():
    fig = forest_figure(_scan(), outcome="wemwbs", label=WEMWBS, reference=4.6)
    check_common(fig)
    d = fig.data
    assert d["level"].tolist() == ["one_to_one", "group", "both", "north", "east", "south", "west"]
    hidden = d.loc[d["level"].isin(["both", "west"])]
    assert (hidden["status"] == SUPP).all()
    assert hidden[["n_participants", "estimate", "ci_low", "ci_high"]].isna().all().all()
    assert d["drawn"].tolist() == [True, True, False, True, True, False, False]
    assert d.loc[d["level"] == "south", "n_participants"].item() == 7   # too small, not disclosive

    label_ax, plot_ax, text_ax = fig.figure.axes
    supp_y = _row_y(fig, plot_ax, SUPP)
    assert len(supp_y) == 2
    drawn_y = {float(y) for line in plot_ax.lines for y in np.atleast_1d(line.get_ydata())
               if line.get_marker() not in (None, "None", "")}
    assert len(drawn_y) == 4
    assert not drawn_y & set(supp_y)
    assert _row_y(fig, plot_ax, "too small (n < 10)")
    # n is printed for every visible level, "suppressed" for hidden ones; leaked numbers nowhere
    right = [t.get_text() for t in text_ax.texts]
    assert right.count("suppressed") == 2
    assert {"120", "90", "60", "55", "7"} <= set(right)
    everything = " ".join(strings(fig)) + fig.alt + fig.data.to_csv()
    assert "9.87" not in everything and "9.9" not in everything and "18.5" not in everything


def test_forest_alt_states_largest_smallest_and_suppression():
    fig = forest_figure(_scan(), outcome="wemwbs", label=WEMWBS, reference=4.6)
    assert fig.alt.startswith("Change in WEMWBS was largest for delivery_mode one_to_one "
                              "(+6.1 points, 95% CI 4.0 to 8.2) and smallest for delivery_mode "
                              "group (+2.6 points, 95% CI 0.5 to 4.7).")
    assert "Overall change was +4.6 points." in fig.alt
    assert "Change differed by delivery_mode (adjusted p = 0.012)." in fig.alt
    assert "2 groups suppressed because they had fewer than 5 mothers." in fig.alt
    assert "1 level not estimated: site south, too small (n < 10)." in fig.alt
    assert fig.name == "forest_wemwbs"


def test_forest_threshold_and_outcome_filter():
    scan = pd.concat([_scan(), _scan().assign(outcome="epds")], ignore_index=True)
    fig = forest_figure(scan, outcome="epds", label="EPDS (0–30)", threshold=10)
    assert len(fig.data) == 7
    # with threshold 10 the 7-mother level is hidden as well
    assert (fig.data["status"] == "suppressed (n < 10)").sum() == 3
    assert "3 groups suppressed because they had fewer than 10 mothers." in fig.alt
    with pytest.raises(UnknownNameError, match=r"'phq9' is not in the scan; it has \['wemwbs', 'epds'\]"):
        forest_figure(scan, outcome="phq9", label="PHQ-9")
    with pytest.raises(UnknownNameError, match="lacks column"):
        forest_figure(_scan().drop(columns="status"), outcome="wemwbs", label=WEMWBS)
    with pytest.raises(SpecificationError, match="threshold"):
        forest_figure(_scan(), outcome="wemwbs", label=WEMWBS, threshold=0)


# ====================================================================== trajectories
def _long(seed=1):
    rng = np.random.default_rng(seed)
    sizes = {"one_to_one": 40, "group": 30, "online": 3}
    rows = []
    pid = 0
    for g, n in sizes.items():
        for _ in range(n):
            base = rng.normal(42, 6)
            for w in (0.0, 6.0, 12.0):
                rows.append({"participant_id": f"P{pid:03d}", "weeks": w, "delivery_mode": g,
                             "wemwbs": base + 0.4 * w + rng.normal(0, 3)})
            pid += 1
    d = pd.DataFrame(rows)
    d.loc[d.index % 7 == 3, "wemwbs"] = np.nan     # some missed waves
    return d


def _means():
    rows = []
    for g, slope in (("one_to_one", 0.5), ("group", 0.25), ("online", 0.9)):
        for w in (0, 6, 12):
            e = 42 + slope * w
            rows.append({"delivery_mode": g, "weeks": w, "estimate": e, "ci_low": e - 1.5,
                         "ci_high": e + 1.5})
    return pd.DataFrame(rows)


def test_trajectory_facets_sample_individuals_and_hide_small_groups():
    data = _long()
    fig = trajectory_figure(data, _means(), outcome="wemwbs", label=WEMWBS, group="delivery_mode",
                            max_individuals=25, seed=3)
    check_common(fig)
    axes = [ax for ax in fig.figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["one_to_one (n = 40)", "group (n = 30)", "online"]
    segs = [sum(len(c.get_segments()) for c in ax.collections if isinstance(c, LineCollection))
            for ax in axes]
    assert segs == [25, 25, 0]
    # the 3-mother group: no mean line, no band, no individual lines; a "suppressed" label
    online = axes[2]
    assert len(online.lines) == 0 and len(online.collections) == 0
    assert [t.get_text() for t in online.texts] == [SUPP]
    d = fig.data
    assert list(d.columns) == ["group", "time", "estimate", "ci_low", "ci_high", "n_participants",
                               "n_individuals_drawn", "status"]
    assert d.loc[d["group"] == "online", ["estimate", "n_participants"]].isna().all().all()
    assert d.loc[d["group"] == "one_to_one", "n_individuals_drawn"].eq(25).all()
    assert "No model means" not in fig.caption
    assert not any(c.startswith("participant") for c in d.columns)
    assert ("Model-estimated mean WEMWBS: for one_to_one it went from 42.0 (95% CI 40.5 to 43.5) "
            "at week 0 to 48.0 (95% CI 46.5 to 49.5) at week 12") in fig.alt
    assert "a random sample of 50 of 70 mothers" in fig.alt
    assert "1 group suppressed because it had fewer than 5 mothers." in fig.alt


def test_trajectory_sample_is_seeded_and_deterministic():
    data = _long()
    kw = dict(outcome="wemwbs", label=WEMWBS, group="delivery_mode", max_individuals=10)

    def segments(fig):
        return [np.vstack(c.get_segments()) for ax in fig.figure.axes for c in ax.collections
                if isinstance(c, LineCollection)]

    a = trajectory_figure(data, _means(), seed=1, **kw)
    b = trajectory_figure(data.sample(frac=1, random_state=0), _means(), seed=1, **kw)
    c = trajectory_figure(data, _means(), seed=2, **kw)
    for x, y in zip(segments(a), segments(b)):
        np.testing.assert_array_equal(x, y)       # row order of the input does not matter
    assert any(x.shape != y.shape or not np.array_equal(x, y)
               for x, y in zip(segments(a), segments(c)))
    assert a.to_png(dpi=60) == b.to_png(dpi=60)


def test_trajectory_public_version_has_no_individuals_and_names_suppressed_group():
    means = _means()
    means["status"] = np.where(means["delivery_mode"] == "online", "withheld", "estimated")
    fig = trajectory_figure(None, means, outcome="wemwbs", label=WEMWBS, group="delivery_mode",
                            individuals=False)
    check_common(fig)
    ax = fig.figure.axes[0]
    assert not [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(ax.lines) == 2                      # two means, nothing for "online"
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    assert any("online — suppressed (n < 5)" in s for s in strings(fig))
    assert "Faint lines" not in fig.alt
    assert fig.alt.endswith("1 group suppressed because it had fewer than 5 mothers.")


def test_trajectory_names_groups_without_means():
    means = _means().loc[lambda m: m["delivery_mode"] != "group"]
    fig = trajectory_figure(_long(), means, outcome="wemwbs", label=WEMWBS, group="delivery_mode")
    assert "No model means for group, so not drawn." in fig.caption
    assert set(fig.data["group"]) == {"one_to_one", "online"}


def test_trajectory_input_errors():
    with pytest.raises(SpecificationError, match="several rows per 'weeks'"):
        trajectory_figure(None, _means(), outcome="wemwbs", label=WEMWBS, individuals=False)
    with pytest.raises(UnknownNameError, match="means lacks column"):
        trajectory_figure(None, _means().drop(columns="ci_low"), outcome="wemwbs", label=WEMWBS,
                          group="delivery_mode", individuals=False)
    with pytest.raises(SpecificationError, match="individuals=True needs"):
        trajectory_figure(None, _means(), outcome="wemwbs", label=WEMWBS, group="delivery_mode")


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


def test_jn_two_regions():
    # CI excludes 0 below 3.33 and above 6.67
    fig = jn_figure(_jn(), label=WEMWBS, moderator_label="Isolation (0–10)",
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


def test_jn_none_and_whole_range():
    none = jn_figure(_jn(slope=0.0, ci_shift=-6.0), label=WEMWBS, moderator_label="Isolation")
    assert none.alt.startswith("The effect of weeks on WEMWBS was not distinguishable from 0 (95% "
                               "CI includes 0) anywhere in the observed range of isolation "
                               "(0.00 to 10.00).")
    whole = jn_figure(_jn(slope=0.0), label=WEMWBS, moderator_label="Isolation")
    assert "for isolation across the whole observed range (0.00 to 10.00)." in whole.alt


def test_jn_from_a_real_fit():
    rng = np.random.default_rng(4)
    n = 60
    ids = np.repeat(np.arange(n), 3)
    weeks = np.tile([0.0, 6.0, 12.0], n)
    iso = rng.uniform(0, 10, n)[ids]
    y = 40 + rng.normal(0, 5, n)[ids] + (0.6 - 0.08 * iso) * weeks + rng.normal(0, 3, 3 * n)
    d = pd.DataFrame({"id": ids, "weeks": weeks, "isolation": iso, "wemwbs": y})
    fit = ek.fit_mixed(d, outcome="wemwbs", fixed="weeks * isolation", subject="id", random="1")
    jn = johnson_neyman(fit, effect="weeks", moderator="isolation", change=(0, 12), n_points=101)
    inside = jn.bounds.loc[jn.bounds["inside_data"], "moderator_value"]
    assert len(inside) == 1
    fig = jn_figure(jn, label=WEMWBS, moderator_label="Isolation (0–10)")
    assert f"for isolation below {inside.iat[0]:.2f}; elsewhere the CI includes 0." in fig.alt
    assert f"{inside.iat[0]:.2f}" in strings(fig)
    assert len(fig.data) == 101 + len(jn.bounds)
    with pytest.raises(SpecificationError, match="johnson_neyman"):
        jn_figure(fit, label=WEMWBS, moderator_label="Isolation")


# ====================================================================== reliable change
def _rc_summary():
    before = [16, 16, 12, 15, 18, 20, 14, 17, 19, 13, 16, 22, 15, 18, 14]
    after = [12, 19, 16, 10, 13, 15, 14, 12, 18, 9, 11, 16, 15, 10, 18]
    group = ["a"] * 6 + ["b"] * 6 + ["c"] * 3
    res = ek.reliable_change(before, after, instrument="epds")
    return ek.change_summary(res, group=group)


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
    assert (c["status"] == SUPP).all()

    ref = s.set_index(["group", "outcome"])
    imp, det = ref.loc[("all", "reliable_improvement")], ref.loc[("all", "reliable_deterioration")]
    assert imp["n"] == 15
    expected = (f"Of all 15 mothers with both scores, {100 * imp.proportion:.0f}% (95% CI "
                f"{100 * imp.ci_low:.0f}% to {100 * imp.ci_high:.0f}%) reliably improved on EPDS and "
                f"{100 * det.proportion:.0f}% (95% CI {100 * det.ci_low:.0f}% to "
                f"{100 * det.ci_high:.0f}%) reliably deteriorated")
    assert fig.alt.startswith(expected)
    assert expected.startswith("Of all 15 mothers with both scores, 60% (95% CI 36% to 80%)")
    assert "1 group suppressed because it had fewer than 5 mothers." in fig.alt

    ax = fig.figure.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    centres = sorted({round(p.get_y() + p.get_height() / 2, 6) for p in bars})
    assert centres == [0.0, 1.0, 2.0]              # nothing at y = 3 (group c)
    assert any(t.get_text() == SUPP and t.get_position()[1] == 3 for t in ax.texts)
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
    a = fig.data.loc[fig.data["group"] == "a"]
    assert (a["status"] == "suppressed (a count below 5)").all()
    assert a[["count", "proportion"]].isna().all().all()
    assert (a["n"] == 6).all()
    assert "1 group suppressed because a count was below 5." in fig.alt
    assert any(t == "suppressed (a count below 5)" for t in strings(fig))
    with pytest.raises(SpecificationError, match="change_summary"):
        reliable_change_figure(s.assign(outcome="recovered"), label="EPDS")


# ====================================================================== Kaplan–Meier
def _km_data():
    w = [2, 3, 3, 5, 8, 8, 9, 12, 12, 12, 1, 2, 4, 4, 6, 7, 9, 10, 12, 12, 3, 5, 12]
    e = [1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0]
    g = ["a"] * 10 + ["b"] * 10 + ["c"] * 3
    return pd.DataFrame({"weeks": w, "stopped": e, "mode": g})


def test_km_withheld_small_group_and_risk_table():
    km = kaplan_meier(_km_data(), duration="weeks", event="stopped", by="mode")
    times = [0, 4, 8, 12]
    risk = km.risk_table(times, suppress_below=5)
    fig = km_figure(km, risk, label="Proportion still engaged", times=times)
    check_common(fig)
    main, table_ax = fig.figure.axes
    steps = [ln for ln in main.lines if len(ln.get_xdata()) > 2]
    assert len(steps) == 2                          # a and b; c (3 mothers) not drawn
    cells = [t.get_text() for t in table_ax.texts]
    at_risk_a = risk.loc[risk["group"] == "a", "at_risk"]
    # a's durations >= 0, 4, 8, 12: 10, 7, 6 and 3 (hidden)
    assert ["10", "7", "6", "<5"] == ["<5" if np.isnan(v) else f"{v:.0f}" for v in at_risk_a]
    assert cells.count("<5") == int(risk.loc[risk["group"].isin(["a", "b"]), "at_risk"].isna().sum())
    assert SUPP in cells
    assert any(s.startswith("Not shown: c — suppressed") for s in strings(fig))
    assert "c" not in set(fig.data["group"])
    assert set(fig.data["kind"]) == {"curve", "risk"}
    assert fig.data.loc[fig.data["kind"] == "curve", "at_risk"].isna().all()
    s12 = km.survival_at(12).set_index("group")
    for g in ("a", "b"):
        r = s12.loc[g]
        assert (f"{100 * r.survival:.0f}% (95% CI {100 * r.ci_low:.0f}% to {100 * r.ci_high:.0f}%) "
                f"for {g}") in fig.alt
    assert "Not shown: c (fewer than 5 mothers, suppressed)." in fig.alt


def test_km_explicit_withheld_and_errors():
    d = _km_data()
    d.loc[d["mode"] == "c", "mode"] = "a"
    km = kaplan_meier(d, duration="weeks", event="stopped", by="mode")
    risk = km.risk_table([0, 6, 12], suppress_below=5)
    fig = km_figure(km, risk, label="Proportion still engaged", times=[0, 6, 12], withheld=["b"])
    assert set(fig.data["group"]) == {"a"}
    assert len([ln for ln in fig.figure.axes[0].lines if len(ln.get_xdata()) > 2]) == 1
    with pytest.raises(UnknownNameError, match="withheld group"):
        km_figure(km, risk, label="x", times=[0, 6], withheld=["z"])
    with pytest.raises(SpecificationError, match="kaplan_meier"):
        km_figure(risk, risk, label="x", times=[0])


# ====================================================================== missingness
def _patterns():
    return pd.DataFrame({"pattern": ["XXX", "XX.", "X..", "X.X", ".X."],
                         "baseline": [True, True, True, True, False],
                         "mid": [True, True, False, False, True],
                         "end": [True, False, False, True, False],
                         "n_participants": [60, 25, 12, np.nan, 3],
                         "percent": [58.3, 24.3, 11.7, np.nan, 2.9]})


def test_missingness_alt_and_suppression():
    fig = missingness_figure(_patterns(), label="WEMWBS")
    check_common(fig)
    assert fig.alt == ("WEMWBS completion by wave: the most common pattern was all 3 waves (60 "
                       "mothers, 58%). 58% completed all 3 waves and 12% baseline only. 2 patterns "
                       "suppressed because they had fewer than 5 mothers.")
    d = fig.data
    assert d.loc[d["pattern"] == ".X.", ["n_participants", "percent"]].isna().all().all()
    assert (d["status"] == "shown").sum() == 3
    bar_ax = fig.figure.axes[1]
    assert len([p for p in bar_ax.patches if isinstance(p, Rectangle)]) == 3
    assert [t.get_text() for t in bar_ax.texts].count("suppressed") == 2
    assert "60 (58%)" in strings(fig)
    assert "3 (3%)" not in strings(fig)


def test_missingness_needs_boolean_waves():
    bad = _patterns().assign(end=[1, 0, 0, 1, 0])
    with pytest.raises(SpecificationError, match=r"not boolean: \['end'\]"):
        missingness_figure(bad, label="WEMWBS")


# ====================================================================== flow
def test_flow_boxes_and_suppressed_stage():
    flow = pd.DataFrame({"stage": ["referred", "started", "completed end", "completed follow-up"],
                         "n": [200, 150, 96, 3], "percent_of_referred": [100, 75.0, 48.0, 1.5],
                         "note": ["", "50 declined", "54 lost to follow-up", None]})
    fig = flow_figure(flow)
    check_common(fig)
    s = strings(fig)
    assert "n = 150 (75% of referred)" in s
    assert "n suppressed (< 5)" in s
    assert "50 declined" in s
    assert not any("1.5" in t or "n = 3" in t for t in s)
    d = fig.data
    assert np.isnan(d["n"].iat[3]) and np.isnan(d["percent_of_referred"].iat[3])
    assert fig.alt == ("Participant flow: of 200 mothers referred, 96 (48%) reached completed end, "
                       "the last stage with a count shown. Stages: referred 200; started 150 (75%); "
                       "completed end 96 (48%); completed follow-up suppressed (fewer than 5).")
    boxes = [p for p in fig.figure.axes[0].patches if type(p).__name__ == "FancyBboxPatch"]
    assert len(boxes) == 4


# ====================================================================== QQ
def test_qq_matches_r_ppoints_and_qqline():
    fig = qq_figure([5, 1, 4, 2, 3, np.nan], label="Random intercept (points)", name="qq_re")
    check_common(fig)
    # R: qnorm(ppoints(5)); qqline(1:5) has intercept 3 and slope 2 / (2 * qnorm(0.75))
    np.testing.assert_allclose(fig.data["theoretical"],
                               [-1.1797611, -0.4972006, 0.0, 0.4972006, 1.1797611], atol=1e-7)
    np.testing.assert_array_equal(fig.data["sample"], [1, 2, 3, 4, 5])
    slope = 2 / (2 * 0.6744897501960817)
    np.testing.assert_allclose(fig.data["reference"], 3 + slope * fig.data["theoretical"])
    assert "1 missing value(s) left out." in fig.caption
    assert fig.alt.startswith("Normal QQ plot of 5 random intercept values: ")


def test_qq_describes_skew():
    v = np.random.default_rng(0).exponential(size=400)
    fig = qq_figure(v, label="Residual (points)", name="qq_skew")
    assert "right-skewed (long upper tail)" in fig.alt
    assert re.search(r"skewness 2\.\d\d", fig.alt)       # 2 for the exponential
    with pytest.raises(SpecificationError, match="at least 3"):
        qq_figure([1.0, np.nan, 2.0], label="x", name="qq")
