"""The words of evalkit's public API: one meaning for each parameter name, in every function.

Column roles (the nine words)
-----------------------------
============  ==========================================================================================
``data``      The long frame: one row per participant × wave (what :func:`evalkit.build_cohort`
              returns). Always the first parameter of a function that analyses rows.
``outcome``   The outcome column, a scored total such as ``"wemwbs"`` (a list of columns where a
              function scans several outcomes).
``subject``   The column identifying the participant (the mother). Default ``"participant_id"``
              everywhere; never required.
``time``      The *numeric* time column, weeks since the participant's baseline. Default ``"weeks"``.
``wave``      The wave *column* (planned measurement occasion). Default ``"wave"``. A *level* of
              it is passed in a parameter whose name ends in ``_wave``: ``baseline_wave``,
              ``end_wave``, ``from_wave``.
``by``        The grouping or moderating column(s): results are given for each of its levels (a
              categorical column) or at chosen values (a numeric one). Replaces ``group``,
              ``moderator`` and ``contexts``.
``covariates``  Adjustment (or auxiliary) columns entered alongside the effect of interest: a list
              of column names. Replaces ``predictors`` and ``variables``.
``at``        Where to evaluate: a mapping ``{column: value or values}``; the rows are the
              combinations. Where a function has a single moderator ``by``, a plain list is short
              for ``{by: list}``.
``change``    A ``(start, end)`` pair of values of ``time``: the change between them is estimated.
============  ==========================================================================================

Rules
-----
* The primary inputs (at most two: the data, a fitted model, the paths, the before/after scores)
  may be positional; every other parameter is keyword-only.
* Required roles have no default (``outcome``); roles with one sensible column name have the same
  default everywhere (``subject="participant_id"``, ``time="weeks"``, ``wave="wave"``).
* A fitted model passed to a function is ``fit``; a callable that fits one is ``model``.
* Old names are accepted for one release through :func:`evalkit._compat.renamed`, with an
  :class:`~evalkit.errors.EvalkitDeprecationWarning` naming the new one (see :data:`RENAMED`).
* Results that come from a model or a test are :class:`~evalkit._result.Result` objects (``.table``,
  ``.to_frame()``, ``.raw``, ``summary()`` → DataFrame, a readable ``repr`` and ``_repr_html_``);
  descriptive tables are plain DataFrames.

The other parameter names (:data:`OPTIONS`) are domain options with one meaning each as well; a
test (``tests/test_api.py``) walks ``evalkit.__all__`` and fails on any parameter name that is in
neither list.

Examples
--------
>>> from evalkit._vocabulary import ROLES, OPTIONS
>>> sorted(ROLES)
['at', 'by', 'change', 'covariates', 'data', 'outcome', 'subject', 'time', 'wave']
>>> "predictors" in ROLES or "predictors" in OPTIONS
False
"""

from __future__ import annotations

__all__ = ["ROLES", "OPTIONS", "RENAMED", "DEFAULTS"]

#: The nine role words and what each means (see the module docstring).
ROLES = {
    "data": "the long frame, one row per participant × wave",
    "outcome": "the outcome column (or columns, where several are scanned)",
    "subject": "the participant id column; default 'participant_id'",
    "time": "the numeric time column (weeks since baseline); default 'weeks'",
    "wave": "the wave column; default 'wave'; a level of it is passed as <role>_wave",
    "by": "grouping or moderating column(s)",
    "covariates": "adjustment or auxiliary columns, a list",
    "at": "where to evaluate: {column: values} (a list is short for {by: list})",
    "change": "a (start, end) pair of time values",
}

#: Defaults a role takes wherever it has one.
DEFAULTS = {"subject": "participant_id", "time": "weeks", "wave": "wave"}

#: Domain-specific parameter names allowed in the public API, each with its one meaning.
OPTIONS = {
    # inputs other than the long frame
    "fit": "a fitted model (MixedResult, GEEResult, …)",
    "model": "a callable that fits a model to one data set and returns the fit",
    "estimate": "a callable that turns a fit into a tidy estimate table",
    "estimates": "point estimates (pool) or an Estimates object (pairwise)",
    "variances": "sampling variances matching `estimates`",
    "fits": "several fitted models (pool_fits), or a dict to be filled with fits (context_scan)",
    "imputed": "an ImputedData from multiple_imputation",
    "cox": "a CoxResult",
    "smaller": "the nested (smaller) model of a likelihood-ratio test",
    "larger": "the larger model of a likelihood-ratio test",
    "scan": "a context_scan table",
    "patterns": "a missingness_patterns table",
    "before": "scores at the first occasion",
    "after": "scores at the second occasion",
    "result": "a result object (or its table) to summarise",
    "wide": "a wide frame, one row per participant",
    "path": "a file path",
    "paths_or_frames": "files or frames to validate",
    "plan": "an analysis plan (path or AnalysisPlan)",
    "dictionary": "a DataDictionary (or its YAML path)",
    # wave levels (the `<role>_wave` rule)
    "baseline_wave": "the wave level that is the baseline",
    "end_wave": "the wave level that is the end of support",
    "from_wave": "the first wave level affected (later waves too)",
    # columns with a role of their own
    "baseline": "the baseline-score column (ANCOVA)",
    "duration": "time-to-event column",
    "event": "event indicator column (1/True = event)",
    "strata": "stratification column(s) (survival models)",
    "sessions": "the sessions-attended column",
    "started": "the column saying whether the participant started support",
    "exposure": "the exposure (treatment) column in mediation",
    "mediator": "the mediator column",
    "mediators": "the mediator column(s)",
    "effect": "the focal numeric predictor whose effect is conditioned (usually time)",
    "values": "the column(s) spread to wide form",
    "stubs": "the column stems gathered to long form",
    "levels": "the wave levels, in order, of a wide frame",
    # model specification
    "fixed": "the fixed-effects formula (right-hand side)",
    "random": "the random-effects terms",
    "correlated": "estimate correlations between random terms",
    "reml": "REML (True) or ML (False)",
    "engine": "the fitting engine",
    "ddf": "the denominator-df method for tests of fixed effects",
    "reference": "reference level(s) of categorical predictors",
    "centre": "columns to centre at their mean",
    "simplify": "simplify a singular random-effects structure",
    "correlation": "the GEE working correlation",
    "family": "the GEE family",
    "method": "the method of the computation (named choices listed in each function)",
    "stage": "the path moderated in moderated mediation ('first' or 'second')",
    "exposure_levels": "(control, treated) levels of a two-level exposure",
    # inference
    "confidence": "confidence level of intervals, e.g. 0.95",
    "conf_type": "how survival confidence intervals are formed ('log-log', 'log', 'plain')",
    "ties": "how tied event times are handled in a Cox model ('efron', 'breslow')",
    "adjust": "multiple-testing adjustment ('holm', 'bh', 'bonferroni', 'none', …)",
    "null": "the value a conclusion is about (no effect)",
    "overall": "the overall estimate, drawn as a reference line",
    "n_boot": "number of bootstrap resamples",
    "seed": "random seed",
    "df_complete": "complete-data degrees of freedom (Barnard–Rubin)",
    "names": "names for the pooled parameters",
    "deltas": "shifts of imputed values (tipping point)",
    "row": "the row of an estimate table to follow",
    "higher_is": "direction of the outcome ('better' or 'worse')",
    "direction": "direction of the outcome ('better' or 'worse')",
    "threshold": "a percentage or count threshold",
    "min_n": "smallest group analysed",
    "n_points": "number of points of a curve",
    "extend": "how far a curve extends beyond the observed range (fraction of the range)",
    "m": "number of imputations",
    "iterations": "iterations of each imputation chain",
    "donors": "donors for predictive mean matching",
    "n": "number of participants to simulate",
    # scoring and measurement
    "instrument": "an instrument id (or spec)",
    "scale": "a scale (total or subscale) of an instrument",
    "coding": "how item values are coded ('scored' or 'position')",
    "items": "{item number: column} for non-standard column names",
    "missing_codes": "values that mean 'missing'",
    "missing": "how much missingness to simulate",
    "volunteer_sd": "SD between volunteers of their effect on change, in outcome SDs (simulator)",
    "mothers_per_volunteer": "mothers who start support per volunteer (simulator)",
    "on_invalid": "what to do with invalid item values",
    "clinical": "the clinical-significance criterion",
    "warn": "raise warnings (True) or only record them",
    # data handling and output
    "all_waves": "keep every wave (True) or only those with data",
    "today": "the date used to check dates are not in the future",
    "sheet": "the spreadsheet sheet to read",
    "validation_flow": "a validation flow table to start the participant flow from",
    "ax": "a matplotlib Axes to draw on",
    "out": "output folder",
    "progress": "show a progress bar",
    "pdf": "also print the reports to PDF",
    # power by simulation
    "from_fit": "a pilot MixedResult whose estimates are the truth simulated from (editable)",
    "effects": "true fixed effects by term name, as in fit.fixed['term']",
    "variance": "true variance components: intercept_sd, slope_sd, correlation, residual_sd",
    "waves": "the times of the waves, in units of time (weeks since baseline)",
    "allocation": "the share of mothers in each level of `by`",
    "dropout": "cumulative share of mothers lost by each wave (overall or per level of `by`)",
    "dropout_odds": "odds ratio of drop-out per SD of a covariate {covariate: ratio}",
    "test": "the term or contrast {term: weight} tested",
    "sizes": "numbers of participants to try",
    "nsim": "number of simulated studies (per size)",
    "alpha": "significance level of a test",
    "n_jobs": "local processes to run on (joblib; -1 all cores)",
    "scheduler": "a Dask scheduler address or distributed.Client to run on",
    "checkpoint": "a Parquet file results are added to as they arrive, so a stopped run resumes",
}

#: Old parameter names still accepted for one release: {function: {old: new}}.
RENAMED: dict[str, dict[str, object]] = {}
