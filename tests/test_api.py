"""The public API walked name by name: one vocabulary, one result base, exported errors, doctests.

Every callable in ``evalkit.__all__`` is checked against :mod:`evalkit._vocabulary` (parameter
names, defaults, keyword-only options), every class a public function returns against
:class:`evalkit._result.Result`, every error and warning class against :mod:`evalkit.errors`, and
every public function for a doctest that ``make test`` runs.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import tomllib
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit import errors
from evalkit._result import Result
from evalkit._vocabulary import DEFAULTS, OPTIONS, RENAMED, ROLES

ROOT = Path(__file__).resolve().parents[1]

#: Parameters a caller may pass by position (the primary inputs); every other one is keyword-only.
PRIMARY = {"data", "fit", "path", "paths_or_frames", "plan", "before", "after", "result", "wide",
           "imputed", "estimates", "variances", "fits", "cox", "smaller", "larger", "scan",
           "patterns", "instrument", "n"}
#: Public functions that return something other than a DataFrame or a Result, and why.
OTHER_RETURNS = {
    "example_dictionary_path": "a path",
    "load_plan": "the plan and the dictionary it refers to",
}
#: Classes a public function returns that are not analysis results, and why.
NOT_RESULTS = {
    "SimulatedCohort": "a synthetic data set (participants, responses and the true parameters)",
}


def _public_functions():
    out = []
    for name in ek.__all__:
        obj = getattr(ek, name)
        if callable(obj) and not inspect.isclass(obj):
            out.append((name, obj))
    return out


FUNCTIONS = _public_functions()


def _evalkit_modules():
    mods = []
    for info in pkgutil.walk_packages(ek.__path__, "evalkit."):
        if info.name.endswith("__main__"):
            continue
        mods.append(importlib.import_module(info.name))
    return mods


# ====================================================================== vocabulary
@pytest.mark.parametrize("name, func", FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_parameter_names_are_the_vocabulary(name, func):
    params = inspect.signature(func).parameters
    unknown = [p for p in params if p not in ROLES and p not in OPTIONS]
    assert not unknown, (f"{name}(): parameter(s) {unknown} are neither roles nor documented options "
                         "(evalkit._vocabulary); use the vocabulary's word or document the option")


@pytest.mark.parametrize("name, func", FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_options_are_keyword_only(name, func):
    params = list(inspect.signature(func).parameters.values())
    kinds = inspect.Parameter
    assert not [p for p in params if p.kind in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)], name
    positional = [p.name for p in params if p.kind != kinds.KEYWORD_ONLY]
    assert len(positional) <= 2 and set(positional) <= PRIMARY, (
        f"{name}(): only the primary inputs may be positional, got {positional}")


@pytest.mark.parametrize("name, func", FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_roles_have_one_default(name, func):
    for p in inspect.signature(func).parameters.values():
        if p.name not in DEFAULTS:
            continue
        if p.name == "subject":
            assert p.default == DEFAULTS["subject"], f"{name}(): subject must default to 'participant_id'"
        elif p.default is not inspect.Parameter.empty and p.default is not None:
            assert p.default == DEFAULTS[p.name], (f"{name}(): {p.name} defaults to {p.default!r}, "
                                                   f"the vocabulary's default is {DEFAULTS[p.name]!r}")


def test_every_documented_option_is_used():
    used = {p for _, f in FUNCTIONS for p in inspect.signature(f).parameters}
    assert set(ROLES) - used == set()
    assert set(OPTIONS) - used == set(), "remove options no public function takes from OPTIONS"


# ====================================================================== deprecated names
def _renamed_functions():
    """Module-level functions with deprecated keyword names (methods are tested with their class)."""
    out = []
    for mod in _evalkit_modules():
        for attr, func in sorted(vars(mod).items()):
            mapping = getattr(func, "__renamed__", None)
            if mapping is None or not inspect.isfunction(func) or func.__module__ != mod.__name__:
                continue
            for old, new in mapping.items():
                out.append(pytest.param(func, old, new, id=f"{attr}:{old}"))
    return out


def test_renamed_registry_lists_them_all():
    assert {f"{p.values[0].__module__}.{p.values[0].__name__}" for p in _renamed_functions()} <= set(RENAMED)


@pytest.mark.parametrize("func, old, new", _renamed_functions())
def test_old_names_warn_and_name_the_new_one(func, old, new):
    params = inspect.signature(func).parameters
    targets = (new,) if isinstance(new, str) else tuple(new)
    assert old not in params and all(t in params for t in targets)
    value = ("a", "b") if len(targets) == 2 else "x"
    with pytest.warns(errors.EvalkitDeprecationWarning, match=rf"{old}= is deprecated.*"
                                                              rf"use {targets[0]}="):
        with pytest.raises(Exception):  # the old name is accepted; the bogus call then fails
            func(**{old: value})


def test_deprecation_warning_is_a_deprecation_warning():
    assert issubclass(errors.EvalkitDeprecationWarning, DeprecationWarning)
    assert issubclass(errors.EvalkitDeprecationWarning, errors.EvalkitWarning)


# ====================================================================== results
@pytest.mark.parametrize("name, func", FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_returns_a_frame_or_a_result(name, func):
    if name in OTHER_RETURNS:
        return
    hints = typing.get_type_hints(inspect.unwrap(func))
    ret = hints.get("return")
    if ret is None:
        assert name.startswith("plot_") or name.endswith("_plot"), f"{name}() has no return type"
        return
    if ret is pd.DataFrame:
        return
    assert inspect.isclass(ret) and ret.__module__.startswith("evalkit"), (
        f"{name}() returns {ret!r}: return a DataFrame or a Result, never a dict or tuple")
    if ret.__name__ in NOT_RESULTS:
        return
    assert issubclass(ret, Result), f"{name}() returns {ret.__name__}, which is not a Result"


def test_every_result_class_follows_the_base():
    classes = {cls for mod in _evalkit_modules() for cls in vars(mod).values()
               if inspect.isclass(cls) and issubclass(cls, Result) and cls is not Result
               and cls.__module__ == mod.__name__}
    assert len(classes) >= 15
    for cls in classes:
        if dataclasses.is_dataclass(cls):
            assert not cls.__dataclass_params__.repr, f"{cls.__name__}: declare it with repr=False"
        fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
        for attr in ("table", "raw"):
            assert attr in fields or isinstance(inspect.getattr_static(cls, attr, None), property), (
                f"{cls.__name__} has no .{attr}")
        assert cls.__repr__ is Result.__repr__, f"{cls.__name__} overrides __repr__; use _header()"


def _cohort(n=40, seed=3):
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n), 3)
    weeks = np.tile([0.0, 6.0, 12.0], n)
    site = np.array(["north", "south"])[ids % 2]
    y = 40 + rng.normal(0, 5, n)[ids] + 0.4 * weeks + rng.normal(0, 3, 3 * n)
    return pd.DataFrame({"participant_id": ids, "wave": np.tile(["baseline", "mid", "end"], n),
                         "weeks": weeks, "wemwbs": y, "site": site,
                         "x": (ids % 2).astype(float), "m": rng.normal(size=3 * n),
                         "sessions_attended": (ids % 7) + 1, "started": True,
                         "stopped": (ids % 3 == 0).astype(int), "isolation": rng.normal(size=3 * n)})


def _results():
    d = _cohort()
    per = d.drop_duplicates("participant_id").reset_index(drop=True)
    wide = d.pivot(index="participant_id", columns="wave", values="wemwbs").reset_index()
    wide = wide.merge(per[["participant_id", "site"]])
    d_missing = d.assign(wemwbs=d["wemwbs"].where(~((d["wave"] == "end") & (d["participant_id"] % 4 == 0))))
    imp = ek.multiple_imputation(d_missing, outcome="wemwbs", covariates=[], m=2, iterations=2,
                                 seed=1, progress=False)

    def change(frame):
        w = frame.pivot(index="participant_id", columns="wave", values="wemwbs")
        diff = w["end"] - w["baseline"]
        return pd.DataFrame({"term": ["change"], "estimate": [diff.mean()],
                             "std_error": [diff.std() / np.sqrt(len(diff))], "df": [len(diff) - 1]})

    mixed = ek.fit_mixed(d, outcome="wemwbs", fixed="weeks * site")
    return {
        "reliable_change": ek.reliable_change([16, 12, 20], [12, 16, 9], instrument="epds"),
        "ancova": ek.ancova(wide, outcome="end", baseline="baseline", by="site"),
        "fit_gee": ek.fit_gee(d, outcome="wemwbs", fixed="weeks"),
        "fit_mixed": mixed,
        "johnson_neyman": ek.johnson_neyman(ek.fit_mixed(d, outcome="wemwbs",
                                                         fixed="weeks * isolation"),
                                            effect="weeks", by="isolation"),
        "mediation": ek.mediation(per.assign(y=per["m"] + per["x"]), exposure="x", mediators="m",
                                  outcome="y", n_boot=100),
        "moderated_mediation": ek.moderated_mediation(per.assign(y=per["m"] + per["x"]), exposure="x",
                                                      mediator="m", outcome="y", by="isolation",
                                                      n_boot=100),
        "attrition_model": ek.attrition_model(d_missing, outcome="wemwbs", covariates=["site"]),
        "dose_response": ek.dose_response(d, outcome="wemwbs"),
        "multiple_imputation": imp,
        "fit_imputed": ek.fit_imputed(imp, model=lambda f: f, estimate=change, progress=False),
        "tipping_point": ek.tipping_point(imp, model=lambda f: f, estimate=change, deltas=[-2.0],
                                          progress=False),
        "kaplan_meier": ek.kaplan_meier(per, duration="sessions_attended", event="stopped", by="site"),
        "logrank_test": ek.logrank_test(per, duration="sessions_attended", event="stopped", by="site"),
        "fit_cox": ek.fit_cox(per, duration="sessions_attended", event="stopped", covariates=["site"]),
        "power_curve": ek.power_curve(fixed="weeks * site", random="1",
                                      effects={"Intercept": 40, "weeks": 0.4, "site[T.south]": 0,
                                               "weeks:site[T.south]": 0.2},
                                      variance={"intercept_sd": 5, "residual_sd": 3},
                                      waves=[0, 6, 12], allocation={"north": 0.5, "south": 0.5},
                                      test="weeks:site[T.south]", sizes=[20], nsim=4,
                                      progress=False),
    }


@pytest.fixture(scope="module")
def results():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", errors.EvalkitWarning)   # small data: fragile fits are fine
        out = _results()
    out["check_proportional_hazards"] = ek.check_proportional_hazards(out["fit_cox"])
    return out


def test_results_share_the_base(results):
    for name, res in results.items():
        assert isinstance(res, Result), name
        assert isinstance(res.table, pd.DataFrame), name
        copy = res.to_frame()
        assert copy.equals(res.table) and copy is not res.table, name
        assert isinstance(res.summary(), pd.DataFrame), name
        text = repr(res)
        assert text.startswith(type(res).__name__) and "\n" in text, name
        assert "<table" in res._repr_html_(), name
        assert hasattr(res, "raw"), name


# ====================================================================== errors
def test_every_error_and_warning_class_is_exported():
    found = {cls for mod in _evalkit_modules() for cls in vars(mod).values()
             if inspect.isclass(cls) and issubclass(cls, (errors.EvalkitError, errors.EvalkitWarning))}
    for cls in found:
        assert cls.__module__ == "evalkit.errors", f"{cls.__name__} is defined in {cls.__module__}"
        assert cls.__name__ in errors.__all__ and getattr(ek, cls.__name__) is cls, cls.__name__
        assert cls.__name__ in ek.__all__


def test_errors_subclass_a_builtin():
    for name in errors.__all__:
        cls = getattr(errors, name)
        if issubclass(cls, errors.EvalkitError) and cls is not errors.EvalkitError:
            builtin = [b for b in cls.__mro__ if b.__module__ == "builtins"
                       and b not in (Exception, BaseException, object)]
            assert builtin or cls is errors.AuditFailed, f"{name} subclasses no built-in error"


# ====================================================================== doctests
@pytest.mark.parametrize("name, func", FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_every_public_function_has_a_doctest(name, func):
    assert ">>>" in (inspect.getdoc(func) or ""), f"{name}() has no example (doctest)"


def test_doctests_run_under_make_test():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in config["addopts"] and "evalkit" in config["testpaths"]
    makefile = (ROOT / "Makefile").read_text()
    test_rule = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "pytest" in test_rule and "evalkit/" not in test_rule and "--ignore" not in test_rule
