"""Run an analysis plan end to end: steps → one protection → figures → reports → audit → commit.

:func:`run_plan` is what ``evalkit run PLAN`` and ``evalkit demo`` call. The steps (one module each
in this package) compute results and register every table they publish with the run's
:class:`~evalkit.report.disclosure.Publication`; after the last step the publication is protected
once, for all tables together; figures are then drawn and sentences written only from the protected
tables; the auditor (:mod:`evalkit.report.disclosure.audit`) tries to break what is about to be
published, from the files alone; and only then is the report folder swapped in
(:mod:`.write`). A run that stops — on data problems, an error or a kill — leaves the previous
complete report or none.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .._result import Result
from ..errors import AuditFailed
from ..plan import AnalysisPlan, load_plan
from . import (attrition, data, engagement, flow, mechanisms, outcome, reach, sensitivity,
               volunteers)
from .context import RunContext
from .write import ReportWriter

__all__ = ["run_plan", "RunResult", "STEPS", "AuditFailed"]

#: Files a run writes into the restricted folder (removed at the start of every run).
_RESTRICTED_OUTPUTS = ("data_problems.csv", "safeguarding_flags.csv", "suppression_log_full.csv",
                       "warnings.csv", "audit_findings.csv")

#: The steps of a run, in order (each module's ``run(ctx)``; outcomes run once per outcome).
STEPS = ("data", "flow", "reach", "engagement", "outcome", "mechanisms", "attrition", "sensitivity")


@dataclass(frozen=True, eq=False, repr=False)
class RunResult(Result):
    """What :func:`run_plan` wrote and found.

    ``.table`` lists the published tables (``table, rows, columns``); ``.raw`` is the protected
    publication behind the report.

    Attributes
    ----------
    out : Path
        The report folder.
    files : list of Path
        Every file written (report, tables, figures, manifest, restricted outputs).
    tables : dict of str to DataFrame
        The published (protected) tables by name.
    warnings : pandas.DataFrame
        ``step, category, message, count``: every warning raised during the run (full text).
    failures : pandas.DataFrame
        ``step, message, kind``: analyses that could not be done, with the reason.
    suppression_log : pandas.DataFrame
        ``table, row, column, rule`` of every hidden cell (restricted: it tells small from large).
    findings : pandas.DataFrame
        The auditor's findings (empty when the report may be published).
    """

    out: Path
    files: list
    tables: dict
    warnings: pd.DataFrame
    failures: pd.DataFrame
    suppression_log: pd.DataFrame
    findings: pd.DataFrame = field(default_factory=pd.DataFrame)
    facts: dict = field(default_factory=dict, repr=False)
    timings: dict = field(default_factory=dict, repr=False)
    publication: object = field(default=None, repr=False)

    @property
    def table(self) -> pd.DataFrame:
        """One row per published table: ``table, rows, columns``."""
        return pd.DataFrame([{"table": name, "rows": len(t), "columns": len(t.columns)}
                             for name, t in self.tables.items()],
                            columns=["table", "rows", "columns"])

    @property
    def raw(self):
        """The protected publication (:attr:`publication`)."""
        return self.publication

    def _header(self) -> list[str]:
        return [f"report in {self.out}: {len(self.files)} file(s), {len(self.failures)} analysis(es) "
                f"not done, {len(self.warnings)} warning(s), {len(self.findings)} audit finding(s)"]


def run_plan(plan: str | Path | AnalysisPlan, *, out: str | Path | None = None,
             progress: bool = False, pdf: bool | None = None) -> RunResult:
    """Execute an analysis plan and write the impact and technical reports.

    Parameters
    ----------
    plan : str, Path or AnalysisPlan
        The plan file (checked against its dictionary first) or an already loaded plan.
    out : str or Path, optional
        Report folder; default ``reports/<plan file stem>``. Restricted outputs go to
        ``<out>-restricted`` beside it, never inside it.
    progress : bool, default False
        Show progress bars for the long steps (imputation).
    pdf : bool, optional
        Also print each report to PDF (``impact.pdf``, ...); default the plan's ``report.pdf``.
        A PDF that cannot be printed is recorded as not done; the HTML reports are kept.

    Returns
    -------
    RunResult

    Raises
    ------
    PlanError
        The plan is malformed or names things the dictionary does not have (all listed).
    DataValidationError
        The data break the dictionary's rules and the plan says ``on_problems: stop``.
    AuditFailed
        The auditor found a published number that gives a hidden one away; the report is written
        marked "not for publication" with the findings.

    Examples
    --------
    A small plan (one outcome, one context, no mechanisms, engagement or sensitivity analyses) on
    60 simulated mothers:

    >>> import tempfile, warnings
    >>> from pathlib import Path
    >>> import evalkit as ek
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = ek.simulate_cohort(n=60, seed=1).write(folder)
    >>> _ = (folder / "plan.yaml").write_text(f'''
    ... programme: Example programme
    ... data:
    ...   dictionary: {ek.example_dictionary_path()}
    ...   files: {{participants: participants.csv, responses: responses.csv}}
    ... outcomes: [{{instrument: wemwbs, primary: true}}]
    ... contexts: {{variables: [site]}}
    ... mechanisms: null
    ... engagement: null
    ... sensitivity: {{multiple_imputation: null, tipping_point: null}}
    ... report: {{audience: [impact]}}
    ... ''')
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", ek.EvalkitWarning)   # listed in result.warnings
    ...     result = ek.run_plan(folder / "plan.yaml", out=folder / "report")
    >>> (result.out / "impact.html").exists(), result.failures.empty, result.findings.empty
    (True, True, True)
    >>> "participant_flow" in result.table["table"].tolist()
    True
    """
    if isinstance(plan, AnalysisPlan):
        dd = plan.dictionary()
        plan.check(dd)
    else:
        plan, dd = load_plan(plan)
    if pdf is not None:     # evalkit run --pdf / --no-pdf
        plan = plan.model_copy(update={"report": plan.report.model_copy(update={"pdf": pdf})})
    out = Path(out) if out is not None else Path("reports") / Path(plan.source or "plan").stem
    with ReportWriter(out) as writer:
        # restricted outputs of an earlier run must not pass for this run's (old flags, old
        # problems): each run writes its own afresh
        for name in _RESTRICTED_OUTPUTS + volunteers.RESTRICTED_FILES:
            (writer.paths.restricted / name).unlink(missing_ok=True)
        if writer.paths.restricted.is_dir():
            for old in writer.paths.restricted.glob("caterpillar_*.png"):
                old.unlink(missing_ok=True)
        ctx = RunContext(plan=plan, dd=dd, writer=writer, progress=progress)
        data.run(ctx)
        flow.run(ctx)
        reach.run(ctx)
        engagement.run(ctx)
        for o in plan.outcomes:
            outcome.run(ctx, o)
        mechanisms.run(ctx)
        attrition.run(ctx)
        sensitivity.run(ctx)
        return _publish(ctx, writer)


def _publish(ctx: RunContext, writer: ReportWriter) -> RunResult:
    from ..report.disclosure.audit import audit_folder
    from ..report.render import render_reports

    pub = ctx.pub
    warn = _warning_table(ctx.warning_rows)
    failures = pd.DataFrame(ctx.failure_rows, columns=["step", "message", "kind"])
    _register_run_tables(ctx, warn, failures)
    with ctx.step("disclosure control", optional=False):
        pub.protect()
    figures = {}
    for spec in ctx.figures:
        with ctx.step(f"figure: {spec.name}"):
            fig = spec.build(pub)
            figures[spec.name] = (fig, spec, fig.to_png())     # rendered once, used twice
    for name in pub._order:
        table = pub.tables[name]
        writer.write_text(table.file, table.to_csv())
    for name, (fig, spec, png) in sorted(figures.items()):
        writer.write_bytes(f"figures/{name}.png", png)
    # the public log says which cells are hidden, never which rule hid them (that tells small
    # cells from their complements); the full log is restricted
    writer.write_text("suppression_log.csv", _csv(pub.public_log))
    writer.restricted_csv("suppression_log_full.csv", pub.log)
    writer.restricted_csv("warnings.csv", warn)
    provenance = _provenance(ctx)
    writer.write_text("provenance.json", json.dumps(provenance, indent=2, sort_keys=True,
                                                    ensure_ascii=False) + "\n")
    pages = render_reports(ctx, figures=figures, provenance=provenance)
    for audience, html in pages.items():
        writer.write_text(f"{audience}.html", html)
    if ctx.plan.report.pdf:
        _write_pdfs(ctx, writer, list(pages))
    manifest = pub.manifest()
    manifest["identifier_pattern"] = _identifier_pattern(ctx.people.index)
    findings = audit_folder(writer.staging, manifest=manifest, threshold=ctx.threshold,
                            identifiers=[str(i) for i in ctx.people.index])
    extra = {"disclosure": manifest, "audit": {"findings": int(len(findings)),
                                               "hidden_cells": int(len(pub.log))}}
    if len(findings):
        banner = _not_for_publication(findings)
        writer.write_text("NOT_FOR_PUBLICATION.txt", banner)
        writer.restricted_csv("audit_findings.csv", findings)
    for fig, _, _ in figures.values():
        fig.close()
    files = writer.commit(extra=extra)
    result = RunResult(out=writer.paths.report, files=files,
                       tables={n: t.data for n, t in pub.tables.items()}, warnings=warn,
                       failures=pd.DataFrame(ctx.failure_rows, columns=["step", "message", "kind"]),
                       suppression_log=pub.log, findings=findings, facts=ctx.facts,
                       timings=dict(ctx.timings), publication=pub)
    if len(findings):
        raise AuditFailed(f"the auditor found {len(findings)} way(s) to work out a hidden number "
                          f"from the report in '{writer.paths.report}'; it is marked NOT FOR "
                          "PUBLICATION (see NOT_FOR_PUBLICATION.txt); please report this",
                          result=result)
    return result


def _write_pdfs(ctx: RunContext, writer: ReportWriter, audiences: list) -> None:
    """Print each staged HTML report to PDF and stage it beside it (report.pdf: true).

    A PDF that cannot be printed (no Chromium, ...) is recorded as not done; the HTML reports stay.
    """
    import tempfile

    from ..report.pdf import write_pdfs

    with ctx.step("PDF reports"), tempfile.TemporaryDirectory(prefix="evalkit-pdf-") as tmp:
        pairs = [(writer.staging / f"{a}.html", Path(tmp) / f"{a}.pdf") for a in audiences]
        write_pdfs(pairs)
        for audience, (_, pdf) in zip(audiences, pairs):
            writer.write_bytes(f"{audience}.pdf", pdf.read_bytes())


def _identifier_pattern(ids) -> str | None:
    """The shape of the participant identifiers (``P\\d{5}``), so ``evalkit audit`` can look for
    them in a published folder without the list of identifiers (the shape is not an identifier)."""
    ids = [str(i) for i in ids]
    shapes = {re.sub(r"\d", "9", re.sub(r"[A-Za-z]", "A", i)) for i in ids}
    if len(shapes) != 1 or not ids:
        return None
    prefix = re.match(r"[A-Za-z]*", ids[0]).group(0)
    digits = len(ids[0]) - len(prefix)
    if not prefix or digits < 3 or not all(i.startswith(prefix) and i[len(prefix):].isdigit()
                                           for i in ids):
        return None
    return rf"\b{re.escape(prefix)}\d{{{digits}}}\b"


def _not_for_publication(findings: pd.DataFrame) -> str:
    lines = ["NOT FOR PUBLICATION", "",
             "evalkit's auditor could work out numbers that disclosure control hid. Do not publish",
             "this folder. Findings (table, row, column, what was found):", ""]
    for r in findings.itertuples(index=False):
        lines.append(f"- {r.table} [{r.row}] {r.column}: {r.finding}")
    return "\n".join(lines) + "\n"


def _mask_numbers(text: str) -> str:
    """Whole numbers in a published warning become '#': a message may count mothers.

    >>> _mask_numbers("wemwbs: 31 scale score(s) prorated; UCLA-3 has no rule; tol 0.002")
    'wemwbs: # scale score(s) prorated; UCLA-3 has no rule; tol 0.002'
    """
    return re.sub(r"(?<![\w.\-])\d+(?![\w.])", "#", text)


#: Warning classes whose messages name small groups: published without the message.
_NAMES_SMALL_GROUPS = ("SmallGroupWarning",)


def _register_run_tables(ctx: RunContext, warn: pd.DataFrame, failures: pd.DataFrame) -> None:
    from ..report.disclosure import Free, Label

    pw = warn.assign(message=[
        "(the message names small groups: see the restricted folder)" if c in _NAMES_SMALL_GROUPS
        else _mask_numbers(m) for c, m in zip(warn["category"], warn["message"])]) if len(warn) \
        else pd.DataFrame(columns=["step", "category", "message", "count"])
    pw = pw.groupby(["step", "category", "message"], sort=False)["count"].sum().reset_index() \
        if len(pw) else pw
    ctx.pub.add("run_warnings", pw, columns={
        "step": Label(), "category": Label(), "message": Label(text=True),
        "count": Free("how many times the warning was raised (not a count of mothers)")})
    pf = failures.assign(message=failures["message"].map(_mask_numbers))
    ctx.pub.add("run_not_done", pf, columns={"step": Label(), "message": Label(text=True),
                                              "kind": Label()})


def _warning_table(rows) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=["step", "category", "message", "count"])
    frame = pd.DataFrame(rows, columns=["step", "category", "message"])
    return (frame.groupby(["step", "category", "message"], sort=False).size()
            .rename("count").reset_index())


def _csv(frame: pd.DataFrame) -> str:
    from ..report.disclosure.protected import csv_text

    return csv_text(frame)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _source_name(source) -> str | dict:
    """A data file by its name; a database source by its kind and, for a file database, its name.

    As with files, where the data live (hosts, users, folders) stays out of the published report,
    and a password never reaches it.
    """
    if isinstance(source, dict):
        scheme, _, rest = str(source["url"]).partition("://")
        where = Path(rest.split("?", 1)[0]).name if scheme.split("+")[0] in ("duckdb", "sqlite") else ""
        return {**{k: v for k, v in source.items() if v is not None}, "url": f"{scheme}://{where}"}
    return Path(str(source)).name


def _provenance(ctx: RunContext) -> dict:
    import importlib.metadata as md

    plan = ctx.plan
    versions = {"python": platform.python_version()}
    for pkg in ("evalkit", "numpy", "pandas", "scipy", "statsmodels", "lifelines", "matplotlib",
                "formulaic", "pydantic", "jinja2"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = "not installed"
    files = {f.name: _sha256(f) for f in plan.data_files()}
    # a database source has no file to hash: the rows validation read stand for it
    files.update({f"{name} (database)": digest for name, digest in ctx.validation.digests.items()})
    files[Path(plan.data.dictionary).name] = _sha256(plan.path(plan.data.dictionary))
    settings = plan.model_dump(mode="json")
    # file names only: absolute paths say where the data live on someone's machine
    data = settings.get("data", {})
    data["dictionary"] = Path(str(data.get("dictionary", ""))).name
    if isinstance(data.get("files"), dict):
        data["files"] = {k: _source_name(v) for k, v in data["files"].items()}
    elif isinstance(data.get("files"), list):
        data["files"] = [_source_name(v) for v in data["files"]]
    return {"programme": plan.programme, "plan": Path(plan.source).name if plan.source else None,
            "plan_sha256": plan.sha256, "data_sha256": files, "seed": plan.seed,
            "versions": versions, "suppression_threshold": ctx.threshold,
            "minimum_group": ctx.min_group, "plan_settings": settings}

