"""The longitudinal analysis frame: one row per participant × wave, context joined."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ._compat import renamed
from .dictionary import DataDictionary
from .errors import SpecificationError
from .session_log import add_session_totals

__all__ = ["build_cohort", "to_wide", "to_long"]


def build_cohort(data, *, dictionary: DataDictionary, all_waves: bool = True) -> pd.DataFrame:
    """Build the long analysis frame: one row per participant × wave with ``weeks`` since baseline.

    Parameters
    ----------
    data : ValidationReport or mapping of dataset name to DataFrame
        Validated data (the cleaned ``report.data``), or raw frames, which are validated first; a
        frame with problems raises :class:`~evalkit.errors.DataValidationError` listing them all.
    dictionary : DataDictionary
    all_waves : bool, default True
        Include a row for every planned wave of every participant (``observed`` False where no
        questionnaire was returned), so attrition stays visible. With False, only observed rows.

    Returns
    -------
    pandas.DataFrame
        ``participant_id, wave`` (ordered categorical in time order), ``wave_week`` (the planned
        week), ``observed``, the date column, ``weeks`` (weeks since the participant's baseline
        questionnaire from dates; the planned week where a date is missing), ``weeks_source``
        (``"date"`` or ``"planned"``), every response column, then the participant-level columns.
        Sorted by participant and wave.

    Examples
    --------
    >>> import evalkit as ek
    >>> sim = ek.simulate_cohort(n=30, seed=1)
    >>> dd = ek.DataDictionary.from_yaml(ek.example_dictionary_path())
    >>> frame = ek.build_cohort({"participants": sim.participants, "responses": sim.responses},
    ...                         dictionary=dd)
    >>> len(frame) == 30 * len(dd.waves)
    True
    >>> print(frame[["participant_id", "wave", "wave_week", "observed"]].head(4).to_string(index=False))
    participant_id      wave  wave_week  observed
            P00001  baseline        0.0      True
            P00001       mid        6.0     False
            P00001       end       12.0     False
            P00001 follow_up       24.0     False
    """
    from .validation import ValidationReport, _person_dataset, _response_dataset, validate

    if isinstance(data, ValidationReport):
        report = data
    elif isinstance(data, Mapping):
        report = validate(dict(data), dictionary=dictionary)
        report.raise_if_problems()
    else:
        raise SpecificationError("build_cohort() takes a ValidationReport or a mapping of dataset "
                                 f"name to DataFrame, not {type(data).__name__}")
    rname, pname = _response_dataset(dictionary), _person_dataset(dictionary)
    if rname not in report.data or pname not in report.data:
        raise SpecificationError(f"build_cohort() needs both datasets {rname!r} and {pname!r}; "
                                 f"got {sorted(report.data)}")
    id_col, wave_col, date_col = dictionary.id_column, dictionary.wave_column, dictionary.date_column
    resp = report.data[rname].drop(columns="_line")
    people = report.data[pname].drop(columns="_line")
    # session logs (one row per session) become each mother's totals: sessions, first/last, started
    people = add_session_totals(people, report.data, dictionary)

    wave_names = [w.name for w in dictionary.waves]
    wave_type = pd.CategoricalDtype(wave_names, ordered=True)
    resp = resp.assign(**{wave_col: resp[wave_col].astype(object).astype(wave_type)})
    if all_waves:
        grid = pd.MultiIndex.from_product([people[id_col].to_numpy(), wave_names],
                                          names=[id_col, wave_col]).to_frame(index=False)
        grid[wave_col] = grid[wave_col].astype(wave_type)
        frame = grid.merge(resp, on=[id_col, wave_col], how="left", indicator=True)
        observed = (frame.pop("_merge") == "both").to_numpy()
    else:
        frame = resp.copy()
        observed = np.ones(len(frame), bool)
    planned = frame[wave_col].astype(object).map({w.name: float(w.week) for w in dictionary.waves})
    frame.insert(2, "wave_week", planned.astype(float))
    frame.insert(3, "observed", observed)

    weeks = planned.astype(float).copy()
    source = pd.Series("planned", index=frame.index, dtype=object)
    if date_col and date_col in frame:
        base = frame.loc[frame[wave_col] == dictionary.baseline.name].set_index(id_col)[date_col]
        from_dates = (frame[date_col] - frame[id_col].map(base)).dt.days / 7.0
        has = from_dates.notna().to_numpy()
        weeks[has] = from_dates[has]
        source[has] = "date"
    pos = frame.columns.get_loc(date_col) + 1 if date_col in frame else 4
    frame.insert(pos, "weeks", weeks.round(4))
    frame.insert(pos + 1, "weeks_source", source)

    context = people.drop(columns=[c for c in people.columns if c in frame.columns and c != id_col])
    frame = frame.merge(context, on=id_col, how="left", validate="many_to_one")
    frame = frame.sort_values([id_col, wave_col], kind="stable").reset_index(drop=True)
    return frame


@renamed(frame="data", time="wave")
def to_wide(data: pd.DataFrame, *, values: Sequence[str] | str, subject: str = "participant_id",
            wave: str = "wave") -> pd.DataFrame:
    """Reshape long → wide: one row per subject, columns ``<value>_<wave level>``.

    Time-invariant columns are not carried over; join them from the participants table.

    Parameters
    ----------
    data : pandas.DataFrame
        The long frame, one row per participant × wave.
    values : str or list of str
        The columns to spread.
    subject, wave : str
        The participant and wave columns (``time=`` is the deprecated name of ``wave=``).

    Examples
    --------
    >>> long = pd.DataFrame({"participant_id": ["a", "a", "b"], "wave": ["baseline", "end", "baseline"],
    ...                      "epds": [14, 10, 12]})
    >>> to_wide(long, values="epds")
      participant_id  epds_baseline  epds_end
    0              a           14.0      10.0
    1              b           12.0       NaN
    """
    values = [values] if isinstance(values, str) else list(values)
    missing = [c for c in [subject, wave, *values] if c not in data.columns]
    if missing:
        raise SpecificationError(f"to_wide(): column(s) {missing} not in the data; "
                                 f"available: {', '.join(map(str, data.columns))}")
    if data.duplicated([subject, wave]).any():
        raise SpecificationError(f"to_wide(): more than one row per {subject} × {wave}; "
                                 "validate the data (duplicate keys) first")
    wide = data.pivot(index=subject, columns=wave, values=values)
    levels = (list(data[wave].cat.categories) if isinstance(data[wave].dtype, pd.CategoricalDtype)
              else list(pd.unique(data[wave])))
    levels = [lv for lv in levels if lv in set(wide.columns.get_level_values(1))]
    wide = wide.reindex(columns=pd.MultiIndex.from_product([values, levels]))
    wide.columns = [f"{v}_{t}" for v, t in wide.columns]
    return wide.reset_index().rename_axis(columns=None)


@renamed(time="wave")
def to_long(wide: pd.DataFrame, *, stubs: Sequence[str] | str, levels: Sequence[str],
            subject: str = "participant_id", wave: str = "wave") -> pd.DataFrame:
    """Reshape wide → long, the inverse of :func:`to_wide`.

    Parameters
    ----------
    wide : pandas.DataFrame
        One row per participant, columns ``<stub>_<wave level>``.
    stubs : str or list of str
        The column stems to gather.
    levels : list of str
        The wave levels, in order.
    subject, wave : str
        The participant column, and the name of the wave column to create (``time=`` is the
        deprecated name of ``wave=``).

    Examples
    --------
    >>> wide = pd.DataFrame({"participant_id": ["a", "b"], "epds_baseline": [14, 12],
    ...                      "epds_end": [10, None]})
    >>> to_long(wide, stubs="epds", levels=["baseline", "end"])
      participant_id      wave  epds
    0              a  baseline  14.0
    1              a       end  10.0
    2              b  baseline  12.0
    3              b       end   NaN
    """
    stubs = [stubs] if isinstance(stubs, str) else list(stubs)
    levels = list(levels)
    parts = []
    for lv in levels:
        cols = {f"{s}_{lv}": s for s in stubs if f"{s}_{lv}" in wide.columns}
        if not cols:
            continue
        part = wide[[subject, *cols]].rename(columns=cols)
        part.insert(1, wave, lv)
        parts.append(part)
    if not parts:
        raise SpecificationError(f"to_long(): no column named <stub>_<level> for stubs {stubs} and "
                                 f"levels {levels}")
    out = pd.concat(parts, ignore_index=True)
    out[wave] = pd.Categorical(out[wave], categories=levels, ordered=True)
    out = out.sort_values([subject, wave], kind="stable").reset_index(drop=True)
    out[wave] = out[wave].astype(object)
    return out[[subject, wave, *[s for s in stubs if s in out.columns]]]
