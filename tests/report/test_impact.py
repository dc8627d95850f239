"""The impact report speaks to a funder (issue 13): main points first, labels not variable names,
intervals in words, no p-values, no Python names, warnings as plain limitations."""

from __future__ import annotations

import html
import re

import pytest

import evalkit as ek
from evalkit.report import impact
from evalkit.report.narrative import likely_range, moved

# what must never reach a funder's page
_CLASS = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z0-9]*)*(?:Warning|Error|Exception)\b|\bDataFrame\b")
_SCI = re.compile(r"\b\d+(?:\.\d+)?[eE][+-]?\d+\b")
_MISSING = re.compile(r"\b(?:nan|NaN|None|NaT|<NA>|inf)\b")
_P = re.compile(r"(?<![\w-])p\s*(?:=|<|>|≤|≥|&lt;|&gt;)\s*\d|\bp[- ]values?\b|\badjusted p\b|"
                r"\bp\s*\(adj", re.IGNORECASE)


def visible_text(page: str) -> str:
    """What a reader sees or hears: text outside tags, scripts and styles, and image alt text."""
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S | re.I)
    alts = " ".join(re.findall(r'\balt="([^"]*)"', page))
    text = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(text + " " + alts)


def raw_names() -> set[str]:
    """Variable names a reader would not know: any name with an underscore, and instrument ids."""
    dd = ek.DataDictionary.from_yaml(ek.example_dictionary_path())
    names = {v.name for v in dd.variables() if "_" in v.name}
    names |= {v.instrument for v in dd.variables() if getattr(v, "instrument", None)}
    return names


def problems(text: str, names: set[str]) -> list[str]:
    found = [f"variable name {n!r}" for n in sorted(names) if re.search(rf"\b{re.escape(n)}\b", text)]
    found += [f"Python name {m!r}" for m in _CLASS.findall(text)]
    found += [f"scientific notation {m!r}" for m in _SCI.findall(text)]
    found += [f"missing value {m!r}" for m in _MISSING.findall(text)]
    found += [f"p-value {m!r}" for m in _P.findall(text)]
    return found


def test_the_scanner_finds_each_kind_of_problem():
    # the acceptance scan must be able to fail
    bad = ("Change by delivery_mode was 3.8e-09 (adjusted p = 0.000); SafeguardingWarning; nan; "
           "wemwbs rose; p < 0.001")
    found = problems(bad, raw_names())
    kinds = {f.split(" ")[0] for f in found}
    assert {"variable", "Python", "scientific", "missing", "p-value"} <= kinds, found
    assert problems("Mental wellbeing (WEMWBS) rose by 4.3 points; Group: a rise of 1.8 points.",
                    raw_names()) == []


@pytest.fixture(scope="module")
def impact_page(small_run):
    folder, result = small_run
    return (result.out / "impact.html").read_text(encoding="utf-8")


def test_impact_report_has_no_variable_names_class_names_p_values_or_nan(impact_page):
    text = visible_text(impact_page)
    assert problems(text, raw_names()) == []


def test_main_points_come_first_and_answer_a_funders_questions(impact_page):
    text = visible_text(impact_page)
    first = text.index("Main points")
    # the main points come before any table
    assert first < text.index("Participant flow (numbers of mothers)")
    for title in ("Who we reached.", "Who stayed.", "What changed.", "Who got worse.",
                  "What we cannot tell."):
        assert title in text[first:text.index("Who took part", first)], title
    main = text[first:text.index("Who took part", first)]
    assert re.search(r"\d[\d,]* mothers were referred and \d[\d,]* \(\d+%\) started support", main)
    assert "rose by" in main or "fell by" in main
    assert "allowing for chance" in main
    assert "reliably got worse" in main
    assert "no comparison group" in main
    # one summary figure on the first page
    head = impact_page[impact_page.index('id="main-points"'):impact_page.index('id="flow"')]
    assert head.count("<img") == 1
    assert 'href="technical.html"' in impact_page


def test_flow_in_plain_words_with_how_support_ended(impact_page):
    text = visible_text(impact_page)
    assert "answered questionnaires at end of support" in text
    assert "How support ended" in text and "Completed planned support" in text
    assert "returned a questionnaire" not in text and "follow_up" not in text
    # the mode of support of a mother who did not start is "did not start", not "missing"
    assert "did not start" in text
    assert "(blank if she did not start)" not in text


def test_limitations_are_plain_words():
    assert impact.plain_warning("ProratedScoreWarning", "x").startswith("Some questionnaires")
    assert impact.plain_warning("SafeguardingWarning", "x") is None
    assert impact.plain_warning("SomethingNewWarning", "x") == ""


def test_intervals_in_words():
    assert likely_range(3.0, 5.6) == "between 3.0 and 5.6 points higher"
    assert likely_range(-0.82, 4.34) == "anywhere from 0.8 points lower to 4.3 points higher"
    assert moved(1.76) == "a rise of 1.8 points" and moved(-0.01) == "no change"
