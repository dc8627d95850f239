"""The ``evalkit`` command line: the evaluator's interface.

Exit codes: 0 success; 1 the data have problems (``validate``); 2 the command could not run (bad
arguments, unreadable or invalid dictionary, an output path that cannot be written). A data problem
never prints a traceback. Every output path is checked before any work is done.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
from pathlib import Path

import click

from . import __version__
from ._cli_util import (_database_sources, _fail, _umask, _writable,  # noqa: F401  (used here
                        _write)                                          # and by commands)
from .errors import EvalkitError

__all__ = ["main", "cli"]


def _load_dictionary(path: Path):
    """The data dictionary at ``path``; any problem with it exits 2 with the problems listed."""
    from .dictionary import DataDictionary

    try:
        return DataDictionary.from_yaml(path)
    except EvalkitError as exc:
        _fail(exc)
    except UnicodeDecodeError:
        _fail(f"cannot read data dictionary {str(path)!r}: it is not UTF-8 text; give the YAML "
              "data dictionary (e.g. a copy of the bundled data_dictionary.yaml)")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="evalkit")
def cli() -> None:
    """evalkit: longitudinal outcome evaluation of community programmes.

    \b
    Typical session:
      evalkit simulate --n 120 --seed 7 --out data/
      evalkit validate data/responses.csv data/participants.csv --dictionary data_dictionary.yaml
      evalkit demo --out reports/demo
    """


@cli.command()
@click.option("--n", "n", type=click.IntRange(min=1), default=600, show_default=True,
              help="Number of mothers referred to the programme.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed (same seed, same bytes).")
@click.option("--missing", type=click.Choice(["routine", "trial"]), default="routine", show_default=True,
              help="Drop-out typical of routine service data (~40% missing at end) or of a trial (~13%).")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write responses.csv and participants.csv into (created if needed).")
def simulate(n: int, seed: int, missing: str, out: Path) -> None:
    """Simulate the example cohort: item-level questionnaires, context, engagement, drop-out.

    The files validate against the bundled data_dictionary.yaml. The true effects used are written
    to truth.json beside them.
    """
    from .simulate import simulate_cohort

    _writable(out, "--out", folder=True)
    try:
        cohort = simulate_cohort(n=n, seed=seed, missing=missing)
        paths = cohort.write(out)
    except EvalkitError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(f"cannot write --out {out}: {exc.strerror or exc}; check the disk and the folder")
    for p in paths:
        click.echo(f"wrote {p}")


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--dictionary", "-d", "dictionary", type=click.Path(path_type=Path), required=True,
              help="The data dictionary YAML describing the files.")
@click.option("--source", "sources", multiple=True, metavar="DATASET=SPEC",
              help="A dataset read from a database, SPEC written as in a plan's data.files: "
                   "'responses={url: \"sqlite:///cohort.db\", table: responses}' (or query: "
                   "\"select ...\"); repeat for each.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Write the list of problems as JSON to this file ('-' for standard output).")
@click.option("--flow", "flow_out", type=click.Path(path_type=Path), default=None,
              help="Write the participant flow table (CSV) to this file.")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Reference date for the 'date in the future' rule (default: today).")
def validate(files: tuple[Path, ...], dictionary: Path, sources: tuple[str, ...],
             json_out: Path | None, flow_out: Path | None, today) -> None:
    """Check data FILES (and database --source datasets) against the data dictionary.

    Each problem names the file, line (header = line 1), column, participant, value and the rule
    broken, with how to fix it. Exits 1 when there are problems, 0 when the data are clean; 2 when
    the dictionary is unusable or an output file cannot be written (checked before validating).
    """
    from .validation import validate as run_validate

    to_stdout = json_out is not None and str(json_out) == "-"
    if json_out is not None and not to_stdout:
        _writable(json_out, "--json", example="problems.json")
    if flow_out is not None:
        if json_out is not None and not to_stdout and \
                os.path.abspath(flow_out) == os.path.abspath(json_out):
            _fail(f"--json and --flow both name {flow_out}; give two different files")
        _writable(flow_out, "--flow", example="flow.csv")
    dd = _load_dictionary(dictionary)
    if not files and not sources:
        _fail("give the data FILES to check, or a database dataset with --source DATASET=SPEC")
    inputs = [str(f) for f in files]
    if sources:   # named by dataset, as a plan names them; files keep their own names
        inputs = {**{f: f for f in inputs}, **_database_sources(sources, dd)}
    try:
        report = run_validate(inputs, dictionary=dd,
                              today=today.date() if today else _dt.date.today())
    except EvalkitError as exc:
        _fail(exc)
    if json_out is not None:
        text = report.to_json()
        if to_stdout:
            click.echo(text, nl=False)
        else:
            _write(json_out, text, "--json")
    if flow_out is not None:
        _write(flow_out, report.flow.to_csv(index=False, lineterminator="\n"), "--flow")
    if str(json_out) != "-":
        click.echo(report.describe())
        read = report.flow.loc[report.flow["stage"] == "read"]
        click.echo("; ".join(f"{r.dataset}: {r.records} records, {r.participants} participants"
                             for r in read.itertuples()))
    sys.exit(0 if report.ok else 1)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--dictionary", "-d", "dictionary", type=click.Path(path_type=Path), required=True,
              help="The data dictionary YAML; it says which instruments the files hold and their coding.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV file to write the scores to (one row per participant × wave).")
@click.option("--restricted", "restricted", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Folder for the restricted safeguarding file "
                                 "(default: a 'restricted' folder beside --out).")
@click.option("--invalid", type=click.Choice(["raise", "missing"]), default="raise", show_default=True,
              help="Item values that cannot be scored: stop with a list ('raise'), or give a missing "
                   "score with the reason in <instrument>_invalid ('missing').")
def score(files: tuple[Path, ...], dictionary: Path, out: Path, restricted: Path | None,
          invalid: str) -> None:
    """Score every instrument the dictionary declares in FILES and write the scores to --out.

    The data are validated first; with problems, nothing is scored and the problems are listed
    (exit 1). Safeguarding flags (e.g. EPDS item 10 above 0) are written only to a separate
    restricted file (safeguarding_flags.csv, owner-only; header only when no flag is raised),
    never to the scores file. The flags are written first, then the warning is printed, then the
    scores. Both output paths are checked before anything is read (exit 2 if either cannot be
    written).
    """
    import warnings

    from .errors import SafeguardingWarning
    from .scoring import score_dictionary
    from .validation import validate as run_validate

    folder = restricted if restricted is not None else out.parent / "restricted"
    flags_path = folder / "safeguarding_flags.csv"
    if os.path.abspath(out) == os.path.abspath(flags_path):
        _fail(f"--out {out} is the restricted safeguarding file; write the scores elsewhere")
    what = "--restricted" if restricted is not None else "the restricted folder"
    _writable(out, "--out", create=False)
    _writable(folder, what, folder=True, create=False)
    _writable(folder, what, folder=True, private=True)
    _writable(out, "--out", example="scores.csv")
    dd = _load_dictionary(dictionary)
    try:
        report = run_validate([str(f) for f in files], dictionary=dd)
        if not report.ok:
            click.echo(report.describe())
            click.echo("nothing was scored: fix the problems above and run again", err=True)
            sys.exit(1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = score_dictionary(report, dictionary=dd, on_invalid=invalid)
    except EvalkitError as exc:
        _fail(exc)
    # the flags first (restricted, owner-only) and the warning at once: they must survive anything
    # that goes wrong later
    flags, written = result.safeguarding, False
    try:
        _write(flags_path, flags.to_csv(index=False, lineterminator="\n"), "the restricted file",
               private=True)
        written = True
    finally:
        if len(flags):
            click.echo(f"WARNING: {len(flags)} safeguarding flag(s) "
                       + (f"written to {flags_path}. " if written else
                          "raised but NOT written (see the error above): run again once the "
                          "restricted folder can be written. ") +
                       "Act on them now under your safeguarding procedure; this file is restricted "
                       "and must never be published or put into a report.", err=True)
    if not len(flags):
        click.echo(f"no safeguarding flags raised ({flags_path} lists none)")
    _write(out, result.scores.to_csv(index=False, lineterminator="\n"), "--out")
    click.echo(f"wrote {out} ({len(result.scores)} rows; instruments: {', '.join(result.instruments)})")
    for inst, why in result.skipped.items():
        click.echo(f"not scored: {inst}: {why}")
    for w in caught:
        if not issubclass(w.category, SafeguardingWarning):
            click.echo(f"warning: {w.message}", err=True)


def _one_line(exc: BaseException) -> str:
    """An error message on one line (formulaic's messages carry newlines and terminal colours)."""
    import re

    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).split())


def _json_safe(value):
    """numpy scalars to Python, NaN and ±inf to None, recursively."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _reference_level(column, text: str):
    """The level of ``column`` that ``--reference col=TEXT`` names (numbers match numerically)."""
    import pandas as pd

    levels = pd.unique(column.dropna())
    for level in levels:
        if str(level) == text:
            return level
    try:
        number = float(text)
    except ValueError:
        return text  # not a level: fit_mixed says so and lists the levels
    for level in levels:
        if isinstance(level, (int, float)) and not isinstance(level, bool) and level == number:
            return level
    return text


@cli.command()
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--outcome", required=True, help="The outcome column, e.g. wemwbs.")
@click.option("--fixed", required=True,
              help='Fixed-effects formula (right-hand side), e.g. "weeks * delivery_mode".')
@click.option("--subject", default="participant_id", show_default=True,
              help="The column identifying the subject (e.g. mother).")
@click.option("--random", "random", default="1", show_default=True,
              help='Random terms per subject: "1" (intercept), "weeks" (intercept and slope), '
                   '"0 + weeks" (slope only).')
@click.option("--uncorrelated", is_flag=True,
              help="Do not estimate the correlation between random terms (lme4's ||).")
@click.option("--ml", is_flag=True, help="Maximum likelihood instead of REML (to compare fixed "
                                         "effects by likelihood ratio).")
@click.option("--engine", type=click.Choice(["fast", "statsmodels"]), default="fast",
              show_default=True, help="fast: evalkit's engine with Satterthwaite df (t-tests); "
                                      "statsmodels: MixedLM (z-tests), for cross-checking only -- "
                                      "its SEs differ from lme4's on unbalanced data (measured up "
                                      "to 3.3% with 30 mothers).")
@click.option("--reference", "references", multiple=True, metavar="COLUMN=LEVEL",
              help="Reference level of a categorical column; repeat for several columns. A column "
                   "of numeric codes given a reference level is treated as categorical.")
@click.option("--simplify", is_flag=True,
              help="On a singular fit, drop the slope correlation, then the random slopes; each "
                   "step is reported.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the estimates as JSON to this file ('-' for standard output, instead of "
                   "the summary). Missing and infinite numbers are written as null (df is null for "
                   "the statsmodels engine's z-tests).")
def fit(data: Path, outcome: str, fixed: str, subject: str, random: str, uncorrelated: bool,
        ml: bool, engine: str, references: tuple[str, ...], simplify: bool,
        json_out: Path | None) -> None:
    """Fit a linear mixed model to the long data in DATA and print the estimates.

    DATA is any file evalkit reads (CSV, TSV, Excel, SPSS, Stata, Parquet), one row per
    observation. Text columns whose every non-missing value is a number become numeric; "NA",
    "N/A", empty cells and the like are missing. Rows with a missing outcome, subject or predictor
    are left out and counted by reason.

    \b
    Example (random intercept and slope, as lme4's wemwbs ~ weeks * mode + (weeks | id)):
      evalkit fit cohort.csv --outcome wemwbs --fixed "weeks * delivery_mode" \\
          --subject participant_id --random weeks --reference delivery_mode=one_to_one

    Exit codes: 0 fitted (warnings such as a singular fit are printed as "warning: ..." lines on
    standard error); 1 the data cannot be used (e.g. text in the outcome column); 2 the command
    cannot run (unreadable file, unknown column, bad formula).
    """
    import json
    import re
    import warnings

    import pandas as pd

    from .errors import EvalkitWarning
    from .io import FIRST_DATA_LINE
    from .validation import read_data

    reference = {}
    for item in references:
        column, sep, level = item.partition("=")
        if not sep or not column.strip() or not level.strip():
            raise click.BadParameter(f"expected COLUMN=LEVEL, got {item!r}",
                                     param_hint="'--reference'")
        reference[column.strip()] = level.strip()
    if json_out is not None and str(json_out) != "-":
        _writable(json_out, "--json", example="fit.json")
    try:
        frame = read_data(data)
    except EvalkitError as exc:
        _fail(_one_line(exc))
    for column, level in reference.items():
        if column in frame.columns:
            reference[column] = _reference_level(frame[column], level)

    if outcome in frame.columns and not pd.api.types.is_numeric_dtype(frame[outcome]):
        values = frame[outcome]
        bad = values.notna() & pd.to_numeric(values, errors="coerce").isna()
        first = int(bad.to_numpy().argmax())
        click.echo(f"error: the outcome column {outcome!r} is not numeric: {int(bad.sum())} "
                   f"value(s) are not numbers (first: {values.iloc[first]!r} on line "
                   f"{first + FIRST_DATA_LINE}); correct them or leave them empty", err=True)
        sys.exit(1)
    formula_names = set(re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*", f"{fixed} {random}"))
    for column in frame.columns:
        values = frame[column]
        if column in formula_names and column not in reference and values.dtype == object:
            parsed = pd.to_numeric(values, errors="coerce")
            text = values.notna() & parsed.isna()
            if parsed.notna().sum() > text.sum():  # mostly numbers: probably a typo, not a factor
                first = int(text.to_numpy().argmax())
                click.echo(f"warning: column {column!r} is mostly numbers but {int(text.sum())} "
                           f"value(s) are text (first: {values.iloc[first]!r} on line "
                           f"{first + FIRST_DATA_LINE}), so it is treated as categorical", err=True)

    from .models.mixed import fit_mixed

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = fit_mixed(frame, outcome=outcome, fixed=fixed, subject=subject, random=random,
                               correlated=not uncorrelated, reml=not ml, engine=engine,
                               reference=reference or None, simplify=simplify)
    except EvalkitError as exc:
        message = _one_line(exc)
        if "is not present in the dataset" in message:
            message += f" Columns in {data.name}: {', '.join(map(str, frame.columns))}"
        _fail(message)
    except ImportError as exc:
        _fail(f"engine {engine!r} is not available: {_one_line(exc)}")

    if json_out is not None:
        payload = {
            "model": result.spec.describe(), "engine": result.spec.engine,
            "fixed": result.fixed.to_dict(orient="records"),
            "variance_components": result.variance_components.to_dict(orient="records"),
            "loglik": result.loglik, "aic": result.aic, "bic": result.bic,
            "n_obs": result.n_obs, "n_groups": result.n_groups,
            "converged": result.converged, "singular": result.singular,
            "warnings": list(result.warnings), "simplification": list(result.simplification),
            "exclusions": result.exclusions.to_dict(orient="records"),
        }
        text = json.dumps(_json_safe(payload), indent=2, allow_nan=False) + "\n"
        if str(json_out) == "-":
            click.echo(text, nl=False)
        else:
            _write(json_out, text, "--json")
    if str(json_out) != "-":
        click.echo(repr(result))
        if len(result.exclusions):
            click.echo("rows left out: " + "; ".join(
                f"{r.reason}: {r.rows} rows ({r.subjects} subjects)"
                for r in result.exclusions.itertuples()))
    noise = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)  # libraries' own business
    seen = set()
    for message in [str(w.message) for w in caught
                    if issubclass(w.category, EvalkitWarning) or not issubclass(w.category, noise)
                    ] + list(result.warnings):
        if message not in seen:
            seen.add(message)
            click.echo(f"warning: {message}", err=True)
    if result.singular and not simplify:
        click.echo("hint: on the command line, add --simplify or give a simpler --random", err=True)


@cli.command()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports/demo"), show_default=True, help="Folder for the demo outputs.")
@click.option("--n", "n", type=click.IntRange(min=10), default=300, show_default=True,
              help="Number of mothers in the simulated cohort.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--pdf", is_flag=True,
              help="Also print impact.pdf and technical.pdf (A4) with the system Chromium.")
def demo(out: Path, n: int, seed: int, pdf: bool) -> None:
    """Simulate the example cohort and run the bundled analysis on it, writing outputs to --out.

    The simulated input data (row-level, with identifiers) go to the restricted folder beside
    --out, never into the report folder.
    """
    from .demo import run_demo
    from .pipeline.run import AuditFailed
    from .pipeline.write import resolve_output

    try:
        if pdf:     # no Chromium: say so now, not after the run
            from .report.pdf import check_printer

            check_printer()
        written = run_demo(out, n=n, seed=seed, pdf=True if pdf else None)
    except AuditFailed as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except EvalkitError as exc:
        _fail(exc)
    paths = resolve_output(out)
    click.echo(f"simulated {n} mothers (seed {seed}) into {paths.restricted / 'demo_data'}; wrote "
               f"{len(written)} files")
    for name in ("impact.html", "technical.html", "impact.pdf", "technical.pdf"):
        if name.endswith(".html") or (paths.report / name).exists():
            click.echo(f"  {paths.report / name}")


@cli.command()
@click.argument("plan", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report folder (default: reports/<plan name>).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bars for the long steps.")
@click.option("--pdf/--no-pdf", "pdf", default=None,
              help="Also print impact.pdf and technical.pdf (A4) with the system Chromium "
                   "(default: the plan's report.pdf). --pdf without Chromium stops before the run.")
def run(plan: Path, out: Path | None, progress: bool, pdf: bool | None) -> None:
    """Run an analysis plan: validate, score, model, and write impact.html and technical.html.

    Plan or data problems are listed all at once (exit 1 for data, 2 for the plan); analyses that
    cannot be done on the data are reported in the technical report rather than stopping the run.
    """
    from .errors import DataValidationError
    from .pipeline.run import AuditFailed, run_plan

    try:
        if pdf:     # asked for on the command line: no Chromium is a problem now, not after the run
            from .report.pdf import check_printer

            check_printer()
        result = run_plan(plan, out=out, progress=progress, pdf=pdf)
    except (DataValidationError, AuditFailed) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except EvalkitError as exc:
        _fail(exc)
    _summarise(result)


@cli.command()
@click.argument("plan", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Design report folder (default: reports/<plan name>-power).")
@click.option("--scheduler", default=None,
              help="A Dask scheduler address (tcp://HOST:8786) to run the simulations on.")
@click.option("--n-jobs", "n_jobs", type=int, default=None,
              help="Local processes to run the simulations on (joblib; -1 for all cores).")
@click.option("--nsim", type=click.IntRange(min=10), default=None,
              help="Simulated studies per size (default: the plan's power.nsim).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="A progress bar over the simulated studies.")
def power(plan: Path, out: Path | None, scheduler: str | None, n_jobs: int | None,
          nsim: int | None, progress: bool) -> None:
    """Design the next evaluation: power and smallest detectable difference by simulation.

    PLAN is an analysis plan with a power: section, or a design file with the same keys at the
    top level. Writes power.html (the chance of detecting the difference at each size, the
    smallest detectable difference at the target powers, the assumptions in plain words),
    power.csv, detectable.csv, simulations.csv and the power-curve figure (PNG and CSV).
    """
    from .pipeline.power_design import write_power_report
    from .plan_power import load_power_design

    try:
        section, meta = load_power_design(plan)
        if nsim is not None:
            section = section.model_copy(update={"nsim": nsim})
        folder = out or Path("reports") / f"{plan.stem}-power"
        _writable(folder, "--out", folder=True, create=False)
        files, result = write_power_report(section, meta, out=folder, n_jobs=n_jobs,
                                           scheduler=scheduler, progress=progress)
    except EvalkitError as exc:
        _fail(exc)
    for line in result.table.itertuples():
        click.echo(f"n = {line.n}: power {line.power:.1%} ({line.ci_low:.1%} to {line.ci_high:.1%}), "
                   f"{line.n_failed} failed, {line.n_singular} singular")
    click.echo(f"wrote {len(files)} files under {Path(files[0]).parent}")


@cli.command()
@click.argument("report", type=click.Path(path_type=Path))
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the findings as JSON to this file ('-' for standard output).")
def audit(report: Path, json_out: Path | None) -> None:
    """Try to work out every hidden number of a report folder from what it publishes.

    Reads every published table and the declarations in manifest.json, rebuilds the relations
    between cells (sums, shares, means) and bounds each hidden cell by linear programming; also
    looks for identifiers, dates and free text. Exit 0 when nothing can be worked out, 1 with
    findings (one line each: table, row, column and what was found), 2 when the folder cannot be
    audited.
    """
    import json

    from .report.disclosure.audit import audit_folder

    try:
        findings = audit_folder(report)
    except EvalkitError as exc:
        _fail(exc)
    if json_out is not None:
        text = json.dumps(findings.to_dict(orient="records"), indent=2) + "\n"
        if str(json_out) == "-":
            click.echo(text, nl=False)
        else:
            json_out.write_text(text, encoding="utf-8")
    for r in findings.itertuples(index=False):
        where = " ".join(p for p in (r.table, f"[{r.row}]" if r.row else "", r.column) if p)
        click.echo(f"{where}: {r.finding}")
    hidden = _count_hidden(report)
    click.echo(f"audit of {report}: {hidden} hidden cell(s) checked, {len(findings)} finding(s)")
    sys.exit(1 if len(findings) else 0)


def _count_hidden(report: Path) -> int:
    log = report / "suppression_log.csv"
    try:
        return max(len(log.read_text(encoding="utf-8").splitlines()) - 1, 0)
    except OSError:
        return 0


def _summarise(result) -> None:
    click.echo(f"wrote {len(result.files)} files under {result.out}")
    for name in ("impact.html", "technical.html", "impact.pdf", "technical.pdf"):
        if (result.out / name).exists():
            click.echo(f"  {result.out / name}")
    if len(result.warnings):
        click.echo(f"{int(result.warnings['count'].sum())} warning(s) raised; listed in technical.html")
    for row in result.failures.itertuples():
        click.echo(f"not done: {row.step}: {row.message}", err=True)
    if len(result.suppression_log):
        click.echo(f"{len(result.suppression_log)} cell(s) suppressed for disclosure control "
                   "(see suppression_log.csv)")


from .cli_draft import import_redcap, init  # noqa: E402  (commands kept in their own module)

cli.add_command(import_redcap)
cli.add_command(init)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="evalkit")


if __name__ == "__main__":  # pragma: no cover
    main()
