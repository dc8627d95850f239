"""``evalkit init``: draft ``data_dictionary.yaml`` and ``analysis_plan.yaml`` from a user's files.

Give the data files (CSV, Excel, SPSS, Stata, Parquet), or a REDCap project's data dictionary CSV
with its record export. The drafts are commented YAML: every guess is marked ``# check`` with the
evidence for it, and what could not be decided is a numbered ``QUESTION`` at the top of the file
and at the line to edit. The drafted dictionary is then used to validate the files, and the
problems found are summarised, the kind to fix first at the top.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> import evalkit as ek
>>> from evalkit.init import init_project
>>> tmp = Path(tempfile.mkdtemp())
>>> sim = ek.simulate_cohort(n=40, seed=5)
>>> sim.participants.rename(columns={"participant_id": "Client ID"}).to_csv(tmp / "people.csv",
...                                                                         index=False)
>>> items = {f"epds_{k}": f"Q{k}_EPDS" for k in range(1, 11)}
>>> sim.responses.rename(columns={"participant_id": "Client ID", "wave": "Timepoint", **items}
...                      ).to_csv(tmp / "forms.csv", index=False)
>>> result = init_project([tmp / "people.csv", tmp / "forms.csv"], out=tmp / "draft")
>>> result.instruments, result.waves
(['wemwbs', 'epds', 'ucla3'], ['baseline', 'mid', 'end', 'follow_up'])
>>> dd = ek.DataDictionary.from_yaml(result.dictionary)
>>> dd.id_column, dd.wave_column, dd.variable("participant_id").aliases
('participant_id', 'wave', ('Client ID',))
>>> dd.variable("epds_1").aliases
('Q1_EPDS',)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import DataReadError, SpecificationError
from ..session_log import SessionLog
from .columns import Profile
from .draft_dictionary import DraftedData, draft_dictionary
from .draft_plan import draft_plan

__all__ = ["init_project", "InitResult"]


@dataclass
class InitResult:
    """What ``init`` wrote and found: the two drafts, the questions, and the data's problems."""

    dictionary: Path
    plan: Path
    instruments: list
    waves: list
    questions: list = field(default_factory=list)   # (file, number, text)
    problems: pd.DataFrame | None = None

    def fix_first(self, shown: int = 3) -> list[str]:
        """Lines to print: problem kinds, structural ones (columns, files, keys) first."""
        from ..validation import RULES

        if self.problems is None or not len(self.problems):
            return []
        errors = self.problems[self.problems["severity"] == "error"]
        if not len(errors):
            return []
        if (errors["rule"] == "dictionary").any():
            return ["the drafted dictionary does not load until its questions are answered:",
                    *str(errors["message"].iloc[0]).splitlines()[1:]]
        order = {r: i for i, r in enumerate(RULES)}
        counts = errors.groupby("rule").size().sort_index(key=lambda r: r.map(order))
        lines = [f"{rule}: {n} problem(s), e.g. "
                 + "; ".join(f"{r.file}:{r.line} [{r.column}] {r.message}"
                             for r in errors[errors['rule'] == rule].head(shown).itertuples())
                 for rule, n in counts.items()]
        return lines


def _header_line(path: Path) -> str:
    """A CSV's first line, lower case ('' for other formats): enough to tell REDCap's files."""
    if path.suffix.lower() != ".csv" or not path.is_file():
        return ""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        return fh.readline().lower()


def _is_redcap_metadata(path: Path) -> bool:
    head = _header_line(path)
    return ("variable / field name" in head or "field_name" in head) and "form" in head


def _from_redcap(metadata: Path, others: list[Path]) -> DraftedData:
    from ..redcap.convert import draft_from_redcap

    records = next((p for p in others if "redcap_event_name" in _header_line(p)), None)
    if records is None and others:
        records = others[0]
    draft, evidence = draft_from_redcap(metadata, records=records)
    datasets = draft.data["datasets"]
    people = datasets.get("participants", {}).get("variables", {})
    columns = {name: Profile(header=name, name=name, type=spec["type"], n=0, unique=False,
                             levels=list(spec.get("levels") or []),
                             labels=dict(spec.get("levels") or {}))
               for name, spec in people.items()}
    for ds in datasets.values():
        # a session log's totals join the participants: the plan's engagement section reads them
        if "session_log" in ds:
            for _, name, kind in SessionLog(**ds["session_log"]).added():
                columns.setdefault(name, Profile(header=name, name=name, type=kind, n=0,
                                                 unique=False))
    return DraftedData(draft=draft, files={"export": Path(records)} if records else {},
                       people="participants" if "participants" in datasets else None,
                       responses="responses" if "responses" in datasets else None,
                       instruments=[e["instrument"] for e in evidence
                                    if e["status"].startswith("recognised")],
                       contexts=[n for n, s in people.items() if s.get("role") == "context"],
                       columns=columns, waves=list(draft.data["waves"]))


def init_project(paths, *, out: str | Path = ".") -> InitResult:
    """Draft the dictionary and plan for ``paths`` into ``out``, then validate the files with it.

    Parameters
    ----------
    paths : sequence of path
        The data files; or a REDCap data dictionary CSV and its record export.
    out : path, default "."
        The folder for ``data_dictionary.yaml`` and ``analysis_plan.yaml`` (created if needed;
        existing drafts are not overwritten).

    Returns
    -------
    InitResult
    """
    from ..dictionary import DataDictionary
    from ..validation import read_data, validate

    paths = [Path(p) for p in paths]
    if not paths:
        raise SpecificationError("init: give at least one data file")
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        raise DataReadError(f"init: {', '.join(absent)}: no such file; check the path (give the "
                            "data files themselves, not a folder)")
    out = Path(out)
    dict_path, plan_path = out / "data_dictionary.yaml", out / "analysis_plan.yaml"
    for p in (dict_path, plan_path):
        if p.exists():
            raise SpecificationError(f"init: {p} exists; drafts never overwrite a file: move it "
                                     "away or choose another --out folder")
    meta = [p for p in paths if _is_redcap_metadata(p)]
    exports = [p for p in paths if "redcap_event_name" in _header_line(p)]
    if exports and not meta:
        raise SpecificationError(
            f"init: {exports[0]} is a REDCap record export; its forms, field types and choices "
            "are in the project's data dictionary, so give that too (REDCap: Project Setup → "
            f"Data Dictionary → Download): evalkit init METADATA.csv {exports[0].name}")
    if meta:
        drafted = _from_redcap(meta[0], [p for p in paths if p != meta[0]])
    else:
        tables, named = {}, {}
        for p in paths:
            name = p.stem.lower().replace(" ", "_").replace("-", "_")
            while name in tables:
                name += "_2"
            try:
                tables[name] = read_data(p)
            except DataReadError as exc:
                raise DataReadError(f"init: {exc}") from None
            named[name] = p
        drafted = draft_dictionary(tables, named)
    out.mkdir(parents=True, exist_ok=True)
    plan = draft_plan(drafted, dictionary=dict_path, out_dir=out)
    if len(set(drafted.files.values())) < len(drafted.files) or meta:
        # one export holds every dataset (REDCap): the plan lists it once
        plan.data["data"]["files"] = list(dict.fromkeys(plan.data["data"]["files"].values()))
    dict_path.write_text(drafted.draft.to_yaml(title="data dictionary"), encoding="utf-8")
    plan_path.write_text(plan.to_yaml(title="analysis plan"), encoding="utf-8")
    questions = ([(dict_path.name, i, q) for i, (_, q) in enumerate(drafted.draft.questions, 1)]
                 + [(plan_path.name, i, q) for i, (_, q) in enumerate(plan.questions, 1)])
    result = InitResult(dictionary=dict_path, plan=plan_path, instruments=drafted.instruments,
                        waves=drafted.waves, questions=questions)
    try:
        dd = DataDictionary.from_yaml(dict_path)
    except Exception as exc:   # noqa: BLE001 - a draft that does not load is reported, not raised
        result.problems = pd.DataFrame([{"file": str(dict_path), "line": None, "column": None,
                                         "rule": "dictionary", "severity": "error",
                                         "message": str(exc)}])
        return result
    data = list(dict.fromkeys(drafted.files.values()))
    result.problems = validate([str(p) for p in data], dictionary=dd).problems
    return result
