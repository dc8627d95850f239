"""Synthetic cohort of mothers referred to a volunteer peer-support programme, with known truth.

:func:`simulate_cohort` writes the example cohort described by the bundled ``data_dictionary.yaml``:
item-level questionnaires (WEMWBS, EPDS, UCLA-3 and the mechanisms checklist) at four waves, context
covariates, take-up, delivery mode, volunteers, sessions attended and realistic drop-out that partly
depends on how the mother is doing. Every parameter comes from ``reference/evidence.md`` §7 (mostly
modelling assumptions marked [I] there), and every true effect is returned in
:class:`SimulationTruth`, so later tests can check that the models recover it.

The generating model
--------------------
Outcomes are simulated as latent *true totals* in each instrument's own points (WEMWBS 14–70, EPDS
0–30, UCLA-3 3–9), then turned into item answers whose expected sum equals the latent total (see
*Items* below). For mother *i*, outcome *y* and a questionnaire completed *t* weeks after her baseline
questionnaire::

    Y_iy(t) = mu_y + site_y + X_i beta_y + b0_iy                     (stable level)
              + (natural_y + b1_iy) * g(t)                         (natural course + random slope)
              + started_i * net_iy * g(t) * r(t)                   (effect of support)
              + e_iy(wave)                                         (occasion residual, AR(1))

    g(t) = min(t, 12) / 12          (change builds linearly to week 12, then is kept)
    r(t) = 1 - 0.1 * max(t - 12, 0) / 12   (10 % of the support effect fades by week 24)

The *net effect of support* for a starter in delivery mode m is, for y = WEMWBS or EPDS::

    net_iy = dose_i * d_y[m]                                       (direct effect, dose-scaled)
             + sum_k b_yk * M_ik                                   (mechanisms: b-paths)
             + iso_y * z_iso,i + dep_y * (deprived_i - 0.6)        (context, direct parts)
             + mis_y * (mismatch_i - 0.15) + v_y[volunteer_i]

    M_ik   = a[m, k] + (context shifts of the a-paths, centred) + u_ik,   u ~ N(0, R_mech)
    dose_i = clip(1 + 0.04 * (sessions_i - 7), 0.76, 1.40)
    z_iso  = (isolation - 4.75) / 2.0

and ``net = d_U[m]`` for UCLA-3. ``d_y[m]`` is set so that the expected 12-week change by mode equals
the §7.5 table (WEMWBS +5 / +3.5 / +6.5 for one-to-one / group / both, +2 without support; EPDS
−3.5 / −2.5 / −4.5, −1.5 without support), and the direct context coefficients are set so that the
*total* moderation (direct part plus the part through the mechanisms) equals the stated truths.
Site effects are drawn and then centred and scaled, so four sites never shift the marginals.
``v_y[volunteer_i]`` is the volunteer effect of the volunteers she met: her one-to-one volunteer's,
the mean of her group's facilitators (groups of about 6 mothers run by 3 volunteers of the site),
or half of each in ``both`` (:mod:`evalkit._sim_volunteers`; per-volunteer truth in
``.volunteers``, who met whom in ``.volunteer_contacts``).

Mechanisms are latent for starters only (``M`` above; a-paths by mode from §7.6, shifted by
isolation and cultural mismatch for feeling understood, first baby for normalisation, and mismatch
in group modes for negative comparison). Each is asked as one 0–4 item at mid and end, with
expected answer ``intercept + slope * M`` (see ``truth.mechanism_rating``).

Take-up is logistic (site, deprivation, cultural mismatch, complex needs). Starters leave early
with a hazard per third of their planned support of 0.085 times the §7.7 multipliers and a
U-shaped term in their own standardised trajectory ``z``; leavers with ``z > 0`` mostly give
``feeling_better``, the others ``referred_on`` or ``disengaged`` (not missing at random). Sessions
are 1 + negative binomial in proportion to the support received. Whether a questionnaire comes
back depends on the setting (``routine`` / ``trial``), on whether she was still in support and on
why she left.

Items
-----
For a latent total ``T`` of a K-item instrument with item range [lo, hi], item k has target mean
``lo + (T - K lo) w_k`` (item weights ``w`` sum to 1; a target above ``hi`` spills over to the other
items), so the targets sum to ``T``. The answer is ``clip(round(x_k + noise), lo, hi)`` with
``noise ~ N(0, sigma^2)`` and ``x_k`` chosen by inverting ``E[clip(round(x + noise))] = target``, so the
*expected* observed total equals the latent total exactly: rounding and clipping add measurement
error but no bias. About 1 % of answers are the missing code ``-9``.

Examples
--------
>>> import evalkit as ek
>>> sim = ek.simulate_cohort(n=50, seed=1)
>>> sim.participants.shape
(50, 20)
>>> list(sim.responses.columns[:4])
['participant_id', 'wave', 'assessed_on', 'wemwbs_1']
>>> sim.truth.change_by_mode["wemwbs"]
{'not_started': 2.0, 'one_to_one': 5.0, 'group': 3.5, 'both': 6.5}
"""

from __future__ import annotations

import copy
import dataclasses
import json
import numbers
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr

from ._sim_volunteers import (FACILITATORS, GROUP_SIZE, MOTHERS_PER_VOLUNTEER, assign_volunteers,
                              contacts_frame, volunteers_frame)
from .errors import SpecificationError

__all__ = ["simulate_cohort", "SimulatedCohort", "SimulationTruth",
           "PARTICIPANT_COLUMNS", "RESPONSE_COLUMNS"]

# ====================================================================== columns (the dictionary)
PARTICIPANT_COLUMNS = (
    "participant_id", "site", "referred_on", "age", "ethnicity", "born_uk", "imd_quintile",
    "first_baby", "partner", "mh_history", "antenatal", "isolation", "language_matched", "started",
    "delivery_mode", "volunteer_id", "sessions_attended", "first_session_on", "last_session_on",
    "exit_reason",
)
MECHANISMS = ("understood", "normalisation", "hope", "information", "negative_comparison")
MECH_COLUMNS = tuple(f"mech_{m}" for m in MECHANISMS)
INSTRUMENTS = {  # id: (number of items, lo, hi)
    "wemwbs": (14, 1, 5),
    "epds": (10, 0, 3),
    "ucla3": (3, 1, 3),
}
RESPONSE_COLUMNS = (
    "participant_id", "wave", "assessed_on",
    *(f"{ins}_{k}" for ins, (K, _, _) in INSTRUMENTS.items() for k in range(1, K + 1)),
    *MECH_COLUMNS,
)
WAVES = ("baseline", "mid", "end", "follow_up")
MODES = ("one_to_one", "group", "both")
OUTCOMES = ("wemwbs", "epds", "ucla3")
MISSING_SETTINGS = ("routine", "trial")
NOT_ANSWERED = -9  # the dictionary's missing code for "not answered"

# ====================================================================== design (evidence.md §7)
SITES = ("north", "east", "south", "west")
SITE_SHARES = np.array([0.25, 0.25, 0.25, 0.25])
SITE_MINORITY = np.array([0.20, 0.50, 0.25, 0.45])         # §7.3: 15–65 % by site, 35 % overall
MINORITY_GROUPS = ("white_other", "asian", "black", "mixed", "other")
MINORITY_SPLIT = np.array([0.25, 0.35, 0.22, 0.10, 0.08])
P_BORN_UK = {"white_british": 0.97, "minority": 0.34}       # 25 % non-UK-born overall
P_LANGUAGE_MATCHED = {"majority": 0.98, "minority_or_migrant": 0.60}
IMD_SHARES = np.array([0.35, 0.25, 0.17, 0.13, 0.10])      # quintile 1 (most deprived) … 5
IMD_MEAN = float(np.dot(np.arange(1, 6), IMD_SHARES))       # 2.38
P_FIRST_BABY, P_PARTNER, P_MH_HISTORY, P_ANTENATAL = 0.55, 0.80, 0.50, 0.30
AGE_MEAN, AGE_SD = 30.0, 5.8
ISO_BASE, ISO_NO_PARTNER, ISO_NOT_UK, ISO_NOISE = 4.15, 1.6, 1.0, 1.85
ISO_CENTER, ISO_SD = 4.75, 2.0                              # scaling of isolation in the effect model
DEP_CENTER, MIS_CENTER, FIRST_BABY_CENTER = 0.60, 0.15, 0.55
REFERRAL_START, REFERRAL_DAYS = np.datetime64("2023-01-01"), 731   # 2023-01-01 … 2024-12-31

# take-up (§7.1, §7.6, §7.7)
TAKEUP_TARGET = 0.70
TAKEUP_INTERCEPT = 1.19            # logit; gives ~70 % take-up with the odds ratios below
TAKEUP_SITE_SD = 0.5
TAKEUP_OR = {"deprived_q1_q2": 0.75, "cultural_mismatch": 0.60, "complex_needs": 0.70}
COMPLEX_EPDS = 20.0                # latent baseline EPDS at or above this = severe/complex needs
MODE_PROBS = np.array([0.57, 0.28, 0.15])

# outcomes: order (wemwbs, epds, ucla3); "benefit" is +1 for WEMWBS, -1 for EPDS and UCLA-3
SD_OBS = np.array([8.5, 4.5, 1.8])
MEAN0 = np.array([38.0, 14.0, 6.5])              # observed baseline means (design)
CEILING_SHIFT = np.array([0.0, 0.0, 0.07])      # latent UCLA-3 mean raised so clipping at 9 keeps 6.5
BENEFIT = np.array([1.0, -1.0, -1.0])
BETA_ISOLATION = np.array([-1.30, 0.25, 0.40])   # points per isolation unit at baseline
BETA_MH = np.array([-1.5, 1.2, 0.0])             # previous mental-health difficulties
BETA_DEPRIVATION = np.array([0.0, 0.25, 0.0])    # per quintile more deprived (EPDS Q1 - Q5 = +1)
SITE_OUTCOME_SD = np.array([1.70, 0.90, 0.36])   # 0.2 outcome-SD, one shared site factor
B0_SD = np.array([6.00, 3.18, 1.32])             # stable person level
B0_CORR = np.array([[1.0, -0.72, -0.40], [-0.72, 1.0, 0.45], [-0.40, 0.45, 1.0]])
SLOPE_SD = 0.3 * SD_OBS                          # random slope, per 12 weeks
SLOPE_CORR = np.array([[1.0, -0.6, -0.3], [-0.6, 1.0, 0.3], [-0.3, 0.3, 1.0]])
OCC_SD = np.array([4.4, 2.25, 0.80])              # occasion residual
OCC_CORR = np.array([[1.0, -0.7, -0.4], [-0.7, 1.0, 0.4], [-0.4, 0.4, 1.0]])
AR1_RHO = 0.3                                    # between adjacent waves
NATURAL_CHANGE = np.array([2.0, -1.5, 0.0])      # per 12 weeks, everyone (§7.5)
TOTAL_NET_BY_MODE = {                            # §7.5 change minus natural course, points
    "one_to_one": np.array([3.0, -2.0, -0.18]),
    "group": np.array([1.5, -1.0, -0.36]),
    "both": np.array([4.5, -3.0, -0.36]),
}
FADE_BY_WEEK_24 = 0.10
VOLUNTEER_SD_IN_SD = 0.1                         # on the net effect; one factor, WEMWBS and EPDS

# mechanisms (§7.6): latent units = SD of the mechanism without support
A_PATHS = {
    "one_to_one": np.array([0.50, 0.30, 0.40, 0.40, 0.05]),
    "group": np.array([0.40, 0.50, 0.30, 0.30, 0.25]),
    "both": np.array([0.50, 0.50, 0.40, 0.40, 0.25]),  # [I] the larger of the two, NSC as group
}
B_PATHS_SD = {  # outcome-SD per mechanism SD
    "wemwbs": np.array([0.25, 0.15, 0.15, 0.10, -0.30]),
    "epds": np.array([-0.20, 0.0, 0.0, 0.0, 0.25]),
}
MECH_CORR = np.array([[1.0, 0.3, 0.3, 0.3, -0.1],
                      [0.3, 1.0, 0.3, 0.3, -0.1],
                      [0.3, 0.3, 1.0, 0.3, -0.1],
                      [0.3, 0.3, 0.3, 1.0, -0.1],
                      [-0.1, -0.1, -0.1, -0.1, 1.0]])
A_SHIFT_FU_ISOLATION = 0.15       # per isolation SD (a(FU) x 1.3)
A_SHIFT_FU_MISMATCH = -0.20       # a(FU) x 0.6
A_SHIFT_NORM_FIRST_BABY = 0.08    # a(NORM) x 1.2
A_SHIFT_NSC_MISMATCH_GROUP = 0.25  # P(NSC in group) doubled
MECH_RATING = {  # expected 0–4 rating = intercept + slope * latent mechanism
    "understood": (2.0, 0.8), "normalisation": (2.0, 0.8), "hope": (2.0, 0.8),
    "information": (2.0, 0.8), "negative_comparison": (1.2, 0.65),
}

# moderation truths (outcome-SD, in the direction of benefit)
ISOLATION_TOTAL_SD = 0.10         # per isolation SD, starters
DEPRIVATION_TOTAL_SD = 0.05       # IMD quintile 1–2 vs 3–5
MISMATCH_TOTAL_SD = -0.15         # one-to-one; more in group modes (through negative comparison)

# dose (§7.5)
DOSE_SLOPE, DOSE_REF, DOSE_BOUNDS = 0.04, 7.0, (0.76, 1.40)
SESSIONS = {  # mode: (mean sessions if she completes, cap); "both" = one-to-one part + group part
    "one_to_one": (9.7, 14), "group": (6.0, 10),
}
SESSIONS_NB_SIZE = 20.0
SUPPORT_WEEKS = {"one_to_one": (10, 14), "group": (8, 10), "both": (12, 16)}
DESIGN_MEAN_SESSIONS = {"one_to_one": 8.0, "group": 5.0, "both": 13.0}

# drop-out (§7.7)
HAZARD_BASE = 0.085               # per third of the planned support (~4 weeks)
HAZARD_MULT = {"imd_q1": 1.3, "age_under_25": 1.4, "cultural_mismatch": 1.5,
               "group_high_nsc": 1.8, "low_early_fu": 1.6, "complex_needs": 1.5,
               "partnered_well_supported": 0.9}
HAZARD_TRAJECTORY = 0.4           # hazard x (1 + 0.4 z^2) / 1.4, z = standardised own trajectory
FEELING_BETTER = (-0.4, 1.2)     # P(leaves "feeling better" | leaves) = expit(-0.4 + 1.2 z)
RESPOND = {  # P(questionnaire returned)
    "routine": {"mid_in_support": 0.85, "mid_left": 0.30,
                "end": {"completed": 0.76, "feeling_better": 0.30, "disengaged": 0.15,
                        "referred_on": 0.35},
                "follow_up_if_end": 0.62, "follow_up_if_no_end": 0.15,
                "not_started": None},
    "trial": {"mid_in_support": 0.92, "mid_left": 0.70,
              "end": {"completed": 0.92, "feeling_better": 0.80, "disengaged": 0.72,
                      "referred_on": 0.80},
              "follow_up_if_end": 0.92, "follow_up_if_no_end": 0.50,
              "not_started": {"end": 0.85, "follow_up_if_end": 0.90, "follow_up_if_no_end": 0.45}},
}
WAVE_WEEKS = {  # mean, SD, bounds (inside the dictionary's windows)
    "mid": (6.5, 1.2, 3.3, 9.7), "end": (12.5, 1.8, 9.3, 19.7), "follow_up": (25.0, 2.5, 20.3, 35.7),
}
P_ITEM_MISSING = 0.01

# items: weights (sum to 1 after normalising) and noise SD
ITEM_WEIGHTS = {
    "wemwbs": np.array([1.00, 0.95, 1.05, 1.00, 0.90, 1.00, 1.05, 0.95, 1.05, 1.00, 1.00, 0.95,
                        1.05, 1.05]),
    "epds": np.array([1.00, 0.95, 1.20, 1.25, 1.10, 1.25, 1.00, 1.10, 1.00, 0.06]),
    "ucla3": np.array([1.0, 1.0, 1.0]),
}
ITEM_SIGMA = {"wemwbs": 0.65, "epds": 0.55, "ucla3": 0.45, "mechanism": 0.45}


# ====================================================================== result objects
@dataclass(frozen=True, eq=False)
class SimulationTruth:
    """The true parameters and effects behind a simulated cohort.

    Changes are in each instrument's own points over 12 weeks (baseline to the end of support).
    Dicts keyed by outcome use ``"wemwbs"``, ``"epds"`` and (where relevant) ``"ucla3"``. *Design*
    values are the model's parameters (expected values in the population); *realised* values are
    averages of the simulated mothers' true (latent, error-free) quantities in this sample, which is
    what a correctly specified model fitted to the full, complete data would estimate.

    Attributes
    ----------
    n, seed, missing : int, int, str
        The arguments of :func:`simulate_cohort`.
    change_by_mode : dict
        Design: expected true change from baseline to week 12, per outcome, for ``not_started``
        (natural course), ``one_to_one``, ``group`` and ``both`` (§7.5).
    change_by_mode_realised : dict
        Realised: mean true 12-week change per outcome and group, plus ``"starters"`` (all starters).
    mean_change_starters : dict
        Design: expected 12-week change among starters, per outcome (mode shares as designed).
    mean_change_starters_realised : dict
        Realised: mean true 12-week change among this sample's starters.
    net_effect_by_mode : dict
        Design: change by mode minus the natural course (the effect of support), per outcome.
    natural_change : dict
        Natural course per outcome (everyone, whether or not she started), per 12 weeks.
    follow_up_retention : float
        Share of the effect of support kept at week 24 (the natural course is kept in full); the
        effect fades linearly after week 12 (0.8 at week 36).
    direct_effect_by_mode : dict
        ``d_y[m]``: the part of the net effect that is multiplied by the dose factor.
    indirect_effect_by_mode : dict
        ``sum_k a[m, k] * b_yk``: the part of the net effect carried by the mechanisms.
    dose_response : dict
        ``factor = clip(1 + per_session * (sessions - reference_sessions), *bounds)`` multiplies
        ``d_y[m]``; ``design_mean_sessions`` per mode were used to set ``d_y[m]``;
        ``points_per_session`` is ``per_session * d_y[m]`` (the slope within the bounds).
    isolation_scale : dict
        ``center`` and ``sd`` of isolation (0–10) used in the effect model:
        ``z = (isolation - 4.75) / 2``.
    isolation_slope_per_sd, isolation_slope_per_unit : dict
        Total moderation of the 12-week change among starters by isolation, in points per isolation
        SD (2 units) and per unit (+0.10 outcome-SD per SD in the direction of benefit), per outcome.
    deprivation_effect : dict
        Extra 12-week change among starters living in IMD quintile 1–2 vs 3–5, per outcome
        (+0.05 outcome-SD of benefit).
    mismatch_effect : dict
        Change in the 12-week effect for a culturally mismatched starter (ethnic minority or born
        abroad, and not language- or culture-matched), per outcome and mode: −0.15 outcome-SD
        of benefit in one-to-one, more in group modes through negative comparison.
    moderation_decomposition : dict
        The direct coefficients (points) of isolation (per SD), deprivation and mismatch in the net
        effect, and the centring constants used.
    a_paths : dict
        Mode → mechanism → mean latent mechanism score of starters in that mode (latent units: SD of
        the mechanism without support, 0 = no support), at the centred context profile.
    a_path_moderators : dict
        Mechanism → context → shift of the latent mechanism (centred contexts, latent units).
    b_paths : dict
        Outcome → mechanism → points of 12-week change per latent mechanism unit (§7.6 in SD units
        times the outcome SD).
    b_paths_per_rating_point : dict
        The b-paths per point of the expected 0–4 rating (``b / rating slope``); a regression on the
        observed ratings is attenuated by their measurement error (``mechanism_rating``).
    mechanism_rating : dict
        Mechanism → ``intercept``, ``slope`` (expected rating = intercept + slope × latent, within
        0–4), ``noise_sd`` of one answer, and ``reliability`` of one answer among starters.
    mechanism_correlation : list of list
        Correlation of the latent mechanism residuals (order of ``mechanisms``).
    mechanisms : list of str
        Mechanism names in column order (``mech_<name>``).
    baseline : dict
        Design baseline ``mean`` and ``sd`` of the observed totals (§7.3), per outcome.
    baseline_effects : dict
        Points per unit at baseline: ``isolation`` (per unit, centred at ``isolation_center``),
        ``mh_history``, ``deprivation_step`` (per quintile more deprived), ``site`` (per site factor).
    random_effects : dict
        SDs and correlations (order wemwbs, epds, ucla3) of the stable person level, the random slope
        (per 12 weeks, same shape ``g(t)`` as the natural course), the AR(1) occasion residual
        (``ar1_rho`` between adjacent waves), the volunteer effect on the net effect, and the
        measurement-error SD of the observed total.
    volunteers : dict
        How mothers meet volunteers: ``mothers_per_volunteer`` (design, per site),
        ``group_size`` (mothers per group course), ``facilitators_per_group``, the ``weights``
        of the paired volunteer and of the group's facilitators (mean) in a mother's volunteer
        effect by mode, and, realised, ``n_volunteers``, ``n_groups``, the SD of the mothers'
        volunteer effects on 12-week change (``effect_sd_among_starters``, per outcome, smaller
        than ``random_effects.volunteer_sd`` because a group averages its facilitators) and
        ``share_of_change_variance``: the variance of those effects over the variance of the
        starters' true 12-week change, per outcome (what a model's volunteer share of the
        variation in change estimates).
    sites : dict
        Site → ``takeup_logit`` and ``outcome_factor`` (normal draws, centred and scaled to SD 0.5
        and 1, so four sites never shift the marginals), the site's ``baseline_effect`` in points
        per outcome, and its ``minority_share``.
    takeup : dict
        ``target`` (0.70), logit ``intercept``, ``odds_ratios`` (deprived IMD 1–2, cultural mismatch,
        complex needs = latent baseline EPDS ≥ 20), ``site_sd``, realised ``rate``.
    mode_probabilities : dict
        Delivery-mode shares among starters (independent of context).
    dropout : dict
        Hazard per third of planned support and its multipliers (§7.7), the trajectory term, and the
        questionnaire return probabilities for the chosen missing-data setting.
    realised : dict
        Shares in this sample: take-up, modes, exit reasons, missing end and follow-up among
        starters (and among all referred), mean sessions by mode.
    """

    n: int
    seed: int
    missing: str
    change_by_mode: dict
    change_by_mode_realised: dict
    mean_change_starters: dict
    mean_change_starters_realised: dict
    net_effect_by_mode: dict
    natural_change: dict
    follow_up_retention: float
    direct_effect_by_mode: dict
    indirect_effect_by_mode: dict
    dose_response: dict
    isolation_scale: dict
    isolation_slope_per_sd: dict
    isolation_slope_per_unit: dict
    deprivation_effect: dict
    mismatch_effect: dict
    moderation_decomposition: dict
    a_paths: dict
    a_path_moderators: dict
    b_paths: dict
    b_paths_per_rating_point: dict
    mechanism_rating: dict
    mechanism_correlation: list
    mechanisms: list
    baseline: dict
    baseline_effects: dict
    random_effects: dict
    volunteers: dict
    sites: dict
    takeup: dict
    mode_probabilities: dict
    dropout: dict
    realised: dict

    def as_dict(self) -> dict:
        """All fields as plain JSON-ready Python values."""
        return _plain(dataclasses.asdict(self))

    def to_json(self) -> str:
        """The truth as indented JSON text (keys sorted, so the text is reproducible)."""
        return json.dumps(self.as_dict(), indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True, eq=False)
class SimulatedCohort:
    """A simulated cohort: the two data files as frames, and the truth behind them.

    Attributes
    ----------
    participants : pandas.DataFrame
        One row per referred mother, columns exactly as dataset ``participants`` of the bundled data
        dictionary (booleans as ``bool``, dates as ``datetime64``, blanks as missing).
    responses : pandas.DataFrame
        One row per returned questionnaire, columns exactly as dataset ``responses``; item answers
        are integers with ``-9`` for "not answered"; mechanism items are missing (``<NA>``) where
        they were not asked (baseline, follow-up).
    truth : SimulationTruth
        The true parameters and effects.
    latent : pandas.DataFrame
        Per mother, the error-free quantities behind the data (for checking methods): the 12-week
        true changes ``true_change_<outcome>``, latent mechanisms ``mech_<name>`` (starters),
        ``dose_factor``, ``isolation_z``, ``deprived``, ``cultural_mismatch``, ``complex_needs``,
        ``trajectory_z`` (standardised own trajectory that drives drop-out), the latent baseline
        totals ``baseline_<outcome>`` and the volunteer effect on WEMWBS.
    volunteers : pandas.DataFrame
        One row per volunteer (the truth, not a data file): ``volunteer_id``, ``site``,
        ``effect_wemwbs`` and ``effect_epds`` (her effect on a mother's 12-week change, points, in
        each instrument's direction), ``mothers_one_to_one`` and ``groups`` run.
    volunteer_contacts : pandas.DataFrame
        One row per mother and volunteer she met (starters): ``participant_id``, ``volunteer_id``,
        ``role`` (``one_to_one`` or ``group``), ``group`` (course number) and ``weight`` of that
        volunteer in her volunteer effect (see :mod:`evalkit._sim_volunteers`).
    """

    participants: pd.DataFrame
    responses: pd.DataFrame
    truth: SimulationTruth
    latent: pd.DataFrame
    volunteers: pd.DataFrame
    volunteer_contacts: pd.DataFrame

    def write(self, out_dir: str | Path, *, truth: bool = True) -> tuple[Path, Path]:
        """Write ``responses.csv`` and ``participants.csv`` (and ``truth.json``) into ``out_dir``.

        The folder is created if needed. Files are byte-for-byte reproducible: ISO dates
        (``YYYY-MM-DD``), ``true``/``false`` booleans, isolation to one decimal, blanks for missing
        values, ``\\n`` line ends.

        Parameters
        ----------
        out_dir : str or Path
            Folder to write into.
        truth : bool, default True
            Also write ``truth.json`` (the :class:`SimulationTruth` as JSON) beside the data. It is
            not a data file, so it is not returned.

        Returns
        -------
        tuple of Path
            ``(responses_path, participants_path)``.
        """
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpecificationError(
                f"cannot create output folder {str(out)!r}: {exc.strerror}; choose a writable path"
            ) from None
        resp_path, people_path = out / "responses.csv", out / "participants.csv"
        _csv_frame(self.responses).to_csv(resp_path, index=False, lineterminator="\n")
        _csv_frame(self.participants).to_csv(people_path, index=False, lineterminator="\n")
        if truth:
            (out / "truth.json").write_text(self.truth.to_json(), encoding="utf-8")
        return resp_path, people_path

    def __repr__(self) -> str:
        return (f"SimulatedCohort(n={self.truth.n}, seed={self.truth.seed}, "
                f"missing={self.truth.missing!r}, responses={len(self.responses)} rows)")


# ====================================================================== public entry point
def simulate_cohort(n: int = 600, *, seed: int = 1, missing: str = "routine",
                    volunteer_sd: float = VOLUNTEER_SD_IN_SD,
                    mothers_per_volunteer: float = MOTHERS_PER_VOLUNTEER) -> SimulatedCohort:
    """Simulate a cohort of mothers referred to a volunteer peer-support programme.

    Follows ``reference/evidence.md`` §7: four sites, ~70 % take-up (site logit SD 0.5), one-to-one
    (~57 %), group (~28 %) or both (~15 %) among starters, volunteers nested in site, sessions
    attended, four questionnaire waves (baseline at referral, mid ~6 weeks, end ~12 weeks,
    follow-up ~24 weeks), mechanism ratings at mid and end, and drop-out that depends on context and
    on how the mother is doing (not missing at random). The module docstring gives the model.

    Parameters
    ----------
    n : int, default 600
        Number of mothers referred (one row each in ``participants``; each has a baseline
        questionnaire).
    seed : int, default 1
        Seed of :func:`numpy.random.default_rng`; the same arguments give identical
        data and files.
    missing : {"routine", "trial"}, keyword-only
        ``"routine"``: routine service data, ~40 % of starters miss the end questionnaire and ~55 %
        the follow-up; mothers who did not start have only their baseline. ``"trial"``: trial-grade
        follow-up, ~13 % / ~14 % missing, and mothers who did not start are also followed up at end
        and follow-up.
    volunteer_sd : float, default 0.1, keyword-only
        SD between volunteers of their effect on a mother's 12-week change, in outcome SDs
        (WEMWBS and EPDS; evidence.md §7 assumes 0.1). Larger values make the volunteer level
        easier to recover, as a design study of volunteer variation needs.
    mothers_per_volunteer : float, default 2.5, keyword-only
        Mothers who start support per volunteer in each site (§7.1: one volunteer per 2–3
        mothers); more mothers per volunteer identify the volunteer level better.

    Returns
    -------
    SimulatedCohort
        ``.participants``, ``.responses``, ``.truth`` (:class:`SimulationTruth`), ``.latent``, and
        ``.write(out_dir)``.

    Raises
    ------
    SpecificationError
        If ``n`` is not a positive integer, ``seed`` not a non-negative integer, ``missing`` not
        one of ``"routine"``, ``"trial"``, ``volunteer_sd`` negative or ``mothers_per_volunteer``
        below 1.

    Examples
    --------
    >>> import evalkit as ek
    >>> sim = ek.simulate_cohort(n=200, seed=1)
    >>> sim.participants.shape, sim.participants["participant_id"].iloc[0]
    ((200, 20), 'P00001')
    >>> set(sim.responses["participant_id"]) == set(sim.participants["participant_id"])
    True
    >>> sim.truth.change_by_mode["epds"]["one_to_one"], sim.truth.isolation_slope_per_sd["wemwbs"]
    (-3.5, 0.85)
    """
    n, seed, missing = _check_arguments(n, seed, missing)
    vol_design = _check_volunteer_design(volunteer_sd, mothers_per_volunteer)
    rng = np.random.default_rng(seed)
    ctx = _context(rng, n)
    site = _sites(rng)
    person = _person_effects(rng, ctx, site)
    eng = _engagement(rng, ctx, site, person, vol_design)
    net = _net_effects(ctx, eng)
    resp, present = _responses(rng, ctx, person, eng, net, missing)
    participants = _participants_frame(ctx, eng)
    latent = _latent_frame(ctx, person, eng, net)
    truth = _truth(n, seed, missing, site, person, eng, net, present)
    vol = eng["volunteers"]
    effects = np.outer(eng["vol_effect"], BENEFIT[:2] * eng["volunteer_sd"])
    return SimulatedCohort(
        participants=participants, responses=resp, truth=truth, latent=latent,
        volunteers=volunteers_frame(vol, effects=effects, sites=SITES, outcomes=OUTCOMES[:2]),
        volunteer_contacts=contacts_frame(vol, participant_id=ctx["participant_id"]))


# ====================================================================== argument checks
def _check_arguments(n, seed, missing):
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise SpecificationError(
            f"simulate_cohort(): n={n!r} is not a valid number of referred mothers; "
            "pass a positive integer such as n=600")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise SpecificationError(
            f"simulate_cohort(): seed={seed!r} is not a valid seed; pass a non-negative integer "
            "such as seed=1 (the same seed gives the same cohort)")
    if not isinstance(missing, str) or missing not in MISSING_SETTINGS:
        raise SpecificationError(
            f"simulate_cohort(): missing={missing!r} is not a missing-data setting; use "
            "missing='routine' (service data, ~40% missing at end) or missing='trial' (~13%)")
    return int(n), int(seed), missing


def _check_volunteer_design(volunteer_sd, mothers_per_volunteer) -> dict[str, Any]:
    """The volunteer SD (points, WEMWBS and EPDS) and starters per volunteer, checked."""
    def number(x):
        return isinstance(x, numbers.Real) and not isinstance(x, bool) and np.isfinite(x)

    if not number(volunteer_sd) or volunteer_sd < 0:
        raise SpecificationError(
            f"simulate_cohort(): volunteer_sd={volunteer_sd!r} is not a valid SD; pass a "
            f"non-negative number of outcome SDs such as volunteer_sd={VOLUNTEER_SD_IN_SD}")
    if not number(mothers_per_volunteer) or mothers_per_volunteer < 1:
        raise SpecificationError(
            f"simulate_cohort(): mothers_per_volunteer={mothers_per_volunteer!r} is not valid; "
            f"pass a number of at least 1 such as mothers_per_volunteer={MOTHERS_PER_VOLUNTEER}")
    return {"volunteer_sd": float(volunteer_sd) * SD_OBS[:2],
            "mothers_per_volunteer": float(mothers_per_volunteer)}


# ====================================================================== context
def _context(rng: np.random.Generator, n: int) -> dict[str, Any]:
    width = max(5, len(str(n)))
    ids = np.array([f"P{i:0{width}d}" for i in range(1, n + 1)], dtype=object)
    site = rng.choice(len(SITES), size=n, p=SITE_SHARES)
    referred = REFERRAL_START + rng.integers(0, REFERRAL_DAYS, size=n).astype("timedelta64[D]")
    age = np.clip(np.rint(rng.normal(AGE_MEAN, AGE_SD, n)), 16, 50).astype(np.int64)

    minority = rng.random(n) < SITE_MINORITY[site]
    group = rng.choice(len(MINORITY_GROUPS), size=n, p=MINORITY_SPLIT)
    ethnicity = np.where(minority, np.array(MINORITY_GROUPS, dtype=object)[group], "white_british")
    born_uk = rng.random(n) < np.where(minority, P_BORN_UK["minority"], P_BORN_UK["white_british"])
    imd = rng.choice(5, size=n, p=IMD_SHARES) + 1
    first_baby = rng.random(n) < P_FIRST_BABY
    partner = rng.random(n) < P_PARTNER
    mh_history = rng.random(n) < P_MH_HISTORY
    antenatal = rng.random(n) < P_ANTENATAL
    isolation_raw = (ISO_BASE + ISO_NO_PARTNER * ~partner + ISO_NOT_UK * ~born_uk
                     + ISO_NOISE * rng.standard_normal(n))
    isolation = np.round(np.clip(isolation_raw, 0.0, 10.0), 1)
    minority_or_migrant = minority | ~born_uk
    p_match = np.where(minority_or_migrant, P_LANGUAGE_MATCHED["minority_or_migrant"],
                       P_LANGUAGE_MATCHED["majority"])
    language_matched = rng.random(n) < p_match
    mismatch = minority_or_migrant & ~language_matched
    return {
        "n": n, "participant_id": ids, "site": site, "referred_on": referred, "age": age,
        "ethnicity": ethnicity.astype(object), "born_uk": born_uk, "imd_quintile": imd,
        "first_baby": first_baby, "partner": partner, "mh_history": mh_history,
        "antenatal": antenatal, "isolation": isolation, "language_matched": language_matched,
        "mismatch": mismatch, "deprived": imd <= 2,
        "isolation_z": (isolation - ISO_CENTER) / ISO_SD,
    }


def _standardised(draws: np.ndarray) -> np.ndarray:
    """Draws centred and scaled to mean 0, SD 1 (so four sites never drift the marginals)."""
    centred = draws - draws.mean()
    return centred / centred.std()


def _sites(rng: np.random.Generator) -> dict[str, np.ndarray]:
    takeup = TAKEUP_SITE_SD * _standardised(rng.standard_normal(len(SITES)))
    outcome = _standardised(rng.standard_normal(len(SITES)))
    return {"takeup_logit": takeup, "outcome_factor": outcome}


def _mvnorm(rng: np.random.Generator, size: int, sd: np.ndarray, corr: np.ndarray) -> np.ndarray:
    chol = np.linalg.cholesky(corr)
    return (rng.standard_normal((size, len(sd))) @ chol.T) * sd


# ====================================================================== person-level outcome model
def _person_effects(rng, ctx, site) -> dict[str, np.ndarray]:
    n = ctx["n"]
    stable = (MEAN0 + CEILING_SHIFT
              + np.outer(site["outcome_factor"][ctx["site"]], SITE_OUTCOME_SD * BENEFIT)
              + np.outer(ctx["isolation"] - ISO_CENTER, BETA_ISOLATION)
              + np.outer(ctx["mh_history"] - 0.5, BETA_MH)
              + np.outer(IMD_MEAN - ctx["imd_quintile"], BETA_DEPRIVATION)
              + _mvnorm(rng, n, B0_SD, B0_CORR))
    slope = _mvnorm(rng, n, SLOPE_SD, SLOPE_CORR)
    # occasion residuals: AR(1) across the four waves, correlated across outcomes
    eps = np.stack([_mvnorm(rng, n, OCC_SD, OCC_CORR) for _ in WAVES], axis=1)  # n x 4 x 3
    occ = np.empty_like(eps)
    occ[:, 0] = eps[:, 0]
    for w in range(1, len(WAVES)):
        occ[:, w] = AR1_RHO * occ[:, w - 1] + np.sqrt(1 - AR1_RHO ** 2) * eps[:, w]
    baseline_latent = stable + occ[:, 0]
    return {"stable": stable, "slope": slope, "occ": occ, "baseline_latent": baseline_latent,
            "complex_needs": baseline_latent[:, 1] >= COMPLEX_EPDS}


# ====================================================================== engagement
def _engagement(rng, ctx, site, person, vol_design) -> dict[str, Any]:
    n = ctx["n"]
    complex_needs = person["complex_needs"]
    logit = (TAKEUP_INTERCEPT + site["takeup_logit"][ctx["site"]]
             + np.log(TAKEUP_OR["deprived_q1_q2"]) * ctx["deprived"]
             + np.log(TAKEUP_OR["cultural_mismatch"]) * ctx["mismatch"]
             + np.log(TAKEUP_OR["complex_needs"]) * complex_needs)
    started = rng.random(n) < expit(logit)
    mode = np.where(started, rng.choice(3, size=n, p=MODE_PROBS), -1)
    group_exposed = (mode == 1) | (mode == 2)

    # latent mechanisms (starters; NaN otherwise)
    a = np.zeros((n, len(MECHANISMS)))
    for m, name in enumerate(MODES):
        a[mode == m] = A_PATHS[name]
    shift = np.zeros_like(a)
    shift[:, 0] = (A_SHIFT_FU_ISOLATION * ctx["isolation_z"]
                   + A_SHIFT_FU_MISMATCH * (ctx["mismatch"] - MIS_CENTER))
    shift[:, 1] = A_SHIFT_NORM_FIRST_BABY * (ctx["first_baby"] - FIRST_BABY_CENTER)
    shift[:, 4] = A_SHIFT_NSC_MISMATCH_GROUP * (ctx["mismatch"] - MIS_CENTER) * group_exposed
    u = _mvnorm(rng, n, np.ones(len(MECHANISMS)), MECH_CORR)
    mech = np.where(started[:, None], a + shift + u, np.nan)

    # the mother's own trajectory (random slope + mechanism noise), standardised: drives drop-out
    b_w = B_PATHS_SD["wemwbs"] * SD_OBS[0]
    sd_z = np.sqrt(SLOPE_SD[0] ** 2 + b_w @ MECH_CORR @ b_w)
    traj_z = (person["slope"][:, 0] + u @ b_w) / sd_z

    mult = np.ones(n)
    mult *= np.where(ctx["imd_quintile"] == 1, HAZARD_MULT["imd_q1"], 1.0)
    mult *= np.where(ctx["age"] < 25, HAZARD_MULT["age_under_25"], 1.0)
    mult *= np.where(ctx["mismatch"], HAZARD_MULT["cultural_mismatch"], 1.0)
    mult *= np.where(group_exposed & (np.nan_to_num(mech[:, 4]) > 1.0),
                     HAZARD_MULT["group_high_nsc"], 1.0)
    mult *= np.where(started & (np.nan_to_num(mech[:, 0]) < -0.5), HAZARD_MULT["low_early_fu"], 1.0)
    mult *= np.where(complex_needs, HAZARD_MULT["complex_needs"], 1.0)
    mult *= np.where(ctx["partner"] & (ctx["isolation"] < 5), HAZARD_MULT["partnered_well_supported"],
                     1.0)
    mult *= (1 + HAZARD_TRAJECTORY * traj_z ** 2) / (1 + HAZARD_TRAJECTORY)
    hazard = np.minimum(HAZARD_BASE * mult, 0.95)
    leave_draw = rng.random((n, 3)) < hazard[:, None]
    left = started & leave_draw.any(axis=1)
    block = np.where(left, leave_draw.argmax(axis=1), 3)
    frac = np.where(left, (block + rng.random(n)) / 3.0, 1.0)   # share of planned support received

    # why she left: improvers feel better, non-responders are referred on or stop coming
    reason = np.full(n, "not_started", dtype=object)
    reason[started] = "completed"
    fb = rng.random(n) < expit(FEELING_BETTER[0] + FEELING_BETTER[1] * traj_z)
    p_ref = np.clip(0.25 + 0.35 * complex_needs + 0.15 * (traj_z < -0.5), 0, 1)
    ref = rng.random(n) < p_ref
    reason[left] = np.where(fb[left], "feeling_better",
                            np.where(ref[left], "referred_on", "disengaged"))

    # sessions: 1 + negative binomial with mean in proportion to the support received
    sessions = np.zeros(n, dtype=np.int64)
    parts = {"one_to_one": (mode == 0) | (mode == 2), "group": group_exposed}
    for part, mask in parts.items():
        mean_c, cap = SESSIONS[part]
        mu = (mean_c - 1.0) * frac
        p = SESSIONS_NB_SIZE / (SESSIONS_NB_SIZE + mu)
        draw = 1 + rng.negative_binomial(SESSIONS_NB_SIZE, p)
        sessions += np.where(mask, np.minimum(draw, cap), 0)
    sessions = np.minimum(sessions, 40)

    # dates (days): baseline questionnaire, first and last session
    baseline_on = ctx["referred_on"] + rng.integers(0, 15, size=n).astype("timedelta64[D]")
    first_try = ctx["referred_on"] + rng.integers(7, 29, size=n).astype("timedelta64[D]")
    first_on = np.maximum(first_try, baseline_on + np.timedelta64(1, "D"))
    lo_w = np.array([SUPPORT_WEEKS[m][0] for m in MODES] + [0])[mode]
    hi_w = np.array([SUPPORT_WEEKS[m][1] for m in MODES] + [0])[mode]
    planned_weeks = lo_w + (hi_w - lo_w) * rng.random(n)
    span = np.rint(7 * planned_weeks * frac).astype(np.int64)
    span = np.where(sessions <= 1, 0, np.maximum(span, sessions - 1))
    last_on = first_on + span.astype("timedelta64[D]")
    support_end_week = ((last_on - baseline_on).astype(np.int64)) / 7.0

    # volunteers nested in site; one-to-one pairs and group courses run by several volunteers
    vol = assign_volunteers(rng, started=started, site=ctx["site"], mode=mode, n_sites=len(SITES),
                            mothers_per_volunteer=vol_design["mothers_per_volunteer"])
    vol_effect = rng.standard_normal(max(vol["n_volunteers"], 1))

    return {"started": started, "mode": mode, "group_exposed": group_exposed, "mech": mech,
            "traj_z": traj_z, "hazard": hazard, "left": left, "frac": frac, "exit_reason": reason,
            "sessions": sessions, "baseline_on": baseline_on,
            "first_session_on": first_on, "last_session_on": last_on,
            "support_end_week": support_end_week, "volunteer_id": vol["volunteer_id"],
            "vol_index": vol["vol_index"], "vol_effect": vol_effect,
            "n_volunteers": vol["n_volunteers"], "volunteers": vol, **vol_design}


# ====================================================================== effect of support
def _design_effects() -> dict[str, Any]:
    """Direct, indirect and moderator coefficients implied by the design truths (points)."""
    b = {y: B_PATHS_SD[y] * SD_OBS[i] for i, y in enumerate(OUTCOMES[:2])}
    indirect = {y: {m: float(A_PATHS[m] @ b[y]) for m in MODES} for y in b}
    direct = {}
    for i, y in enumerate(OUTCOMES):
        direct[y] = {}
        for m in MODES:
            ind = indirect[y][m] if y in indirect else 0.0
            dose = 1 + DOSE_SLOPE * (DESIGN_MEAN_SESSIONS[m] - DOSE_REF) if y != "ucla3" else 1.0
            dose = float(np.clip(dose, *DOSE_BOUNDS))
            direct[y][m] = (TOTAL_NET_BY_MODE[m][i] - ind) / dose
    iso_total, dep_total, mis_total, iso_direct, mis_direct, mis_group_extra = {}, {}, {}, {}, {}, {}
    for i, y in enumerate(OUTCOMES[:2]):
        sd, sign = SD_OBS[i], BENEFIT[i]
        iso_total[y] = sign * ISOLATION_TOTAL_SD * sd
        dep_total[y] = sign * DEPRIVATION_TOTAL_SD * sd
        mis_total[y] = sign * MISMATCH_TOTAL_SD * sd
        iso_direct[y] = iso_total[y] - b[y][0] * A_SHIFT_FU_ISOLATION
        mis_direct[y] = mis_total[y] - b[y][0] * A_SHIFT_FU_MISMATCH
        mis_group_extra[y] = b[y][4] * A_SHIFT_NSC_MISMATCH_GROUP
    return {"b": b, "indirect": indirect, "direct": direct, "iso_total": iso_total,
            "dep_total": dep_total, "mis_total": mis_total, "iso_direct": iso_direct,
            "mis_direct": mis_direct, "mis_group_extra": mis_group_extra}


def _net_effects(ctx, eng) -> dict[str, np.ndarray]:
    n = ctx["n"]
    des = _design_effects()
    started, mode = eng["started"], eng["mode"]
    dose = np.clip(1 + DOSE_SLOPE * (eng["sessions"] - DOSE_REF), *DOSE_BOUNDS)
    # her volunteer effect: paired volunteer, mean of her group's facilitators, or half of each
    weights = eng["volunteers"]["weights"]
    vol = weights @ eng["vol_effect"][:weights.shape[1]] if weights.shape[1] else np.zeros(n)
    net = np.zeros((n, 3))
    mech = np.nan_to_num(eng["mech"])
    for i, y in enumerate(OUTCOMES):
        d = np.array([des["direct"][y][m] for m in MODES] + [0.0])[mode]
        if y == "ucla3":
            net[:, i] = d
            continue
        net[:, i] = (dose * d + mech @ des["b"][y]
                     + des["iso_direct"][y] * ctx["isolation_z"]
                     + des["dep_total"][y] * (ctx["deprived"] - DEP_CENTER)
                     + des["mis_direct"][y] * (ctx["mismatch"] - MIS_CENTER)
                     + BENEFIT[i] * eng["volunteer_sd"][i] * vol)
    net[~started] = 0.0
    return {"net": net, "dose": np.where(started, dose, np.nan), "vol": vol, "design": des}


# ====================================================================== questionnaires
def _wave_days(rng, n, wave) -> np.ndarray:
    mean, sd, lo, hi = WAVE_WEEKS[wave]
    return np.rint(7 * np.clip(rng.normal(mean, sd, n), lo, hi)).astype(np.int64)


def _g(t: np.ndarray) -> np.ndarray:
    return np.minimum(t, 12.0) / 12.0


def _retention(t: np.ndarray) -> np.ndarray:
    return 1.0 - FADE_BY_WEEK_24 * np.maximum(t - 12.0, 0.0) / 12.0


def _responses(rng, ctx, person, eng, net, missing):
    n = ctx["n"]
    started, reason = eng["started"], eng["exit_reason"]
    # which questionnaires come back
    present = np.zeros((n, 4), dtype=bool)
    present[:, 0] = True
    days = np.zeros((n, 4), dtype=np.int64)
    for w, wave in enumerate(WAVES[1:], start=1):
        days[:, w] = _wave_days(rng, n, wave)
    weeks = days / 7.0
    p = RESPOND[missing]
    draws = rng.random((n, 3))
    in_support_at_mid = eng["support_end_week"] >= weeks[:, 1]
    present[:, 1] = started & (draws[:, 0] < np.where(in_support_at_mid, p["mid_in_support"],
                                                       p["mid_left"]))
    p_end = np.zeros(n)
    for r, pr in p["end"].items():
        p_end[reason == r] = pr
    ns = p["not_started"]
    if ns is not None:
        p_end[~started] = ns["end"]
    present[:, 2] = draws[:, 1] < p_end
    p_fu = np.where(present[:, 2], p["follow_up_if_end"], p["follow_up_if_no_end"])
    if ns is not None:
        p_fu = np.where(started, p_fu, np.where(present[:, 2], ns["follow_up_if_end"],
                                                ns["follow_up_if_no_end"]))
    else:
        p_fu = np.where(started, p_fu, 0.0)
    present[:, 3] = draws[:, 2] < p_fu

    # latent totals at every wave (n x 4 x 3)
    g, ret = _g(weeks), _retention(weeks)
    latent = (person["stable"][:, None, :]
              + (NATURAL_CHANGE + person["slope"])[:, None, :] * g[:, :, None]
              + net["net"][:, None, :] * (g * ret)[:, :, None]
              + person["occ"])

    row_i, row_w = np.nonzero(present)           # C order: participant, then wave
    m = len(row_i)
    cols: dict[str, Any] = {
        "participant_id": ctx["participant_id"][row_i],
        "wave": np.array(WAVES, dtype=object)[row_w],
        "assessed_on": eng["baseline_on"][row_i] + days[row_i, row_w].astype("timedelta64[D]"),
    }
    for j, ins in enumerate(OUTCOMES):
        K, lo, hi = INSTRUMENTS[ins]
        items = _itemize(rng, latent[row_i, row_w, j], ITEM_WEIGHTS[ins], lo, hi, ITEM_SIGMA[ins])
        items[rng.random(items.shape) < P_ITEM_MISSING] = NOT_ANSWERED
        for k in range(K):
            cols[f"{ins}_{k + 1}"] = items[:, k]
    asked = ((row_w == 1) | (row_w == 2)) & started[row_i]   # mid and end, starters only
    mech = eng["mech"][row_i]
    for k, name in enumerate(MECHANISMS):
        c0, c1 = MECH_RATING[name]
        target = c0 + c1 * np.nan_to_num(mech[:, k])
        score = _itemize(rng, target, np.ones(1), 0, 4, ITEM_SIGMA["mechanism"])[:, 0]
        score[rng.random(m) < P_ITEM_MISSING] = NOT_ANSWERED
        cols[MECH_COLUMNS[k]] = pd.array(np.where(asked, score, 0), dtype="Int64")
        cols[MECH_COLUMNS[k]][~asked] = pd.NA
    frame = pd.DataFrame(cols, columns=list(RESPONSE_COLUMNS))
    frame["assessed_on"] = pd.to_datetime(frame["assessed_on"]).astype("datetime64[ns]")
    return frame, present


@lru_cache(maxsize=None)
def _inverse_grid(lo: int, hi: int, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid of (expected answer, location) for E[clip(round(x + N(0, sigma^2)), lo, hi)]."""
    x = np.linspace(lo - 0.5 - 5 * sigma, hi + 0.5 + 5 * sigma, 4001)
    expected = lo + sum(ndtr((x - (j + 0.5)) / sigma) for j in range(lo, hi))
    keep = np.concatenate([[True], np.diff(expected) > 1e-12])
    return expected[keep], x[keep]


def _itemize(rng, totals, weights, lo, hi, sigma) -> np.ndarray:
    """Integer item answers whose expected sum equals ``totals`` (clipped to the scale range)."""
    K = len(weights)
    w = np.asarray(weights, float) / np.sum(weights)
    eps = 0.005
    t = np.clip(np.asarray(totals, float), K * lo, K * hi)
    target = lo + (t - K * lo)[:, None] * w[None, :]
    cap = hi - eps
    for _ in range(K):  # a target above the ceiling spills over to the items with room left
        over = np.maximum(target - cap, 0.0)
        excess = over.sum(axis=1)
        if not np.any(excess > 1e-12):
            break
        target -= over
        room = np.where(target < cap - 1e-12, w[None, :], 0.0)
        total_room = room.sum(axis=1, keepdims=True)
        share = np.divide(room, total_room, out=np.zeros_like(room), where=total_room > 0)
        target += excess[:, None] * share
    target = np.clip(target, lo + eps, cap)
    expected, loc = _inverse_grid(lo, hi, float(sigma))
    x = np.interp(target, expected, loc)
    answers = np.clip(np.rint(x + sigma * rng.standard_normal(x.shape)), lo, hi)
    return answers.astype(np.int64)


# ====================================================================== frames
def _dates(values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype="datetime64[ns]"))


def _participants_frame(ctx, eng) -> pd.DataFrame:
    started = eng["started"]
    mode = np.where(started, np.array(MODES + ("",), dtype=object)[eng["mode"]], None)
    nat = np.datetime64("NaT")
    frame = pd.DataFrame({
        "participant_id": ctx["participant_id"],
        "site": np.array(SITES, dtype=object)[ctx["site"]],
        "referred_on": _dates(ctx["referred_on"]),
        "age": ctx["age"],
        "ethnicity": ctx["ethnicity"],
        "born_uk": ctx["born_uk"],
        "imd_quintile": ctx["imd_quintile"].astype(np.int64),
        "first_baby": ctx["first_baby"],
        "partner": ctx["partner"],
        "mh_history": ctx["mh_history"],
        "antenatal": ctx["antenatal"],
        "isolation": ctx["isolation"],
        "language_matched": ctx["language_matched"],
        "started": started,
        "delivery_mode": mode,
        "volunteer_id": eng["volunteer_id"],
        "sessions_attended": eng["sessions"],
        "first_session_on": _dates(np.where(started, eng["first_session_on"], nat)),
        "last_session_on": _dates(np.where(started, eng["last_session_on"], nat)),
        "exit_reason": eng["exit_reason"],
    }, columns=list(PARTICIPANT_COLUMNS))
    return frame


def _latent_frame(ctx, person, eng, net) -> pd.DataFrame:
    change = NATURAL_CHANGE + person["slope"] + net["net"]
    out = {"participant_id": ctx["participant_id"]}
    for j, y in enumerate(OUTCOMES):
        out[f"true_change_{y}"] = change[:, j]
    for j, y in enumerate(OUTCOMES):
        out[f"baseline_{y}"] = person["baseline_latent"][:, j]
    for k, name in enumerate(MECHANISMS):
        out[f"mech_{name}"] = eng["mech"][:, k]
    out.update({
        "dose_factor": net["dose"], "isolation_z": ctx["isolation_z"], "deprived": ctx["deprived"],
        "cultural_mismatch": ctx["mismatch"], "complex_needs": person["complex_needs"],
        "trajectory_z": eng["traj_z"], "volunteer_effect_wemwbs": net["vol"] * eng["volunteer_sd"][0],
    })
    return pd.DataFrame(out)


def _csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the text written to CSV (dates ISO, booleans true/false, blanks for missing)."""
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_bool_dtype(s.dtype):
            out[col] = np.where(s.to_numpy(bool), "true", "false")
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            out[col] = s.dt.strftime("%Y-%m-%d").fillna("")
        elif pd.api.types.is_float_dtype(s.dtype):
            out[col] = [("" if np.isnan(v) else f"{v:.1f}") for v in s.to_numpy(float)]
        elif isinstance(s.dtype, pd.Int64Dtype):
            out[col] = s.astype("string").fillna("")
        else:
            out[col] = s.astype(object).where(s.notna(), "")
    return out


# ====================================================================== truth
def _r(x: float, digits: int = 4) -> float:
    return float(round(float(x), digits))


def _truth(n, seed, missing, site, person, eng, net, present) -> SimulationTruth:
    des = net["design"]
    started, mode = eng["started"], eng["mode"]
    change = NATURAL_CHANGE + person["slope"] + net["net"]

    change_by_mode, net_by_mode, realised = {}, {}, {}
    mean_starters, mean_starters_real = {}, {}
    for j, y in enumerate(OUTCOMES):
        nat = NATURAL_CHANGE[j]
        change_by_mode[y] = {"not_started": _r(nat), **{m: _r(nat + TOTAL_NET_BY_MODE[m][j])
                                                         for m in MODES}}
        net_by_mode[y] = {m: _r(TOTAL_NET_BY_MODE[m][j]) for m in MODES}
        groups = {"not_started": ~started, **{m: mode == k for k, m in enumerate(MODES)},
                  "starters": started}
        realised[y] = {g: (_r(change[mask, j].mean()) if mask.any() else None)
                       for g, mask in groups.items()}
        mean_starters[y] = _r(nat + sum(p * TOTAL_NET_BY_MODE[m][j]
                                        for p, m in zip(MODE_PROBS, MODES)))
        mean_starters_real[y] = realised[y]["starters"]

    b_points = {y: {k: _r(v) for k, v in zip(MECHANISMS, des["b"][y])} for y in des["b"]}
    rating = {}
    for k, name in enumerate(MECHANISMS):
        c0, c1 = MECH_RATING[name]
        noise_var = _rating_noise_var(c0 + c1 * A_PATHS["one_to_one"][k], ITEM_SIGMA["mechanism"])
        rating[name] = {"intercept": c0, "slope": c1, "noise_sd": _r(np.sqrt(noise_var)),
                        "reliability": _r(c1 ** 2 / (c1 ** 2 + noise_var), 3)}

    n_start = int(started.sum())
    exit_counts = {r: int((eng["exit_reason"] == r).sum())
                   for r in ("completed", "feeling_better", "referred_on", "disengaged", "not_started")}
    share = (lambda mask, of: _r(mask.sum() / of.sum(), 4) if of.any() else None)
    real = {
        "takeup": _r(started.mean()),
        "modes": {m: share((mode == k), started) for k, m in enumerate(MODES)},
        "exit_reasons": exit_counts,
        "missing_mid_starters": share(~present[:, 1] & started, started),
        "missing_end_starters": share(~present[:, 2] & started, started),
        "missing_follow_up_starters": share(~present[:, 3] & started, started),
        "missing_end_all": _r(1 - present[:, 2].mean()),
        "missing_follow_up_all": _r(1 - present[:, 3].mean()),
        "mean_sessions": {m: (_r(eng["sessions"][mode == k].mean(), 3) if (mode == k).any() else None)
                          for k, m in enumerate(MODES)},
        "n_started": n_start,
        "n_volunteers": int(eng["n_volunteers"]),
        "mothers_per_volunteer": (_r(n_start / eng["n_volunteers"], 3)
                                  if eng["n_volunteers"] else None),
    }

    meas_sd = {ins: _r(np.sqrt(_measurement_var(ins, MEAN0[j])), 3)
               for j, ins in enumerate(OUTCOMES)}
    return SimulationTruth(
        n=n, seed=seed, missing=missing,
        change_by_mode=change_by_mode,
        change_by_mode_realised=realised,
        mean_change_starters=mean_starters,
        mean_change_starters_realised=mean_starters_real,
        net_effect_by_mode=net_by_mode,
        natural_change={y: _r(v) for y, v in zip(OUTCOMES, NATURAL_CHANGE)},
        follow_up_retention=1 - FADE_BY_WEEK_24,
        direct_effect_by_mode={y: {m: _r(v) for m, v in d.items()} for y, d in des["direct"].items()},
        indirect_effect_by_mode={y: {m: _r(v) for m, v in d.items()}
                                 for y, d in des["indirect"].items()},
        dose_response={"per_session": DOSE_SLOPE, "reference_sessions": DOSE_REF,
                       "bounds": list(DOSE_BOUNDS), "design_mean_sessions": dict(DESIGN_MEAN_SESSIONS),
                       "points_per_session": {y: {m: _r(DOSE_SLOPE * des["direct"][y][m])
                                                  for m in MODES} for y in OUTCOMES[:2]}},
        isolation_scale={"center": ISO_CENTER, "sd": ISO_SD},
        isolation_slope_per_sd={y: _r(v) for y, v in des["iso_total"].items()},
        isolation_slope_per_unit={y: _r(v / ISO_SD) for y, v in des["iso_total"].items()},
        deprivation_effect={y: _r(v) for y, v in des["dep_total"].items()},
        mismatch_effect={y: {"one_to_one": _r(des["mis_total"][y]),
                             "group": _r(des["mis_total"][y] + des["mis_group_extra"][y]),
                             "both": _r(des["mis_total"][y] + des["mis_group_extra"][y])}
                         for y in des["mis_total"]},
        moderation_decomposition={
            "isolation_direct_per_sd": {y: _r(v) for y, v in des["iso_direct"].items()},
            "deprivation_direct": {y: _r(v) for y, v in des["dep_total"].items()},
            "mismatch_direct": {y: _r(v) for y, v in des["mis_direct"].items()},
            "centering": {"isolation": ISO_CENTER, "deprived": DEP_CENTER,
                          "cultural_mismatch": MIS_CENTER, "first_baby": FIRST_BABY_CENTER},
        },
        a_paths={m: {k: float(v) for k, v in zip(MECHANISMS, A_PATHS[m])} for m in MODES},
        a_path_moderators={
            "understood": {"isolation_per_sd": A_SHIFT_FU_ISOLATION,
                           "cultural_mismatch": A_SHIFT_FU_MISMATCH},
            "normalisation": {"first_baby": A_SHIFT_NORM_FIRST_BABY},
            "negative_comparison": {"cultural_mismatch_in_group_modes": A_SHIFT_NSC_MISMATCH_GROUP},
        },
        b_paths=b_points,
        b_paths_per_rating_point={y: {k: _r(v / MECH_RATING[k][1]) for k, v in d.items()}
                                  for y, d in b_points.items()},
        mechanism_rating=rating,
        mechanism_correlation=MECH_CORR.tolist(),
        mechanisms=list(MECHANISMS),
        baseline={y: {"mean": float(MEAN0[j]), "sd": float(SD_OBS[j])}
                  for j, y in enumerate(OUTCOMES)},
        baseline_effects={
            "isolation": dict(zip(OUTCOMES, BETA_ISOLATION.tolist())),
            "isolation_center": ISO_CENTER,
            "mh_history": dict(zip(OUTCOMES, BETA_MH.tolist())),
            "deprivation_step": dict(zip(OUTCOMES, BETA_DEPRIVATION.tolist())),
            "site": dict(zip(OUTCOMES, (SITE_OUTCOME_SD * BENEFIT).tolist())),
        },
        random_effects={
            "person_sd": dict(zip(OUTCOMES, B0_SD.tolist())), "person_corr": B0_CORR.tolist(),
            "slope_sd": dict(zip(OUTCOMES, SLOPE_SD.round(4).tolist())),
            "slope_corr": SLOPE_CORR.tolist(), "intercept_slope_corr": 0.0,
            "occasion_sd": dict(zip(OUTCOMES, OCC_SD.tolist())), "occasion_corr": OCC_CORR.tolist(),
            "ar1_rho": AR1_RHO,
            "volunteer_sd": dict(zip(OUTCOMES[:2], eng["volunteer_sd"].round(4).tolist())),
            "site_sd": dict(zip(OUTCOMES, SITE_OUTCOME_SD.tolist())),
            "measurement_sd_at_baseline_mean": meas_sd,
        },
        volunteers=_volunteer_truth(eng, net, change),
        sites={s: {"takeup_logit": _r(site["takeup_logit"][i]),
                   "outcome_factor": _r(site["outcome_factor"][i]),
                   "baseline_effect": {y: _r(site["outcome_factor"][i] * SITE_OUTCOME_SD[j]
                                             * BENEFIT[j]) for j, y in enumerate(OUTCOMES)},
                   "minority_share": float(SITE_MINORITY[i])}
               for i, s in enumerate(SITES)},
        takeup={"target": TAKEUP_TARGET, "intercept": TAKEUP_INTERCEPT, "odds_ratios": dict(TAKEUP_OR),
                "site_sd": TAKEUP_SITE_SD, "complex_needs_epds": COMPLEX_EPDS,
                "rate": _r(started.mean())},
        mode_probabilities={m: float(p) for m, p in zip(MODES, MODE_PROBS)},
        dropout={"hazard_per_third_of_support": HAZARD_BASE, "multipliers": dict(HAZARD_MULT),
                 "trajectory_term": f"x (1 + {HAZARD_TRAJECTORY} z^2) / {1 + HAZARD_TRAJECTORY}",
                 "feeling_better_logit": list(FEELING_BETTER),
                 "respond": copy.deepcopy(RESPOND[missing])},
        realised=real,
    )


def _volunteer_truth(eng, net, change) -> dict:
    started = eng["started"]
    effect = np.outer(net["vol"], BENEFIT[:2] * eng["volunteer_sd"])[started]
    var_change = change[started, :2].var(axis=0) if started.sum() > 1 else np.full(2, np.nan)
    sd = effect.std(axis=0) if started.any() else np.full(2, np.nan)
    return {
        "mothers_per_volunteer": eng["mothers_per_volunteer"], "group_size": GROUP_SIZE,
        "facilitators_per_group": FACILITATORS,
        "weights": {"one_to_one": {"paired": 1.0, "group": 0.0},
                    "group": {"paired": 0.0, "group": 1.0},
                    "both": {"paired": 0.5, "group": 0.5}},
        "n_volunteers": int(eng["n_volunteers"]),
        "n_groups": int(eng["volunteers"]["n_groups"]),
        "effect_sd_among_starters": {y: (_r(sd[j]) if np.isfinite(sd[j]) else None)
                                     for j, y in enumerate(OUTCOMES[:2])},
        "share_of_change_variance": {y: (_r(sd[j] ** 2 / var_change[j])
                                         if np.isfinite(var_change[j]) and var_change[j] > 0
                                         else None) for j, y in enumerate(OUTCOMES[:2])},
    }


def _rating_noise_var(target: float, sigma: float, lo: int = 0, hi: int = 4) -> float:
    expected, loc = _inverse_grid(lo, hi, float(sigma))
    x = float(np.interp(target, expected, loc))
    vals = np.arange(lo, hi + 1)
    upper = np.append(ndtr((x - (vals[:-1] + 0.5)) / sigma), 0.0)
    lower = np.insert(ndtr((x - (vals[:-1] + 0.5)) / sigma), 0, 1.0)
    prob = lower - upper
    mean = float(prob @ vals)
    return float(prob @ (vals - mean) ** 2)


def _measurement_var(instrument: str, total: float) -> float:
    K, lo, hi = INSTRUMENTS[instrument]
    w = ITEM_WEIGHTS[instrument] / ITEM_WEIGHTS[instrument].sum()
    targets = np.clip(lo + (total - K * lo) * w, lo + 0.005, hi - 0.005)
    return float(sum(_rating_noise_var(t, ITEM_SIGMA[instrument], lo, hi) for t in targets))


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_plain(v) for v in obj.tolist()]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj)
    return obj
