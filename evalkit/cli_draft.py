"""``evalkit import-redcap`` and ``evalkit init``: draft a dictionary (and a plan) from a user's files.

Both write commented YAML in which every guess is marked ``# check`` with its evidence and what
could not be decided is a numbered question, print the instruments recognised, and never guess
silently. :mod:`evalkit.cli` adds them to the ``evalkit`` command.
"""

from __future__ import annotations

from pathlib import Path

import click

from ._cli_util import _fail, _writable, _write
from .errors import EvalkitError

__all__ = ["import_redcap", "init"]


def _print_evidence(evidence: list[dict]) -> None:
    for e in evidence:
        state = "recognised (confirm)" if e["status"].startswith("recognised") else "NOT declared"
        click.echo(f"  {e['instrument']}: {state}: {e['evidence']}")
        if e["questions"]:
            click.echo(f"    question: {e['questions']}")


@click.command("import-redcap")
@click.argument("metadata", type=click.Path(path_type=Path))
@click.option("--records", type=click.Path(path_type=Path), default=None,
              help="A record export (CSV, raw values): gives the events, sites, repeating forms.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The data dictionary YAML to write.")
@click.option("--study", default=None, help="The study's name in reports.")
@click.option("--missing-code", "missing_codes", multiple=True,
              help="A project-wide missing-data code (REDCap's Missing Data Codes), e.g. UNK; "
                   "repeat for each.")
def import_redcap(metadata: Path, records: Path | None, out: Path, study: str | None,
                  missing_codes: tuple[str, ...]) -> None:
    """Convert a REDCap data dictionary (and a record export) into an evalkit data dictionary.

    \b
    In REDCap: Project Setup -> Data Dictionary -> Download the current Data Dictionary;
    Data Exports -> All data -> CSV (raw data). Then:
      evalkit import-redcap metadata.csv --records export.csv --out data_dictionary.yaml
      evalkit validate export.csv --dictionary data_dictionary.yaml
    """
    from .dictionary import DataDictionary
    from .redcap import draft_from_redcap

    _writable(out, "--out", example="data_dictionary.yaml")
    try:
        draft, evidence = draft_from_redcap(metadata, records=records, study=study,
                                            missing_codes=missing_codes)
        DataDictionary.from_dict(draft.data, source=str(out))   # the draft must load as written
    except EvalkitError as exc:
        _fail(exc)
    _write(out, draft.to_yaml(title="data dictionary"), "--out")
    click.echo(f"wrote {out}: {len(draft.data['datasets'])} dataset(s) "
               f"({', '.join(draft.data['datasets'])}), {len(draft.data['waves'])} wave(s)")
    _print_evidence(evidence)
    if draft.questions:
        click.echo(f"{len(draft.questions)} question(s) to answer in {out} (marked QUESTION):")
        for i, (_, q) in enumerate(draft.questions, 1):
            click.echo(f"  {i}. {q}")
    click.echo("check every line marked `# check`, then: evalkit validate "
               f"{records or 'EXPORT.csv'} --dictionary {out}")


@click.command("init")
@click.argument("data", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder for data_dictionary.yaml and analysis_plan.yaml.")
def init(data: tuple[Path, ...], out: Path) -> None:
    """Draft data_dictionary.yaml and analysis_plan.yaml from your data files.

    \b
    Give the data files (CSV, Excel, SPSS, Stata, Parquet), or a REDCap data dictionary CSV
    with its record export. Every guess is marked `# check` with its evidence; what cannot be
    guessed is a QUESTION in the file. The files are then validated with the draft and the
    problems to fix first are listed. Then:
      evalkit validate DATA... --dictionary OUT/data_dictionary.yaml
      evalkit run OUT/analysis_plan.yaml
    """
    from .init import init_project

    _writable(out, "--out", folder=True)
    try:
        result = init_project(list(data), out=out)
    except EvalkitError as exc:
        _fail(exc)
    click.echo(f"wrote {result.dictionary} and {result.plan}")
    click.echo(f"instruments recognised (confirm each in {result.dictionary.name}): "
               f"{', '.join(result.instruments) or 'none'}")
    click.echo(f"waves, in order: {', '.join(result.waves) or 'none found'}")
    if result.questions:
        click.echo(f"{len(result.questions)} question(s) to answer (marked QUESTION in the files):")
        for file, i, q in result.questions:
            click.echo(f"  {file} QUESTION {i}: {q}")
    first = result.fix_first()
    if first:
        click.echo("the data have problems under this draft; fix first:")
        for line in first:
            click.echo(f"  {line}")
    else:
        click.echo("the files validate under this draft")
