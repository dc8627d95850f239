"""Vectorised questionnaire scoring from the declarative instrument specs.

Scoring is right by construction: keying comes from the spec (``coding="position"``), missing items
are never counted as zero, prorating follows the instrument's rule and is flagged per row, SWEMWBS is
converted to its Rasch metric, and out-of-range or non-numeric answers are never scored.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import instruments as _registry
from ._result import Result
from .errors import (ProratedScoreWarning, SafeguardingWarning, ScoringError, SpecificationError,
                     UnknownNameError)
from .instruments.spec import Instrument, Scale

__all__ = ["score", "score_dictionary", "recode_items", "ScoredData"]

_MAX_LISTED = 10


def score(data: pd.DataFrame, instrument: str | Instrument, *, coding: str = "scored",
          items: Mapping[int, str] | None = None, missing_codes=(), on_invalid: str = "raise",
          warn: bool = True) -> pd.DataFrame:
    """Score one instrument for every row of ``data``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per questionnaire; item columns named ``<instrument>_<number>`` (or see ``items``).
    instrument : str or Instrument
        An id from :func:`evalkit.instruments.available` or a spec.
    coding : {"scored", "position"}
        ``"scored"``: items hold the score as the manual defines it (reverse-keyed items already
        reversed). ``"position"``: items hold the position of the ticked option on the printed form
        (first option = the item's minimum); reverse-keyed items are reversed here.
    items : mapping of int to str, optional
        Column name for item numbers whose column is not ``<instrument>_<number>``.
    missing_codes : sequence, optional
        Values meaning "not answered" (e.g. ``(-9, -8)``); they become missing before scoring.
    on_invalid : {"raise", "missing"}
        An answer outside its item's range, or not a number, is never scored. ``"raise"`` raises a
        :class:`~evalkit.errors.ScoringError` naming rows and items; ``"missing"`` gives those rows a
        missing score on every scale using the item and records the reason in ``<id>_invalid``.
    warn : bool, default True
        Emit :class:`~evalkit.errors.ProratedScoreWarning` when any score was prorated.

    Returns
    -------
    pandas.DataFrame
        Aligned to ``data.index``. Per scale, in the spec's order: ``<scale>`` (float; for SWEMWBS
        the Rasch metric score), ``<scale>_raw`` (raw sum, only where a conversion table exists),
        ``<scale>_band`` (ordered categorical, where the scale has bands), ``<scale>_n_answered``
        and ``<scale>_prorated``; then one nullable-boolean column per flag (e.g.
        ``epds_self_harm``); then ``<id>_invalid`` when ``on_invalid="missing"``.

    Notes
    -----
    Prorated sums are ``mean(answered items) × number of items``, unrounded, only when no more than
    the rule's ``max_missing`` items are missing and none of its ``never_impute`` items is. A scale
    with more missing items, or with no answered item, has a missing score — never 0. A band is the
    one with the largest lower bound not above the score (so non-integer scores fall in the band
    whose range they have passed into).

    Examples
    --------
    >>> import pandas as pd
    >>> import evalkit as ek
    >>> rows = pd.DataFrame({f"epds_{k}": [1, 0, None] for k in range(1, 11)})
    >>> rows.loc[2, "epds_1"] = 3
    >>> out = ek.score(rows, "epds")
    >>> out[["epds", "epds_band", "epds_n_answered", "epds_self_harm"]]
       epds            epds_band  epds_n_answered  epds_self_harm
    0  10.0  possible depression               10            True
    1   0.0      below threshold               10           False
    2   NaN                  NaN                1            <NA>
    """
    spec = _registry.get(instrument)
    if coding not in ("scored", "position"):
        raise SpecificationError(f"coding must be 'scored' or 'position', not {coding!r}")
    if on_invalid not in ("raise", "missing"):
        raise SpecificationError(f"on_invalid must be 'raise' or 'missing', not {on_invalid!r}")
    cols = _item_columns(spec, data, items)
    values, invalid, invalid_reason = _item_matrix(spec, data, cols, missing_codes)
    bad_rows = invalid.any(axis=1)
    if bad_rows.any() and on_invalid == "raise":
        raise _scoring_error(spec, data, cols, missing_codes)

    scored = values.copy()
    if coding == "position":
        for j, k in enumerate(spec.items.numbers):
            if k in spec.items.reverse:
                lo, hi = spec.items.range_of(k)
                scored[:, j] = lo + hi - scored[:, j]
    # Not-applicable answers (KPCS) carry a fixed score whatever the coding.
    na_rule = spec.items.not_applicable
    if na_rule is not None:
        for j, k in enumerate(spec.items.numbers):
            if k in na_rule.items:
                raw = pd.to_numeric(data[cols[k]], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                scored[raw == na_rule.code, j] = na_rule.score

    out: dict[str, object] = {}
    n_prorated = 0
    for scale in spec.scales:
        idx = [spec.items.numbers.index(k) for k in spec.scale_items(scale)]
        # a scale is withheld for rows with an invalid answer among its own items
        part = _score_scale(spec, scale, scored[:, idx], bad_rows=invalid[:, idx].any(axis=1))
        n_prorated += int(part[f"{scale.id}_prorated"].sum())
        out.update(part)
    for flag in spec.flags:
        j = spec.items.numbers.index(flag.item)
        v = scored[:, j]
        fl = pd.array(np.where(np.isnan(v), False, v > flag.above), dtype="boolean")
        fl[np.isnan(v)] = pd.NA
        out[flag.id] = fl
    if on_invalid == "missing":
        out[f"{spec.id}_invalid"] = invalid_reason.to_numpy(dtype=object)
    frame = pd.DataFrame(out, index=data.index)
    if warn and n_prorated:
        rule = spec.primary.missing
        warnings.warn(f"{spec.id}: {n_prorated} scale score(s) prorated from incomplete items under "
                      f"the {'official' if rule.official else 'local'} rule (at most "
                      f"{rule.max_missing} missing); see the *_prorated columns",
                      ProratedScoreWarning, stacklevel=2)
    return frame


def recode_items(data: pd.DataFrame, instrument: str | Instrument, *,
                 items: Mapping[int, str] | None = None) -> pd.DataFrame:
    """Flip reverse-keyed items between option positions and scores (the map is its own inverse).

    Returns a copy of ``data`` in which every reverse-keyed item ``k`` holds ``min_k + max_k - v``.

    Examples
    --------
    >>> import pandas as pd
    >>> positions = pd.DataFrame({f"epds_{k}": [0] for k in range(1, 11)})
    >>> recode_items(positions, "epds").iloc[0].tolist()
    [0, 0, 3, 0, 3, 3, 3, 3, 3, 3]
    """
    spec = _registry.get(instrument)
    cols = _item_columns(spec, data, items)
    out = data.copy()
    for k in spec.items.reverse:
        lo, hi = spec.items.range_of(k)
        pivot = int(lo + hi) if float(lo + hi).is_integer() else lo + hi  # keep integer columns integer
        out[cols[k]] = pivot - pd.to_numeric(out[cols[k]], errors="coerce")
    return out


def _item_columns(spec: Instrument, data: pd.DataFrame, items) -> dict[int, str]:
    items = dict(items or {})
    unknown = set(items) - set(spec.items.numbers)
    if unknown:
        raise SpecificationError(f"{spec.id} has items 1..{spec.items.n}; items= names {sorted(unknown)}")
    cols = {k: items.get(k, f"{spec.id}_{k}") for k in spec.items.numbers}
    missing = [c for c in cols.values() if c not in data.columns]
    if missing:
        raise SpecificationError(
            f"{spec.id}: item column(s) {', '.join(missing)} not in the data; name them "
            f"{spec.id}_1 … {spec.id}_{spec.items.n} or map them with items={{number: column}}")
    return cols


def _item_matrix(spec: Instrument, data: pd.DataFrame, cols: dict[int, str], missing_codes):
    """Item values as floats (missing = NaN), the invalid cells, and per row the reason."""
    n = len(data)
    values = np.full((n, spec.items.n), np.nan)
    invalid = np.zeros((n, spec.items.n), bool)
    reasons = [[] for _ in range(n)] if n else []
    codes = [float(c) for c in missing_codes]
    na_rule = spec.items.not_applicable
    any_bad = np.zeros(n, bool)
    per_item_bad = {}
    for j, k in enumerate(spec.items.numbers):
        raw = data[cols[k]]
        # copy=True: for a float64 column to_numpy() is a view, and the masks below must never
        # write into the caller's frame
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan, copy=True)
        if pd.api.types.is_numeric_dtype(raw.dtype):
            present = ~np.isnan(num)
        else:  # text: an empty or blank cell is missing, anything else must be a number
            present = raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
        if codes:
            coded = np.isin(num, codes)
            num[coded] = np.nan
            present &= ~coded
        if na_rule is not None and k in na_rule.items:
            is_na = num == na_rule.code
            num[is_na] = np.nan
            present &= ~is_na
        lo, hi = spec.items.range_of(k)
        not_number = present & np.isnan(num)
        out_of_range = present & ~np.isnan(num) & ((num < lo) | (num > hi) | (num != np.round(num)))
        bad = not_number | out_of_range
        invalid[:, j] = bad
        if bad.any():
            per_item_bad[k] = (not_number, out_of_range, raw)
            any_bad |= bad
        num[bad] = np.nan
        values[:, j] = num
    reason = pd.Series([None] * n, index=data.index, dtype=object)
    if any_bad.any():
        for k, (not_number, out_of_range, raw) in per_item_bad.items():
            lo, hi = spec.items.range_of(k)
            for i in np.flatnonzero(not_number | out_of_range):
                why = "not a number" if not_number[i] else f"outside {lo:g}–{hi:g}"
                value = raw.iloc[i]
                value = value.item() if isinstance(value, np.generic) else value
                reasons[i].append(f"item {k} = {value!r} ({why})")
        for i in np.flatnonzero(any_bad):
            reason.iloc[i] = "; ".join(reasons[i])
    return values, invalid, reason


def _score_scale(spec: Instrument, scale: Scale, x: np.ndarray, *, bad_rows: np.ndarray) -> dict:
    n_items = x.shape[1]
    answered = ~np.isnan(x)
    n_ans = answered.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.where(n_ans > 0, np.nansum(x, axis=1), np.nan)
        mean = total / n_ans
    complete = n_ans == n_items
    rule = scale.missing
    if rule.rule == "prorate":
        ok = (n_items - n_ans <= rule.max_missing) & (n_ans > 0)
        items = spec.scale_items(scale)
        for k in rule.never_impute:
            if k in items:
                ok &= answered[:, items.index(k)]
    else:
        ok = complete.copy()
    ok &= ~bad_rows
    value = mean if scale.method == "mean" else np.where(complete, total, mean * n_items)
    value = np.where(ok, value, np.nan) * scale.multiplier
    prorated = ok & ~complete
    out: dict[str, object] = {}
    if scale.conversion is not None:
        raw = value
        table = scale.conversion
        keys = np.array(sorted(table), dtype=float)
        vals = np.array([table[int(k)] for k in keys])
        pos = np.searchsorted(keys, raw)
        hit = (pos < len(keys)) & ~np.isnan(raw)
        hit[hit] = keys[pos[hit]] == raw[hit]
        value = np.full_like(raw, np.nan)
        value[hit] = vals[pos[hit]]
        out[scale.id] = value
        out[f"{scale.id}_raw"] = raw
    else:
        out[scale.id] = value
    if scale.bands:
        bands = sorted(scale.bands, key=lambda b: b.min)
        mins = np.array([b.min for b in bands])
        labels = [b.label for b in bands]
        v = out[scale.id]
        pos = np.searchsorted(mins, v, side="right") - 1
        inside = ~np.isnan(v) & (pos >= 0) & (v <= bands[-1].max + 1e-9)
        codes = np.where(inside, pos, -1)
        out[f"{scale.id}_band"] = pd.Categorical.from_codes(codes, categories=labels, ordered=True)
    out[f"{scale.id}_n_answered"] = pd.array(n_ans, dtype="Int64")
    out[f"{scale.id}_prorated"] = prorated
    return out


def _scoring_error(spec, data, cols, missing_codes) -> ScoringError:
    codes = [float(c) for c in missing_codes]
    listed, total = [], 0
    for k, col in cols.items():
        raw = data[col]
        num = pd.to_numeric(raw, errors="coerce")
        present = raw.notna() & (raw.astype(str).str.strip() != "")
        if codes:
            present &= ~num.isin(codes)
        if spec.items.not_applicable and k in spec.items.not_applicable.items:
            present &= num != spec.items.not_applicable.code
        lo, hi = spec.items.range_of(k)
        bad = present & (num.isna() | (num < lo) | (num > hi) | (num != num.round()))
        total += int(bad.sum())
        for label in raw.index[bad.to_numpy()][: _MAX_LISTED]:
            value = raw.loc[label]
            value = value.item() if isinstance(value, np.generic) else value  # -9, not np.int64(-9)
            listed.append((data.index.get_loc(label), label, col, value, lo, hi))
    listed.sort(key=lambda t: (t[0], t[2]))
    shown = "; ".join(f"row {label!r} {col}={value!r} (allowed {lo:g}–{hi:g})"
                      for _, label, col, value, lo, hi in listed[:_MAX_LISTED])
    more = f"; and {total - _MAX_LISTED} more" if total > _MAX_LISTED else ""
    return ScoringError(
        f"{spec.id}: {total} item value(s) cannot be scored (out of range or not a number): {shown}"
        f"{more}. Correct them, mark them missing (missing_codes=), or pass on_invalid='missing' to "
        f"give those rows a missing score with the reason recorded")


# ====================================================================== dictionary-driven scoring
@dataclass(frozen=True, repr=False)
class ScoredData(Result):
    """Scores for every instrument a dictionary declares, with safeguarding kept apart.

    ``.table`` is :attr:`scores`; ``.raw`` is None. The ``repr`` never shows safeguarding rows.

    Attributes
    ----------
    scores : pandas.DataFrame
        Participant id, wave and every score column (safeguarding flag columns are *not* here).
    safeguarding : pandas.DataFrame
        Restricted: ``participant_id, wave, flag, item, value, action`` for every raised
        safeguarding flag. Never put this into a report.
    instruments : tuple of str
        The instruments scored.
    skipped : dict of str to str
        Item sets in the dictionary that were not scored, with the reason (e.g. not registered).
    """

    scores: pd.DataFrame
    safeguarding: pd.DataFrame = field(repr=False)
    instruments: tuple = ()
    skipped: dict = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        """:attr:`scores`."""
        return self.scores

    @property
    def raw(self) -> None:
        return None

    def _header(self) -> list[str]:
        skipped = f"; not scored: {', '.join(self.skipped)}" if self.skipped else ""
        return [f"{', '.join(self.instruments) or 'no instrument'} scored for {len(self.scores)} "
                f"questionnaire(s){skipped}"]


def score_dictionary(data, *, dictionary, on_invalid: str = "raise") -> ScoredData:
    """Score every registered instrument whose items the data dictionary declares.

    Parameters
    ----------
    data : ValidationReport or pandas.DataFrame
        Validated data (the responses dataset is used) or a frame of typed responses.
    dictionary : DataDictionary
        Gives each instrument's item columns and coding (``scored`` or ``position``).
    on_invalid : {"raise", "missing"}
        Passed to :func:`score`.

    Returns
    -------
    ScoredData
        Emits :class:`~evalkit.errors.SafeguardingWarning` when any safeguarding flag is raised.

    Examples
    --------
    >>> import warnings
    >>> import evalkit as ek
    >>> sim = ek.simulate_cohort(n=20, seed=2)
    >>> dd = ek.DataDictionary.from_yaml(ek.example_dictionary_path())
    >>> report = ek.validate({"participants": sim.participants, "responses": sim.responses},
    ...                      dictionary=dd)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", ek.EvalkitWarning)   # prorated scores, a flag raised
    ...     scored = ek.score_dictionary(report, dictionary=dd)
    >>> scored.instruments, scored.skipped
    (('wemwbs', 'epds', 'ucla3'), {'mechanisms': ...})
    >>> scored.scores[["participant_id", "wave", "wemwbs", "epds"]].shape
    (44, 4)
    >>> list(scored.safeguarding.columns)
    ['participant_id', 'wave', 'flag', 'item', 'value', 'action']
    """
    from .validation import ValidationReport, _response_dataset

    if isinstance(data, ValidationReport):
        frame = data.data[_response_dataset(dictionary)]
    else:
        frame = data
    id_col, wave_col = dictionary.id_column, dictionary.wave_column
    keys = [c for c in (id_col, wave_col) if c in frame.columns]
    parts, flags, scored, skipped = [frame[keys].reset_index(drop=True)], [], [], {}
    for inst_id, variables in dictionary.instruments().items():
        try:
            spec = _registry.get(inst_id)
        except UnknownNameError:
            skipped[inst_id] = "not a registered instrument (programme-specific items are not scored)"
            continue
        _check_dictionary_ranges(spec, variables)
        codings = {v.coding for v in variables}
        if len(codings) > 1:
            raise SpecificationError(f"{inst_id}: items mix codings {sorted(codings)} in the dictionary; "
                                     "declare one coding for all items of an instrument")
        cols = {v.item: v.name for v in variables}
        sub = frame.reset_index(drop=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ProratedScoreWarning)
            out = score(sub, spec, coding=codings.pop() or "scored", items=cols, on_invalid=on_invalid)
        for w in caught:  # re-emit from here so the caller sees them once, with context
            warnings.warn(str(w.message), w.category, stacklevel=2)
        for fl in spec.flags:
            col = out.pop(fl.id)
            if fl.safeguarding:
                hit = col.fillna(False).to_numpy(bool)
                if hit.any():
                    flags.append(pd.DataFrame({
                        id_col: sub.loc[hit, id_col].to_numpy(),
                        wave_col: sub.loc[hit, wave_col].astype(object).to_numpy() if wave_col in sub else None,
                        "flag": fl.id, "item": cols[fl.item],
                        "value": sub.loc[hit, cols[fl.item]].to_numpy(), "action": fl.action}))
            else:
                out[fl.id] = col
        parts.append(out)
        scored.append(inst_id)
    scores = pd.concat(parts, axis=1)
    safeguarding = (pd.concat(flags, ignore_index=True) if flags else
                    pd.DataFrame(columns=[id_col, wave_col, "flag", "item", "value", "action"]))
    if len(safeguarding):
        warnings.warn(f"{len(safeguarding)} safeguarding flag(s) raised "
                      f"({', '.join(sorted(safeguarding['flag'].unique()))}); act on them under the "
                      f"programme's safeguarding procedure. They are kept out of scores and reports.",
                      SafeguardingWarning, stacklevel=2)
    return ScoredData(scores=scores, safeguarding=safeguarding, instruments=tuple(scored),
                      skipped=skipped)


def _check_dictionary_ranges(spec: Instrument, variables) -> None:
    """The dictionary's declared item range must be the instrument's: a 0–4 coded WEMWBS is wrong."""
    wrong = []
    for v in variables:
        if v.item not in spec.items.numbers:
            wrong.append(f"{v.name} (no item {v.item}; {spec.id} has items 1..{spec.items.n})")
            continue
        lo, hi = spec.items.range_of(v.item)
        if v.range is not None and (v.range[0], v.range[1]) != (lo, hi):
            wrong.append(f"{v.name} declared [{v.range[0]:g}, {v.range[1]:g}], {spec.id} item "
                         f"{v.item} is scored {lo:g}–{hi:g}")
    if wrong:
        raise SpecificationError(f"{spec.id}: the data dictionary disagrees with the instrument: "
                                 + "; ".join(wrong) + ". Recode the items or correct the dictionary")
