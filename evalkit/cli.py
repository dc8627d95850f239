"""The ``evalkit`` command line: the evaluator's interface.

Exit codes: 0 success; 1 the data have problems (``validate``); 2 the command could not run (bad
arguments, unreadable dictionary). A data problem never prints a traceback.
"""

from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path

import click

from . import __version__
from .errors import EvalkitError

__all__ = ["main", "cli"]


def _fail(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


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

    try:
        cohort = simulate_cohort(n=n, seed=seed, missing=missing)
        paths = cohort.write(out)
    except EvalkitError as exc:
        _fail(exc)
    for p in paths:
        click.echo(f"wrote {p}")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--dictionary", "-d", "dictionary", type=click.Path(path_type=Path), required=True,
              help="The data dictionary YAML describing the files.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Write the list of problems as JSON to this file ('-' for standard output).")
@click.option("--flow", "flow_out", type=click.Path(path_type=Path), default=None,
              help="Write the participant flow table (CSV) to this file.")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Reference date for the 'date in the future' rule (default: today).")
def validate(files: tuple[Path, ...], dictionary: Path, json_out: Path | None, flow_out: Path | None,
             today) -> None:
    """Check data FILES against the data dictionary and list every problem.

    Each problem names the file, line (header = line 1), column, participant, value and the rule
    broken, with how to fix it. Exits 1 when there are problems, 0 when the data are clean.
    """
    from .dictionary import DataDictionary
    from .validation import validate as run_validate

    try:
        dd = DataDictionary.from_yaml(dictionary)
        report = run_validate([str(f) for f in files], dictionary=dd,
                              today=today.date() if today else _dt.date.today())
    except EvalkitError as exc:
        _fail(exc)
    if json_out is not None:
        text = report.to_json()
        if str(json_out) == "-":
            click.echo(text, nl=False)
        else:
            json_out.write_text(text, encoding="utf-8")
    if flow_out is not None:
        report.flow.to_csv(flow_out, index=False, lineterminator="\n")
    if str(json_out) != "-":
        click.echo(report.summary())
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
    restricted file, never to the scores file, and a warning is printed.
    """
    import warnings

    from .dictionary import DataDictionary
    from .errors import SafeguardingWarning
    from .scoring import score_dictionary
    from .validation import validate as run_validate

    try:
        dd = DataDictionary.from_yaml(dictionary)
        report = run_validate([str(f) for f in files], dictionary=dd)
        if not report.ok:
            click.echo(report.summary())
            click.echo("nothing was scored: fix the problems above and run again", err=True)
            sys.exit(1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = score_dictionary(report, dictionary=dd, on_invalid=invalid)
    except EvalkitError as exc:
        _fail(exc)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.scores.to_csv(out, index=False, lineterminator="\n")
    click.echo(f"wrote {out} ({len(result.scores)} rows; instruments: {', '.join(result.instruments)})")
    for inst, why in result.skipped.items():
        click.echo(f"not scored: {inst}: {why}")
    for w in caught:
        if not issubclass(w.category, SafeguardingWarning):
            click.echo(f"warning: {w.message}", err=True)
    if len(result.safeguarding):
        folder = restricted or (out.parent / "restricted")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "safeguarding_flags.csv"
        result.safeguarding.to_csv(path, index=False, lineterminator="\n")
        click.echo(f"WARNING: {len(result.safeguarding)} safeguarding flag(s) written to {path}. "
                   "Act on them now under your safeguarding procedure; this file is restricted and "
                   "must never be published or put into a report.", err=True)


@cli.command()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports/demo"), show_default=True, help="Folder for the demo outputs.")
@click.option("--n", "n", type=click.IntRange(min=10), default=300, show_default=True,
              help="Number of mothers in the simulated cohort.")
@click.option("--seed", type=int, default=1, show_default=True)
def demo(out: Path, n: int, seed: int) -> None:
    """Simulate the example cohort and run the bundled analysis on it, writing outputs to --out."""
    from .demo import run_demo

    try:
        written = run_demo(out, n=n, seed=seed)
    except EvalkitError as exc:
        _fail(exc)
    for p in written:
        click.echo(f"wrote {p}")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="evalkit")


if __name__ == "__main__":  # pragma: no cover
    main()
