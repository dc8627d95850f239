"""Session logs: one row per session, summed per participant into the engagement columns.

Many services record support as a log (a REDCap repeating instrument, a case system's contacts
table) rather than as totals on the participant's row. A dataset declared with ``session_log``
gives every participant of the participants' table, before any analysis:

* ``sessions_attended`` — the sessions logged (0 for a mother with none);
* ``first_session_on`` / ``last_session_on`` — her earliest and latest session date (when the log
  has a ``date`` column);
* ``started`` — at least one session logged.

These are the columns the plan's ``engagement`` section reads by default; each can be renamed,
or left out with ``null``, in the declaration (the keys are the engagement section's)::

    sessions:
      file: export.csv
      keys: [participant_id, redcap_event_name, redcap_repeat_instance]
      rows: {redcap_repeat_instrument: [sessions]}
      session_log: {date: session_date}      # started: null if the participants' table says it
      variables: ...

Every row of the log is one session: select only the sessions attended with ``rows`` (e.g.
``rows: {redcap_repeat_instrument: [sessions], attended: ["1"]}``). A logged session of a mother
not in the participants' table is a data problem (``unknown_participant``), never dropped silently.
"""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, ConfigDict

__all__ = ["SessionLog", "derived_columns", "session_totals", "add_session_totals"]


class SessionLog(BaseModel):
    """What a session log adds to the participants' table (``None``: not added)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    date: str | None = None
    sessions: str | None = "sessions_attended"
    start: str | None = "first_session_on"
    stop: str | None = "last_session_on"
    started: str | None = "started"

    def added(self) -> list[tuple[str, str, str]]:
        """``(key, column, type)`` of each column added (the dates only when the log has a date)."""
        out = [("sessions", self.sessions, "integer"), ("started", self.started, "boolean")]
        if self.date is not None:
            out += [("start", self.start, "date"), ("stop", self.stop, "date")]
        return [(k, c, t) for k, c, t in out if c is not None]

    def added_names(self) -> list[tuple[str, str]]:
        """``(key, column)`` of every total this declaration can add, dates included."""
        return [(k, c) for k, c in (("sessions", self.sessions), ("started", self.started),
                                    ("start", self.start), ("stop", self.stop)) if c is not None]

    def columns(self) -> dict[str, str]:
        """``{column: type}`` of the columns added."""
        return {c: t for _, c, t in self.added()}


def derived_columns(dictionary) -> dict[str, str]:
    """``{column: type}`` added to the participants by every session log of ``dictionary``."""
    out: dict[str, str] = {}
    for ds in dictionary.datasets.values():
        if ds.session_log is not None:
            out.update(ds.session_log.columns())
    return out


def session_totals(log: pd.DataFrame, spec: SessionLog, *, ids, id_col: str = "participant_id"
                   ) -> pd.DataFrame:
    """One row per participant in ``ids``: her sessions, first and last session date, started.

    Parameters
    ----------
    log : pandas.DataFrame
        The validated log, one row per session.
    spec : SessionLog
    ids : sequence
        The participants (a mother with no session gets 0 sessions, no dates, not started).
    id_col : str, default "participant_id"

    Returns
    -------
    pandas.DataFrame
        ``id_col`` then the columns of ``spec.columns()``, in the order of ``ids``.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"participant_id": ["a", "a", "b"],
    ...                     "session_date": pd.to_datetime(["2024-01-08", "2024-01-01", None])})
    >>> session_totals(log, SessionLog(date="session_date"), ids=["a", "b", "c"])
      participant_id  sessions_attended  started first_session_on last_session_on
    0              a                  2     True       2024-01-01      2024-01-08
    1              b                  1     True              NaT             NaT
    2              c                  0    False              NaT             NaT
    """
    grouped = log.groupby(id_col, sort=False)
    n = grouped.size().reindex(pd.Index(ids, name=id_col), fill_value=0).astype("int64")
    out = pd.DataFrame({id_col: n.index})
    if spec.sessions is not None:
        out[spec.sessions] = n.to_numpy()
    if spec.started is not None:
        out[spec.started] = (n > 0).to_numpy()
    if spec.date is not None:
        dates = pd.to_datetime(log[spec.date])
        by = dates.groupby(log[id_col], sort=False)
        for name, agg in ((spec.start, by.min()), (spec.stop, by.max())):
            if name is not None:
                out[name] = agg.reindex(n.index).to_numpy()
    return out


def add_session_totals(people: pd.DataFrame, data, dictionary) -> pd.DataFrame:
    """``people`` with the columns every session log of ``dictionary`` adds (logs in ``data``)."""
    id_col = dictionary.id_column
    for name, ds in dictionary.datasets.items():
        if ds.session_log is None or name not in data:
            continue
        totals = session_totals(data[name], ds.session_log, ids=people[id_col].tolist(),
                                id_col=id_col)
        people = people.merge(totals, on=id_col, how="left", validate="one_to_one")
    return people
