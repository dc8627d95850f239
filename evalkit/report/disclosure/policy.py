"""Statistical disclosure control for everything a report publishes.

Small charities report on 30–300 mothers; a table cell of 1–4 mothers in a small town can identify
someone. :class:`DisclosureControl` holds one policy (a threshold, default 5) and applies it, in the
way of the ONS and NHS guidance on statistical disclosure control, to

* count tables (:meth:`DisclosureControl.counts`): *primary* suppression of counts below the
  threshold, then *secondary* (complementary) suppression, so that no hidden count can be worked
  out by subtraction from a published or publishable total; percentages (and their confidence
  limits) are hidden with their counts;
* subgroup estimates (:meth:`DisclosureControl.estimates`): estimates for groups smaller than the
  threshold are withheld, and their sizes suppressed;
* Kaplan–Meier risk tables (:meth:`DisclosureControl.risk_table`) and the points of the curves
  (:meth:`DisclosureControl.km_curve`): small counts hidden, groups that start below the threshold
  withheld and not drawn.

Each call returns a :class:`SafeTable` (the input with every hidden numeric cell set to NaN, and a
mask of the hidden cells; the hidden values are not kept anywhere) and adds one row per hidden cell
to the suppression log :attr:`DisclosureControl.log` (``table, row, column, rule``; never the hidden
value). :func:`display` turns a SafeTable into strings for HTML and :meth:`SafeTable.to_csv`
writes it with hidden cells as ``suppressed``. :func:`find_identifiers` checks that no participant
identifier made it into a report, and :func:`restricted_columns` lists the columns (identifiers,
dates, free text, safeguarding flags) that no published table may contain.

How secondary suppression works
-------------------------------
Every table is turned into *equations*: sets of cells that add up to a margin that is published or
could be (the levels of one context variable add up to the number of mothers; with ``row_total``
the count columns of a row add up to its total; the ``at_risk, events, censored`` counts of a risk
table at one time add up to the group's starting size; the same count across groups adds up to the
overall table). Then, until nothing changes:

1. an equation with exactly one hidden cell gets a second one: the smallest other non-zero cell
   (ties: the first in row order), else a zero cell, else its published total;
2. an equation whose hidden cells are all determined by the fact that a hidden count is at least 1
   (e.g. two hidden cells adding up to 2) gets one more hidden cell, chosen the same way;
3. a linear audit finds any hidden cell that could still be solved for exactly by combining
   several equations (possible in two-way tables) and hides one more cell of its equations.

A group (equation) whose total is below the threshold has all its cells hidden.

Display convention
------------------
Every hidden count or percentage shows ``suppressed``; every withheld estimate shows
``withheld (n < 5)`` (with the threshold in use). Primary and secondary suppression look the same on
purpose: telling them apart would say which cells are small.

Examples
--------
>>> import pandas as pd
>>> from evalkit.report.disclosure import DisclosureControl, display
>>> reach = pd.DataFrame({"site": ["north", "east", "west"], "n": [40, 30, 3],
...                       "percent": [54.8, 41.1, 4.1]})
>>> dc = DisclosureControl(threshold=5)
>>> safe = dc.counts(reach, name="reach by site", count_columns=["n"],
...                  percent_columns={"n": "percent"})
>>> display(safe)
    site           n     percent
0  north          40        54.8
1   east  suppressed  suppressed
2   west  suppressed  suppressed
>>> print(dc.log[["row", "column", "rule"]].to_string())
         row   column                                                     rule
0  site=east        n  secondary: protects a suppressed cell in the same group
1  site=east  percent                    linked: percent of a suppressed count
2  site=west        n                                   primary: count below 5
3  site=west  percent                    linked: percent of a suppressed count
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from ...errors import SpecificationError, UnknownNameError
from ._rules import (_R_AT_RISK, _R_DENOMINATOR, _R_GIVEN_GROUP, _R_GROUP_TOTAL, _R_HIDDEN_N,
                     _R_OTHER_GROUP, _R_PERCENT, _R_PRIMARY, _R_PROTECT_GROUP, _R_ROW_TOTAL,
                     _R_SAME_GROUP, _R_SAME_ROW, _R_SAME_TIME, _R_UNKNOWN_N, _R_UPSTREAM,
                     _R_WITHHELD, _R_ZERO)
from .identifiers import ALWAYS_RESTRICTED
from .protected import _PROTECTED_KINDS, SafeTable, _fmt_label, _missing, display
from .solver import _Protector

__all__ = ["DisclosureControl", "LOG_COLUMNS", "SUMMARY_COLUMNS"]

#: Columns of :attr:`DisclosureControl.log`, in order.
LOG_COLUMNS = ["table", "row", "column", "rule"]
#: Columns of :meth:`DisclosureControl.summary`, in order.
SUMMARY_COLUMNS = ["table", "rule", "n_cells"]

_RISK_COUNTS = ["at_risk", "events", "censored"]
_CURVE_VALUES = ["survival", "ci_low", "ci_high"]


class DisclosureControl:
    """One disclosure-control policy, applied to every table of a report, with its log.

    Parameters
    ----------
    threshold : int
        Counts from 1 to ``threshold - 1`` are suppressed and groups smaller than ``threshold``
        withheld (default 5; 10 is common for small towns). A whole number >= 1.
    suppress_zeros : bool
        Also suppress zero counts (when a zero would itself disclose something, e.g. "no mother in
        this village completed").
    restricted : iterable of str
        Column names no input table may have (see :func:`restricted_columns`); always includes
        :data:`ALWAYS_RESTRICTED`.

    Raises
    ------
    SpecificationError
        If ``threshold`` is not a whole number >= 1.

    Examples
    --------
    >>> from evalkit.report.disclosure import DisclosureControl
    >>> DisclosureControl(threshold=10)
    DisclosureControl(threshold=10, suppress_zeros=False, tables=0, hidden_cells=0)
    """

    def __init__(self, threshold: int = 5, *, suppress_zeros: bool = False,
                 restricted: Iterable[str] = ()):
        if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, (int, np.integer)) \
                or threshold < 1:
            raise SpecificationError(f"DisclosureControl: threshold must be a whole number >= 1 (the "
                                     f"smallest count that may be published), got {threshold!r}; "
                                     "use e.g. threshold=5 or threshold=10")
        if not isinstance(suppress_zeros, (bool, np.bool_)):
            raise SpecificationError(f"DisclosureControl: suppress_zeros must be True or False, got "
                                     f"{suppress_zeros!r}")
        if isinstance(restricted, str):
            restricted = [restricted]
        self._threshold = int(threshold)
        self._suppress_zeros = bool(suppress_zeros)
        self._restricted = frozenset(str(c).casefold() for c in (*ALWAYS_RESTRICTED, *restricted))
        self._rows: list[tuple[str, str, str, str]] = []
        self._names: list[str] = []

    # ------------------------------------------------------------------ public state
    @property
    def threshold(self) -> int:
        """The smallest count that may be published."""
        return self._threshold

    @property
    def suppress_zeros(self) -> bool:
        """Whether zero counts are suppressed too."""
        return self._suppress_zeros

    @property
    def log(self) -> pd.DataFrame:
        """One row per hidden cell: ``table, row, column, rule`` (never the hidden value)."""
        return pd.DataFrame(self._rows, columns=LOG_COLUMNS, dtype=object)

    def summary(self) -> pd.DataFrame:
        """Numbers of hidden cells per table and rule: ``table, rule, n_cells``.

        Examples
        --------
        >>> import pandas as pd
        >>> from evalkit.report.disclosure import DisclosureControl
        >>> dc = DisclosureControl()
        >>> _ = dc.counts(pd.DataFrame({"g": ["a", "b", "c"], "n": [2, 3, 9]}), name="t",
        ...               count_columns="n")
        >>> dc.summary()
          table                    rule  n_cells
        0     t  primary: count below 5        2
        """
        log = self.log
        if log.empty:
            return pd.DataFrame(columns=SUMMARY_COLUMNS)
        out = log.groupby(["table", "rule"], sort=False).size().reset_index(name="n_cells")
        return out[SUMMARY_COLUMNS]

    def __repr__(self) -> str:
        return (f"DisclosureControl(threshold={self._threshold}, suppress_zeros={self._suppress_zeros},"
                f" tables={len(self._names)}, hidden_cells={len(self._rows)})")

    display = staticmethod(display)

    # ------------------------------------------------------------------ count tables
    def counts(self, table: pd.DataFrame, *, name: str, count_columns, percent_columns=None,
               groups=None, total=None, row_total: str | None = None,
               previous: SafeTable | None = None) -> SafeTable:
        """Suppress small counts, with secondary suppression, and the percentages that go with them.

        Parameters
        ----------
        table : pandas.DataFrame
        name : str
            The table's name in the log (unique within this DisclosureControl).
        count_columns : str or list of str
            Columns of counts (whole numbers >= 0; NaN for not published).
        percent_columns : dict, optional
            Count column -> percent column, or list of columns (e.g. a percent and its confidence
            limits), hidden wherever the count is, and wherever the total they are a share of is.
        groups : str or list of str, optional
            Rows sharing these columns' values are the cells of one margin (e.g. the levels of one
            context variable). None: the whole table adds up to one margin. Use columns that make
            every row its own group when the rows do not add up to anything.
        total : str, (column, label) or dict, optional
            Where the margin is published in the table. A label (``"Total"``) or ``(column,
            label)``: the row of each group holding its total, which is never hidden to protect
            another cell but is suppressed like any count when small. A column name: a column
            repeating each group's total in every row.
        row_total : str, optional
            A column holding each row's total of ``count_columns`` (a two-way table): rows and
            columns are then protected together until neither reveals a hidden cell.
        previous : SafeTable, optional
            The result of an earlier pass over the same rows (``table`` is then its ``data``): its
            hidden cells stay hidden and count as hidden in the equations.

        Returns
        -------
        SafeTable

        Raises
        ------
        SpecificationError
            Bad counts (negative, not numbers), overlapping roles, a name used twice, a restricted
            column, a total label that is not found or found twice in a group.
        UnknownNameError
            A named column is not in the table.

        Examples
        --------
        Levels of 40, 30 and 3 mothers: the 3 is suppressed, and so is the 30, else it could be
        worked out from the total; a group with two small cells needs nothing more.

        >>> import pandas as pd
        >>> from evalkit.report.disclosure import DisclosureControl
        >>> t = pd.DataFrame({"context": ["site"] * 3 + ["mode"] * 3,
        ...                   "level": ["north", "east", "west", "one", "group", "both"],
        ...                   "n": [40, 30, 3, 66, 3, 4]})
        >>> safe = DisclosureControl().counts(t, name="reach", count_columns=["n"], groups="context")
        >>> safe.data["n"].tolist()
        [40.0, nan, nan, 66.0, nan, nan]
        """
        where = f"counts({name!r})"
        self._check_call(table, name, where)
        counts = _columns(table, count_columns, where, "count_columns")
        if not counts:
            raise SpecificationError(f"{where}: give at least one count column")
        grp = _columns(table, groups, where, "groups") if groups is not None else []
        rt = None
        if row_total is not None:
            rt = _columns(table, row_total, where, "row_total")
            if len(rt) != 1:
                raise SpecificationError(f"{where}: row_total names one column, got {rt}")
            rt = rt[0]
        count_like = counts + ([rt] if rt else [])
        pct = _percent_map(table, percent_columns, count_like, where)
        pct_cols = [c for cs in pct.values() for c in cs]
        margin_col, total_label = None, None
        if total is not None:
            if isinstance(total, str) and total in table.columns:
                margin_col = total
            else:
                total_label = total
        _disjoint(where, count_columns=counts, row_total=[rt] if rt else [], percent_columns=pct_cols,
                  groups=grp, total=[margin_col] if margin_col else [])
        prot = count_like + ([margin_col] if margin_col else [])
        hidden0 = self._previous_mask(table, previous, where)
        cols = list(table.columns)
        pos = [cols.index(c) for c in prot]
        values = _count_values(table, prot, where, None if hidden0 is None else hidden0[:, pos])
        n, p = values.shape
        hidden = np.zeros((n, len(cols)), dtype=bool) if hidden0 is None else hidden0.copy()
        rules = np.full((n, len(cols)), "", dtype=object)
        h = np.ascontiguousarray(hidden[:, pos])
        r = np.full((n, p), "", dtype=object)
        self._primary(values, h, r)

        group_rows = _group_positions(table, grp)
        total_rows = ([None] * len(group_rows) if total_label is None else
                      _total_rows(table, total_label, group_rows, exclude=grp + prot + pct_cols,
                                  where=where))
        eng = _Protector(values, h, r, protect_zeros=self._suppress_zeros)
        ncount = len(count_like)
        for rows, trow in zip(group_rows, total_rows):
            inner = [i for i in rows if i != trow]
            for j in range(ncount):
                eng.add([(i, j) for i in inner], None if trow is None else (trow, j), _R_SAME_GROUP)
        if rt:
            for i in range(n):
                eng.add([(i, j) for j in range(len(counts))], (i, len(counts)), _R_SAME_ROW)
        t = self._threshold
        eng.hide_small_totals(t, lambda rule: (_R_ROW_TOTAL if rule == _R_SAME_ROW else _R_GROUP_TOTAL)
                              .format(t=t))
        if margin_col:
            jm = p - 1
            for rows in group_rows:
                mvals = values[rows, jm]
                finite = mvals[np.isfinite(mvals)]
                if finite.size and np.ptp(finite) > 0:
                    raise SpecificationError(f"{where}: total column {margin_col!r} must repeat one "
                                             f"value within each group; it varies in rows "
                                             f"{[int(i) + 1 for i in rows]}")
                if finite.size and (0 < finite[0] < t or (finite[0] == 0 and self._suppress_zeros)):
                    for i in rows:
                        for j in range(p):
                            if np.isfinite(values[i, j]):
                                eng.hide(i * p + j, _R_GROUP_TOTAL.format(t=t))
        eng.run()

        hidden[:, pos] = h
        rules[:, pos] = r
        # percentages: hidden with their count, and where the total they are a share of is hidden
        for c, pcs in pct.items():
            j = prot.index(c)
            ppos = [cols.index(pc) for pc in pcs]
            for i in np.flatnonzero(h[:, j]):
                for q in ppos:
                    if not hidden[i, q]:
                        hidden[i, q] = True
                        rules[i, q] = _R_PERCENT
        for m, is_m, _ in eng.eqs:
            if is_m.any() and eng.h[m[is_m][0]]:
                for f in m[~is_m]:
                    i, j = divmod(int(f), p)
                    for pc in pct.get(prot[j], []):
                        q = cols.index(pc)
                        if not hidden[i, q]:
                            hidden[i, q] = True
                            rules[i, q] = _R_DENOMINATOR
        kinds = {c: "count" for c in prot} | {c: "percent" for c in pct_cols}
        return self._finish(table, name, hidden, rules, kinds, label_first=grp, previous=previous)

    # ------------------------------------------------------------------ subgroup estimates
    def estimates(self, table: pd.DataFrame, *, name: str, n_column: str, value_columns,
                  status_column: str = "status", groups=None,
                  previous: SafeTable | None = None) -> SafeTable:
        """Withhold estimates for groups smaller than the threshold.

        Rows whose ``n_column`` is below the threshold (or missing) have every value column hidden
        and ``status_column`` (created if absent, empty elsewhere) set to ``withheld (n < T)``; the
        n itself is suppressed when it is from 1 to T - 1. With ``groups``, the n column also gets
        secondary suppression within each group, as in :meth:`counts` (the estimates of a row whose
        n is hidden only for that reason stay: the group is large enough).

        Parameters
        ----------
        table : pandas.DataFrame
        name : str
        n_column : str
            Number of participants behind each row's estimates.
        value_columns : str or list of str
            Estimates, standard errors, df, limits, p-values, means, … of each row.
        status_column : str
            Column that says why a row is withheld.
        groups : str or list of str, optional
            Rows whose n add up to a published total (e.g. levels of one context).
        previous : SafeTable, optional
            As in :meth:`counts`.

        Returns
        -------
        SafeTable

        Examples
        --------
        >>> import pandas as pd
        >>> from evalkit.report.disclosure import DisclosureControl
        >>> t = pd.DataFrame({"level": ["east", "west"], "n_participants": [30, 3],
        ...                   "estimate": [2.1, 7.9]})
        >>> safe = DisclosureControl().estimates(t, name="change", n_column="n_participants",
        ...                                      value_columns=["estimate"])
        >>> safe.data
          level  n_participants  estimate            status
        0  east            30.0       2.1
        1  west             NaN       NaN  withheld (n < 5)
        """
        where = f"estimates({name!r})"
        self._check_call(table, name, where)
        ncol = _columns(table, n_column, where, "n_column")
        if len(ncol) != 1:
            raise SpecificationError(f"{where}: n_column names one column, got {ncol}")
        ncol = ncol[0]
        vals = _columns(table, value_columns, where, "value_columns")
        grp = _columns(table, groups, where, "groups") if groups is not None else []
        if not isinstance(status_column, str) or not status_column:
            raise SpecificationError(f"{where}: status_column must be a column name, got "
                                     f"{status_column!r}")
        _disjoint(where, n_column=[ncol], value_columns=vals, groups=grp, status_column=[status_column])
        for c in vals:
            s = table[c]
            if not (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)):
                raise SpecificationError(f"{where}: value column {c!r} must hold numbers, it holds "
                                         f"{s.dtype}; pass only numeric columns as value_columns")
        hidden0 = self._previous_mask(table, previous, where)
        work = table.copy()
        if status_column not in work.columns:
            work[status_column] = ""
            if hidden0 is not None:
                hidden0 = np.column_stack([hidden0, np.zeros(len(work), dtype=bool)])
        cols = list(work.columns)
        n_vals = _count_values(work, [ncol], where, None if hidden0 is None
                               else hidden0[:, [cols.index(ncol)]])
        n = len(work)
        t = self._threshold
        hidden = np.zeros((n, len(cols)), dtype=bool) if hidden0 is None else hidden0.copy()
        rules = np.full((n, len(cols)), "", dtype=object)
        jn = cols.index(ncol)
        nv = n_vals[:, 0]
        was_hidden_n = hidden[:, jn].copy()
        unknown = ~np.isfinite(nv)
        small = np.isfinite(nv) & (nv < t)
        withheld = small | unknown
        h = np.ascontiguousarray(hidden[:, [jn]])
        r = np.full((n, 1), "", dtype=object)
        self._primary(n_vals, h, r)
        if grp:
            eng = _Protector(n_vals, h, r, protect_zeros=self._suppress_zeros)
            for rows in _group_positions(work, grp):
                eng.add([(i, 0) for i in rows], None, _R_SAME_GROUP)
            eng.hide_small_totals(t, lambda rule: _R_GROUP_TOTAL.format(t=t))
            eng.run()
        hidden[:, jn] = h[:, 0]
        rules[:, jn] = r[:, 0]
        status = work[status_column].astype(object).where(work[status_column].notna(), "")
        for i in np.flatnonzero(withheld):
            if small[i]:
                rule, label = _R_WITHHELD.format(t=t), f"withheld (n < {t})"
            elif was_hidden_n[i]:
                rule, label = _R_HIDDEN_N, "withheld (n suppressed)"
            else:
                rule, label = _R_UNKNOWN_N, "withheld (n unknown)"
            for c in vals:
                q = cols.index(c)
                if not hidden[i, q]:
                    hidden[i, q] = True
                    rules[i, q] = rule
            status.iat[i] = label
        work[status_column] = status.to_numpy()
        kinds = {ncol: "count", status_column: "status"} | {c: "estimate" for c in vals}
        return self._finish(work, name, hidden, rules, kinds, label_first=grp, previous=previous,
                            skip_label=[status_column])

    # ------------------------------------------------------------------ Kaplan-Meier
    def risk_table(self, risk: pd.DataFrame, *, name: str, group_sizes: Mapping | None = None,
                   across_groups: bool = True) -> SafeTable:
        """Disclosure control of a Kaplan–Meier risk table (``KMResult.risk_table(times)``).

        Rules, in order:

        1. A group that starts with fewer than T people (``group_sizes``, else ``at_risk`` at its
           earliest time; missing counts as small) is withheld: every count hidden, its curve not
           drawn (:attr:`SafeTable.withheld_groups`). With ``across_groups`` and one group withheld,
           the smallest other group is withheld too, else the overall curve minus the others would
           give it back.
        2. Counts from 1 to T - 1 (and cells already NaN, i.e. suppressed upstream) are hidden.
        3. At each time ``at_risk + events + censored`` equals the group's starting size (exactly,
           when nobody's time equals that time), so one hidden count in a row is recovered by
           subtraction: a second count of the row is hidden (the smallest non-zero; e.g. a hidden
           ``events`` usually takes ``at_risk`` with it). Rows where nobody has left yet
           (``at_risk`` equal to the starting size, e.g. time 0) are exempt: their events and
           censorings are ties at that very time, which no subtraction gives. With
           ``across_groups`` each count at a time, summed over groups, is the overall table's
           count (an overall table, or just the total number of events, is or could be
           published), so it is protected the same way.
        4. The general rules of the module (hidden sums of 1s, linear audit) apply to these
           equations.

        Differencing neighbouring times gives only bounds (cumulative counts never fall, numbers
        at risk never rise), never a hidden value; the interval counts between two published
        cumulative counts are not protected, as they are visible in the published curve anyway.

        Parameters
        ----------
        risk : pandas.DataFrame
            ``group, time, at_risk, events, censored`` and optionally ``suppressed`` (recomputed).
        name : str
        group_sizes : dict, optional
            Group -> number of people, when the table does not start at time 0.
        across_groups : bool
            Protect each time's counts across groups (an overall table is or could be published).

        Returns
        -------
        SafeTable
            With ``withheld_groups``.

        Examples
        --------
        >>> import pandas as pd
        >>> from evalkit.report.disclosure import DisclosureControl
        >>> risk = pd.DataFrame({"group": ["a", "a", "b", "b", "c", "c"], "time": [0, 8] * 3,
        ...                      "at_risk": [40, 30, 30, 22, 3, 1], "events": [0, 6, 0, 5, 0, 1],
        ...                      "censored": [0, 4, 0, 3, 0, 1]})
        >>> safe = DisclosureControl().risk_table(risk, name="km")
        >>> safe.withheld_groups
        ('c', 'b')
        >>> safe.data
          group  time  at_risk  events  censored
        0     a     0     40.0     0.0       0.0
        1     a     8     30.0     NaN       NaN
        2     b     0      NaN     NaN       NaN
        3     b     8      NaN     NaN       NaN
        4     c     0      NaN     NaN       NaN
        5     c     8      NaN     NaN       NaN
        """
        where = f"risk_table({name!r})"
        self._check_call(risk, name, where)
        _columns(risk, ["group", "time", *_RISK_COUNTS], where, "risk table columns")
        work = risk.copy()
        cols = list(work.columns)
        n = len(work)
        t = self._threshold
        values = _count_values(work, _RISK_COUNTS, where, None)
        groups = list(pd.unique(work["group"]))
        if work["group"].isna().any():
            raise SpecificationError(f"{where}: the group column has missing values; label every row")
        gpos = {g: np.flatnonzero((work["group"] == g).to_numpy()) for g in groups}
        times = pd.to_numeric(work["time"], errors="coerce").to_numpy(float)
        if np.isnan(times).any():
            raise SpecificationError(f"{where}: the time column must hold numbers")
        sizes = dict(group_sizes or {})
        start = {}
        for g in groups:
            if g in sizes:
                start[g] = float(sizes[g])
            else:
                rows = gpos[g]
                start[g] = values[rows[np.argmin(times[rows])], 0]
        withheld = [g for g in groups if not (np.isfinite(start[g]) and start[g] >= t)]
        reason = {g: _R_WITHHELD.format(t=t) for g in withheld}
        if across_groups and len(groups) >= 2 and len(withheld) == 1:
            others = [g for g in groups if g not in withheld]
            order = sorted(range(len(others)), key=lambda k: (start[others[k]], k))
            extra = others[order[0]]
            withheld.append(extra)
            reason[extra] = _R_PROTECT_GROUP
        h = np.zeros((n, 3), dtype=bool)
        r = np.full((n, 3), "", dtype=object)
        for g in withheld:
            h[gpos[g]] = True
            r[gpos[g]] = reason[g]
        upstream = ~np.isfinite(values) & ~h
        h[upstream] = True
        r[upstream] = _R_UPSTREAM
        self._primary(values, h, r)
        eng = _Protector(values, h, r, protect_zeros=self._suppress_zeros)
        gstart = np.array([start[g] for g in work["group"]], dtype=float)
        for i in range(n):
            # where nobody has left yet (at_risk = start, e.g. time 0) events + censored are the
            # ties at that time, which subtraction cannot give: no equation
            if not values[i, 0] == gstart[i]:
                eng.add([(i, 0), (i, 1), (i, 2)], None, _R_SAME_TIME)
        if across_groups and len(groups) >= 2:
            for u in pd.unique(times):
                rows = np.flatnonzero(times == u)
                if rows.size >= 2:
                    for j in range(3):
                        eng.add([(i, j) for i in rows], None, _R_OTHER_GROUP)
        eng.run()
        hidden = np.zeros((n, len(cols)), dtype=bool)
        rules = np.full((n, len(cols)), "", dtype=object)
        pos = [cols.index(c) for c in _RISK_COUNTS]
        hidden[:, pos] = h
        rules[:, pos] = r
        if "suppressed" in cols:
            work["suppressed"] = h.any(axis=1)
        kinds = {c: "count" for c in _RISK_COUNTS}
        return self._finish(work, name, hidden, rules, kinds, label_first=["group", "time"],
                            withheld_groups=tuple(withheld))

    def km_curve(self, table: pd.DataFrame, *, name: str, withheld_groups=()) -> SafeTable:
        """Points of Kaplan–Meier curves that may be drawn (``KMResult.table``).

        A group smaller than the threshold, or named in ``withheld_groups`` (pass those of the
        risk table), is hidden entirely; elsewhere ``survival, ci_low, ci_high`` are hidden from the
        first time fewer than T people are at risk (the curve stops there), and the per-time counts
        from 1 to T - 1 are hidden. The per-time table is for drawing: publish numbers at risk
        through :meth:`risk_table`.

        Parameters
        ----------
        table : pandas.DataFrame
            ``group, time, at_risk`` and any of ``events, censored, survival, ci_low, ci_high``.
        name : str
        withheld_groups : sequence, optional

        Returns
        -------
        SafeTable
            Draw only rows whose ``survival`` is not hidden; ``withheld_groups`` lists the groups
            not drawn at all.

        Examples
        --------
        >>> import pandas as pd
        >>> from evalkit.report.disclosure import DisclosureControl
        >>> km = pd.DataFrame({"group": ["a"] * 4, "time": [1.0, 2.0, 3.0, 4.0],
        ...                    "at_risk": [9, 7, 4, 2], "survival": [0.9, 0.8, 0.6, 0.3]})
        >>> DisclosureControl().km_curve(km, name="curve").data["survival"].tolist()
        [0.9, 0.8, nan, nan]
        """
        where = f"km_curve({name!r})"
        self._check_call(table, name, where)
        _columns(table, ["group", "time", "at_risk"], where, "curve columns")
        if isinstance(withheld_groups, (str, bytes)):
            withheld_groups = [withheld_groups]
        cols = list(table.columns)
        counts = [c for c in _RISK_COUNTS if c in cols]
        ests = [c for c in _CURVE_VALUES if c in cols]
        values = _count_values(table, counts, where, None)
        n = len(table)
        t = self._threshold
        groups = list(pd.unique(table["group"]))
        given = list(withheld_groups)
        unknown = [g for g in given if g not in groups]
        if unknown:
            raise UnknownNameError(f"{where}: withheld group(s) {unknown} are not in the table; "
                                   f"groups are {groups}")
        times = pd.to_numeric(table["time"], errors="coerce").to_numpy(float)
        at_risk = values[:, counts.index("at_risk")]
        gcol = table["group"].to_numpy()
        withheld, reason = [], {}
        for g in groups:
            rows = np.flatnonzero(gcol == g)
            first = at_risk[rows[np.argmin(times[rows])]]
            if g in given:
                withheld.append(g)
                reason[g] = _R_GIVEN_GROUP
            elif not (np.isfinite(first) and first >= t):
                withheld.append(g)
                reason[g] = _R_WITHHELD.format(t=t)
        hidden = np.zeros((n, len(cols)), dtype=bool)
        rules = np.full((n, len(cols)), "", dtype=object)
        cpos = [cols.index(c) for c in counts]
        epos = [cols.index(c) for c in ests]
        h = np.zeros((n, len(counts)), dtype=bool)
        r = np.full((n, len(counts)), "", dtype=object)
        upstream = ~np.isfinite(values)
        h[upstream] = True
        r[upstream] = _R_UPSTREAM
        self._primary(values, h, r)
        hidden[:, cpos] = h
        rules[:, cpos] = r
        in_withheld = np.array([g in withheld for g in gcol], dtype=bool)
        # the curve stops at the first time fewer than T are at risk, even if at_risk rose again
        tail = np.zeros(n, dtype=bool)
        for g in groups:
            rows = np.flatnonzero(gcol == g)
            rows = rows[np.argsort(times[rows], kind="stable")]
            low = ~(np.isfinite(at_risk[rows]) & (at_risk[rows] >= t))
            tail[rows] = np.cumsum(low) > 0
        for i in range(n):
            if in_withheld[i]:
                rule = reason[gcol[i]]
                for q in cpos:
                    hidden[i, q] = True
                    rules[i, q] = rule
            elif tail[i]:
                rule = _R_AT_RISK.format(t=t)
            else:
                continue
            for q in epos:
                hidden[i, q] = True
                rules[i, q] = rule
        kinds = {c: "count" for c in counts} | {c: "estimate" for c in ests}
        return self._finish(table, name, hidden, rules, kinds, label_first=["group", "time"],
                            withheld_groups=tuple(withheld))

    # ------------------------------------------------------------------ internals
    def _check_call(self, table, name, where: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise SpecificationError(f"{where}: name must be a non-empty string (it labels the table "
                                     "in the suppression log)")
        if name in self._names:
            raise SpecificationError(f"{where}: a table named {name!r} was already processed by this "
                                     "DisclosureControl; give each table its own name")
        if not isinstance(table, pd.DataFrame):
            raise SpecificationError(f"{where}: table must be a pandas DataFrame, got "
                                     f"{type(table).__name__}")
        if table.columns.duplicated().any():
            dup = sorted({str(c) for c in table.columns[table.columns.duplicated()]})
            raise SpecificationError(f"{where}: duplicated column names {dup}; rename them")
        bad = [c for c in table.columns if str(c).casefold() in self._restricted]
        if bad:
            raise SpecificationError(f"{where}: column(s) {bad} must never be published (participant "
                                     "identifiers, dates, free text, safeguarding flags); aggregate "
                                     "the data and drop them before publishing")

    def _previous_mask(self, table, previous, where) -> np.ndarray | None:
        if previous is None:
            return None
        if not isinstance(previous, SafeTable):
            raise SpecificationError(f"{where}: previous must be a SafeTable, got "
                                     f"{type(previous).__name__}")
        hid = previous.hidden
        if len(hid) != len(table) or not hid.index.equals(table.index):
            raise SpecificationError(f"{where}: previous ({previous.name!r}) has other rows than "
                                     "this table; pass previous.data (or a frame with the same rows)")
        missing = [c for c in hid.columns if c not in table.columns and hid[c].any()]
        if missing:
            raise SpecificationError(f"{where}: hidden column(s) {missing} of {previous.name!r} are "
                                     "not in this table; keep them")
        return hid.reindex(columns=table.columns, fill_value=False).to_numpy(bool)

    def _primary(self, values: np.ndarray, h: np.ndarray, r: np.ndarray) -> None:
        t = self._threshold
        small = np.isfinite(values) & (values > 0) & (values < t) & ~h
        h[small] = True
        r[small] = _R_PRIMARY.format(t=t)
        if self._suppress_zeros:
            zero = np.isfinite(values) & (values == 0) & ~h
            h[zero] = True
            r[zero] = _R_ZERO

    def _finish(self, table: pd.DataFrame, name: str, hidden: np.ndarray, rules: np.ndarray,
                kinds: dict, *, label_first=(), previous: SafeTable | None = None,
                withheld_groups: tuple = (), skip_label=()) -> SafeTable:
        cols = list(table.columns)
        data = table.copy()
        if previous is not None:
            kinds = {**kinds, **{c: k for c, k in previous.kinds.items() if k != "label"}}
            withheld_groups = tuple(dict.fromkeys((*previous.withheld_groups, *withheld_groups)))
        protected = [c for c in cols if kinds.get(c) in _PROTECTED_KINDS]
        for c in protected:
            q = cols.index(c)
            col = pd.to_numeric(data[c], errors="coerce").astype(float)
            data[c] = col.mask(hidden[:, q])
        labels = _row_labels(table, [c for c in cols if c not in kinds or kinds[c] == "label"],
                             label_first, skip=list(skip_label))
        ii, qq = np.nonzero(rules != "")
        for i, q in zip(ii.tolist(), qq.tolist()):
            self._rows.append((name, labels[i], str(cols[q]), rules[i, q]))
        self._names.append(name)
        full_kinds = {c: kinds.get(c, "label") for c in cols}
        return SafeTable(name=name, data=data,
                         hidden=pd.DataFrame(hidden, index=table.index, columns=table.columns),
                         threshold=self._threshold, kinds=full_kinds,
                         withheld_groups=tuple(withheld_groups))


# ====================================================================== helpers
def _columns(table: pd.DataFrame, arg, where: str, what: str) -> list:
    if arg is None:
        return []
    names = [arg] if isinstance(arg, str) else list(arg)
    missing = [c for c in names if c not in table.columns]
    if missing:
        raise UnknownNameError(f"{where}: {what} {missing} not in the table; columns are "
                               f"{list(table.columns)}")
    return list(dict.fromkeys(names))


def _percent_map(table, arg, count_like, where) -> dict[str, list]:
    if arg is None:
        return {}
    if not isinstance(arg, Mapping):
        raise SpecificationError(f"{where}: percent_columns must map a count column to its percent "
                                 f"column(s), e.g. {{'n': 'percent'}}; got {type(arg).__name__}")
    out = {}
    for c, pcs in arg.items():
        if c not in count_like:
            raise SpecificationError(f"{where}: percent_columns key {c!r} is not a count column; "
                                     f"count columns are {count_like}")
        pcs = _columns(table, pcs, where, f"percent_columns[{c!r}]")
        for pc in pcs:
            s = table[pc]
            if not (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)):
                raise SpecificationError(f"{where}: percent column {pc!r} must hold numbers, it holds "
                                         f"{s.dtype}")
        out[c] = pcs
    return out


def _disjoint(where: str, **roles) -> None:
    seen: dict = {}
    for role, names in roles.items():
        for c in names:
            if c in seen and seen[c] != role:
                raise SpecificationError(f"{where}: column {c!r} is given both as {seen[c]} and as "
                                         f"{role}; give each column one role")
            seen.setdefault(c, role)


def _count_values(table, cols, where, hidden0) -> np.ndarray:
    """Counts as floats (NaN: not published); ``hidden0`` marks cells an earlier pass hid."""
    out = np.empty((len(table), len(cols)))
    for j, c in enumerate(cols):
        s = table[c]
        if pd.api.types.is_bool_dtype(s.dtype) or not (pd.api.types.is_numeric_dtype(s.dtype)
                                                       or s.dtype == object):
            raise SpecificationError(f"{where}: count column {c!r} must hold numbers, it holds "
                                     f"{s.dtype}")
        v = pd.to_numeric(s, errors="coerce").astype(float).to_numpy()
        bad = s.notna().to_numpy() & np.isnan(v)
        if bad.any():
            raise SpecificationError(f"{where}: count column {c!r} must hold numbers; rows "
                                     f"{(np.flatnonzero(bad) + 1).tolist()[:10]} do not")
        neg = (v < 0) | np.isinf(v)
        if neg.any():
            raise SpecificationError(f"{where}: count column {c!r} has negative or infinite values "
                                     f"in rows {(np.flatnonzero(neg) + 1).tolist()[:10]}; counts are "
                                     "whole numbers >= 0")
        out[:, j] = v
    if hidden0 is not None:
        # cells hidden by an earlier pass are NaN already; keep them unknown
        out[hidden0] = np.nan
    return out


def _group_positions(table: pd.DataFrame, groups: list) -> list[list[int]]:
    if not groups:
        return [list(range(len(table)))]
    keys = table[groups].astype(object).where(table[groups].notna(), "\x00missing")
    codes = pd.MultiIndex.from_frame(keys).factorize()[0] if len(groups) > 1 \
        else pd.factorize(keys[groups[0]])[0]
    order = {}
    for i, code in enumerate(codes.tolist()):
        order.setdefault(code, []).append(i)
    return list(order.values())


def _total_rows(table, total, group_rows, *, exclude, where) -> list:
    if isinstance(total, Mapping):
        if len(total) != 1:
            raise SpecificationError(f"{where}: total as a dict names one column and its label, got "
                                     f"{dict(total)!r}")
        (col, label), = total.items()
        search = [col]
    elif isinstance(total, tuple):
        if len(total) != 2:
            raise SpecificationError(f"{where}: total as a tuple is (column, label), got {total!r}")
        col, label = total
        search = [col]
    else:
        label = total
        search = [c for c in table.columns if c not in exclude]
    missing = [c for c in search if c not in table.columns]
    if missing:
        raise UnknownNameError(f"{where}: total column {missing} not in the table; columns are "
                               f"{list(table.columns)}")
    hit = np.zeros(len(table), dtype=bool)
    for c in search:
        hit |= (table[c].astype(object) == label).fillna(False).to_numpy(bool)
    if not hit.any():
        raise SpecificationError(f"{where}: no row is labelled {label!r} in columns {search}; give the "
                                 "label of the total row, or total=None if the table has none")
    out = []
    for rows in group_rows:
        found = [i for i in rows if hit[i]]
        if len(found) > 1:
            raise SpecificationError(f"{where}: rows {[i + 1 for i in found]} of one group are all "
                                     f"labelled {label!r}; a group has one total row")
        out.append(found[0] if found else None)
    return out


def _row_labels(table: pd.DataFrame, candidates: list, first, *, skip=()) -> list[str]:
    """Readable row labels ("context=site, level=east") from the non-numeric descriptive columns."""
    def numeric(c):
        d = table[c].dtype
        return pd.api.types.is_numeric_dtype(d) and not pd.api.types.is_bool_dtype(d)

    chosen = [c for c in first if c in table.columns]
    chosen += [c for c in candidates if c not in chosen and c not in skip and not numeric(c)]
    if not chosen:
        chosen = [c for c in candidates if c not in skip]
    if not chosen:
        return [f"row {i + 1}" for i in range(len(table))]
    parts = []
    for c in chosen:
        parts.append([f"{c}={'missing' if _missing(v) else _fmt_label(v)}" for v in table[c].tolist()])
    return [", ".join(p) for p in zip(*parts)]

