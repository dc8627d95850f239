"""Volunteers and group sessions for the simulator (:mod:`evalkit.simulate`).

Every site has a pool of volunteers, about one per 2.5 mothers who start support (evidence.md §7.1:
1 volunteer per 2–3 mothers). A mother in one-to-one support (modes ``one_to_one`` and ``both``)
is paired with one volunteer of her site. Mothers in group support (modes ``group`` and ``both``)
are put in groups of about :data:`GROUP_SIZE` mothers of the same site, each run by
:data:`FACILITATORS` volunteers of that site, so a mother in a group meets several volunteers and a
volunteer meets mothers in different roles (a crossed, multiple-membership structure, as in
Bradford's programme: 9 group courses reached 51 families, §7 table).

The volunteer effect on the mother's net effect of support (points over 12 weeks, one standard
normal draw per volunteer, scaled by ``volunteer_sd`` of :func:`evalkit.simulate_cohort`) is her
paired volunteer's effect in one-to-one support, the mean of her group's facilitators in group support,
and the average of the two in ``both``. The recorded ``volunteer_id`` is her paired volunteer, or
her group's lead facilitator if she only attended groups — what a charity's records hold. The
full contacts are returned so that the truth is exposed; a model with one ``volunteer_id`` per
mother is an approximation to this structure, as it would be on real data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["GROUP_SIZE", "FACILITATORS", "MOTHERS_PER_VOLUNTEER", "assign_volunteers",
           "volunteers_frame", "contacts_frame"]

MOTHERS_PER_VOLUNTEER = 2.5
"""Starters per volunteer in each site (§7.1: one volunteer per 2–3 mothers)."""
GROUP_SIZE = 6
"""Mothers per group course (Bradford: 51 families in 9 courses, about 6 each)."""
FACILITATORS = 3
"""Volunteers who run each group (or all of the site's volunteers, if fewer)."""


def assign_volunteers(rng: np.random.Generator, *, started: np.ndarray, site: np.ndarray,
                      mode: np.ndarray, n_sites: int,
                      mothers_per_volunteer: float = MOTHERS_PER_VOLUNTEER) -> dict[str, Any]:
    """Pair mothers with volunteers and group courses; return indices, labels and weights.

    ``mode`` codes 0 = one-to-one, 1 = group, 2 = both, -1 = not started. Returns a dict with
    ``vol_index`` (the recorded volunteer per mother, -1 if none), ``volunteer_id`` (its label),
    ``group_index`` (-1 if none), ``facilitators`` (one array of volunteer indices per group),
    ``one_to_one`` (mothers paired with a volunteer), ``volunteer_site``, ``labels``,
    ``n_volunteers``, ``n_groups`` and ``weights``: a dense
    mothers x volunteers matrix whose row ``i`` gives the weight of each volunteer in mother
    ``i``'s volunteer effect (rows of starters sum to 1; other rows are 0).

    >>> rng = np.random.default_rng(1)
    >>> out = assign_volunteers(rng, started=np.array([True] * 6 + [False]),
    ...                         site=np.zeros(7, int), mode=np.array([0, 0, 1, 1, 2, 2, -1]),
    ...                         n_sites=1)
    >>> out["n_volunteers"], out["n_groups"], out["weights"].sum(axis=1).round(6).tolist()
    (2, 1, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    """
    n = started.size
    one_to_one = started & ((mode == 0) | (mode == 2))
    in_group = started & ((mode == 1) | (mode == 2))
    vol_index = np.full(n, -1, dtype=np.int64)
    group_index = np.full(n, -1, dtype=np.int64)
    volunteer_site, facilitators = [], []
    for s in range(n_sites):
        members = np.flatnonzero(started & (site == s))
        k = int(max(1, round(len(members) / mothers_per_volunteer))) if len(members) else 0
        first = len(volunteer_site)
        volunteer_site.extend([s] * k)
        if not k:
            continue
        paired = np.flatnonzero(one_to_one & (site == s))
        vol_index[paired] = first + rng.permutation(len(paired)) % k
        grouped = np.flatnonzero(in_group & (site == s))
        n_groups = int(np.ceil(len(grouped) / GROUP_SIZE))
        slots = rng.permutation(len(grouped)) % max(n_groups, 1)
        for g in range(n_groups):
            group_index[grouped[slots == g]] = len(facilitators)
            facilitators.append(first + rng.choice(k, size=min(FACILITATORS, k), replace=False))
    n_vol = len(volunteer_site)
    # a mother only in groups is recorded under her group's lead facilitator
    group_only = in_group & ~one_to_one
    vol_index[group_only] = [facilitators[g][0] for g in group_index[group_only]]
    weights = np.zeros((n, n_vol))
    rows = np.flatnonzero(one_to_one)
    own_share = np.where(in_group[rows], 0.5, 1.0)
    weights[rows, vol_index[rows]] += own_share
    for i in np.flatnonzero(in_group):
        fac = facilitators[group_index[i]]
        weights[i, fac] += (0.5 if one_to_one[i] else 1.0) / len(fac)
    width = max(3, len(str(n_vol)))
    labels = np.array([f"V{i:0{width}d}" for i in range(1, n_vol + 1)], dtype=object)
    volunteer = np.full(n, None, dtype=object)
    volunteer[started] = labels[vol_index[started]]
    return {"vol_index": vol_index, "volunteer_id": volunteer, "group_index": group_index,
            "one_to_one": one_to_one,
            "facilitators": facilitators,
            "volunteer_site": np.array(volunteer_site, dtype=np.int64),
            "labels": labels, "n_volunteers": n_vol, "n_groups": len(facilitators),
            "weights": weights}


def volunteers_frame(vol: dict[str, Any], *, effects: np.ndarray, sites: tuple,
                     outcomes: tuple) -> pd.DataFrame:
    """One row per volunteer: ``volunteer_id``, ``site``, ``effect_<outcome>`` (points of 12-week
    change, in the direction of the instrument), ``mothers_one_to_one`` and ``groups`` run.

    >>> vol = assign_volunteers(np.random.default_rng(1), started=np.ones(3, bool),
    ...                         site=np.zeros(3, int), mode=np.array([0, 1, 2]), n_sites=1)
    >>> volunteers_frame(vol, effects=np.array([[1.0, -0.5]]), sites=("north",),
    ...                  outcomes=("wemwbs", "epds")).columns.tolist()
    ['volunteer_id', 'site', 'effect_wemwbs', 'effect_epds', 'mothers_one_to_one', 'groups']
    """
    n_vol = vol["n_volunteers"]
    groups = np.zeros(n_vol, dtype=np.int64)
    for fac in vol["facilitators"]:
        groups[fac] += 1
    out = {"volunteer_id": vol["labels"],
           "site": np.array(sites, dtype=object)[vol["volunteer_site"]]}
    for j, y in enumerate(outcomes):
        out[f"effect_{y}"] = effects[:n_vol, j]
    paired = vol["vol_index"][vol["one_to_one"]]
    out.update({"mothers_one_to_one": np.bincount(paired, minlength=n_vol), "groups": groups})
    return pd.DataFrame(out)


def contacts_frame(vol: dict[str, Any], *, participant_id: np.ndarray) -> pd.DataFrame:
    """One row per mother and volunteer she met: ``participant_id``, ``volunteer_id``, ``role``
    (``one_to_one`` or ``group``), ``group`` (course number, ``<NA>`` for one-to-one) and
    ``weight`` in her volunteer effect (a mother's weights sum to 1).

    >>> vol = assign_volunteers(np.random.default_rng(1), started=np.ones(3, bool),
    ...                         site=np.zeros(3, int), mode=np.array([0, 1, 2]), n_sites=1)
    >>> c = contacts_frame(vol, participant_id=np.array(["P1", "P2", "P3"]))
    >>> c.groupby("participant_id")["weight"].sum().round(6).tolist()
    [1.0, 1.0, 1.0]
    """
    rows = []
    for i in np.flatnonzero(vol["one_to_one"]):
        v = vol["vol_index"][i]
        share = 0.5 if vol["group_index"][i] >= 0 else 1.0
        rows.append((participant_id[i], vol["labels"][v], "one_to_one", pd.NA, share))
    for i in np.flatnonzero(vol["group_index"] >= 0):
        g = vol["group_index"][i]
        fac = vol["facilitators"][g]
        share = (0.5 if vol["one_to_one"][i] else 1.0) / len(fac)
        rows.extend((participant_id[i], vol["labels"][v], "group", g + 1, share) for v in fac)
    frame = pd.DataFrame(rows, columns=["participant_id", "volunteer_id", "role", "group",
                                        "weight"])
    frame["group"] = frame["group"].astype("Int64")
    return frame.sort_values(["participant_id", "role", "volunteer_id"], kind="stable",
                             ignore_index=True)
