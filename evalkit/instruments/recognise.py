"""Recognise questionnaire item sets in a user's columns, with the evidence for each guess.

Forms name items however their designer chose: ``Q1_EPDS``, ``epds q2``, ``WEMWBS-1``,
``wemwbs_01``, ``phq9_3``. A column is read as item *k* of an instrument when, ignoring case and
every character that is not a letter or digit, it is the instrument's id (or, for ids ending in their
item count such as ``phq9``, the id without it) with the item number, optionally after ``q`` or
``item``, directly before or after it. The values (observed, or declared by a REDCap form) are then
compared with the instrument's item range. Nothing is accepted silently: every recognised set
carries its evidence, and what does not fit (items missing, values outside the range, an ambiguous
short name) is a question for the user.

Examples
--------
>>> from evalkit.instruments.recognise import item_of, recognise
>>> item_of("Q1_EPDS"), item_of("epds q2"), item_of("WEMWBS-1"), item_of("wemwbs_01")
(('epds', 1), ('epds', 2), ('wemwbs', 1), ('wemwbs', 1))
>>> item_of("epds_total") is None
True
>>> found = recognise({f"EPDS-{k}": (0, 3) for k in range(1, 11)})
>>> found[0].instrument, found[0].confident, found[0].range
('epds', True, (0.0, 3.0))
>>> print(found[0].evidence)
10 columns named like EPDS items 1–10 (EPDS-1 … EPDS-10), all 10 items present; values 0–3 lie within the item range 0–3
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import registry

__all__ = ["item_of", "recognise", "Recognised"]

_NUMBER = re.compile(r"(?:q|item|i|no)?0*(\d{1,2})")


def _compact(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _keys() -> list[tuple[str, tuple[str, ...]]]:
    """Name stems and the instruments each may mean, longest stem first (swemwbs before wemwbs)."""
    stems: dict[str, list[str]] = {}
    for inst in registry.available():
        full = _compact(inst)
        stems.setdefault(full, []).append(inst)
        short = re.sub(r"\d+$", "", full)
        if short != full and len(short) >= 3:   # phq9 -> phq, gad7 -> gad (phq_3, gad-1 …)
            stems.setdefault(short, []).append(inst)
    return sorted(((k, tuple(v)) for k, v in stems.items()), key=lambda kv: -len(kv[0]))


def _parse(name: str) -> tuple[tuple[str, ...], int] | None:
    text = _compact(name)
    for stem, insts in _keys():
        at = text.find(stem)
        if at < 0:
            continue
        before, after = text[:at], text[at + len(stem):]
        number = (_NUMBER.fullmatch(after) if not before else
                  _NUMBER.fullmatch(before) if not after else None)
        if number is not None and int(number.group(1)) > 0:
            return insts, int(number.group(1))
        # no item number beside this stem: a shorter one may fit (phq_2 is "phq" + 2, not the
        # id phq2); none does for the stem with other words (epds_total, epds_date)
    return None


def item_of(name: str) -> tuple[str, int] | None:
    """``(instrument, item number)`` if ``name`` reads as one item's column, else None.

    A short stem that could mean two instruments (``phq_1``: PHQ-9 or PHQ-2) gives the longer one;
    :func:`recognise` decides from the number of items found.
    """
    hit = _parse(name)
    if hit is None:
        return None
    insts, k = hit
    return max(insts, key=lambda i: registry.get(i).items.n), k


@dataclass
class Recognised:
    """An item set found among the columns: which column is each item, and why it is believed."""

    instrument: str
    columns: dict[int, str]             # item number -> the column holding it
    range: tuple[float, float] | None   # the values seen (or declared), None if unknown
    item_range: tuple[float, float]     # what the instrument's items score
    evidence: str
    questions: list[str] = field(default_factory=list)

    @property
    def confident(self) -> bool:
        """Every item present and the values within the item range: nothing left to ask."""
        return not self.questions


def _fmt(x: float) -> str:
    return f"{x:g}"


def recognise(columns: Mapping[str, tuple[float, float] | None]) -> list[Recognised]:
    """Item sets among ``columns`` (column name -> its value range, or None when unknown).

    Returns
    -------
    list of Recognised
        One per instrument found, in the order of the instruments' first columns.
    """
    groups: dict[tuple[str, ...], dict[int, list[str]]] = {}
    for name in columns:
        hit = _parse(name)
        if hit is not None:
            groups.setdefault(hit[0], {}).setdefault(hit[1], []).append(name)
    out = []
    for insts, items in groups.items():
        # a short stem (phq_1 …) means the instrument whose item count fits what was found
        inst = next((i for i in insts if registry.get(i).items.n == max(items)),
                    max(insts, key=lambda i: registry.get(i).items.n))
        spec = registry.get(inst).items
        questions = []
        twice = {k: names for k, names in items.items() if len(names) > 1}
        for k, names in twice.items():
            questions.append(f"{', '.join(names)} all look like {inst} item {k}: which one is it? "
                             "(the others are left out of the item set)")
        chosen = {k: names[0] for k, names in sorted(items.items()) if k <= spec.n}
        beyond = sorted(k for k in items if k > spec.n)
        if beyond:
            questions.append(f"{', '.join(items[k][0] for k in beyond)} look like {inst} item(s) "
                             f"{beyond}, but {inst} has {spec.n} items: what are they?")
        absent = [k for k in range(1, spec.n + 1) if k not in chosen]
        if absent:
            questions.append(f"{inst} item(s) {absent} were not found: are they named otherwise "
                             "(give them under `names`) or not collected (then the score cannot be "
                             "computed as the instrument defines it)?")
        seen = [columns[c] for c in chosen.values() if columns[c] is not None]
        lo_hi = (float(min(r[0] for r in seen)), float(max(r[1] for r in seen))) if seen else None
        item_range = (float(spec.min), float(spec.max))
        ks = list(chosen)
        first, last = chosen[ks[0]], chosen[ks[-1]]
        names = f"{first} … {last}" if len(ks) > 2 else ", ".join(chosen.values())
        span = f"{ks[0]}–{ks[-1]}" if len(ks) > 1 else f"{ks[0]}"
        evidence = (f"{len(ks)} column{'s' if len(ks) != 1 else ''} named like {inst.upper()} "
                    f"item{'s' if len(ks) != 1 else ''} {span} ({names})"
                    + (f", all {spec.n} items present" if not absent else ""))
        if lo_hi is None:
            evidence += "; no values to compare with the item range"
            questions.append(f"{inst}: no values were seen, so the coding (item range "
                             f"{_fmt(spec.min)}–{_fmt(spec.max)}) could not be checked")
        elif item_range[0] <= lo_hi[0] and lo_hi[1] <= item_range[1]:
            evidence += (f"; values {_fmt(lo_hi[0])}–{_fmt(lo_hi[1])} lie within the item range "
                         f"{_fmt(spec.min)}–{_fmt(spec.max)}")
        else:
            evidence += (f"; but values {_fmt(lo_hi[0])}–{_fmt(lo_hi[1])} fall outside the item "
                         f"range {_fmt(spec.min)}–{_fmt(spec.max)}")
            questions.append(f"{inst} items hold {_fmt(lo_hi[0])}–{_fmt(lo_hi[1])}, but the "
                             f"instrument scores them {_fmt(spec.min)}–{_fmt(spec.max)}: recode them "
                             "(or correct the range) before scoring")
        out.append(Recognised(instrument=inst, columns=chosen, range=lo_hi, item_range=item_range,
                              evidence=evidence, questions=questions))
    return out
