"""Read a REDCap data dictionary (the "Data Dictionary" CSV of a project, or the API's metadata).

Each row is a field; the columns are REDCap's standard ones ("Variable / Field Name", "Form Name",
"Field Type", "Choices, Calculations, OR Slider Labels", "Text Validation Type OR Show Slider
Number", "Identifier?" …; the API's ``field_name``, ``form_name`` … are accepted too). A mistake is
reported with the file, line, column and value, and how to fix it; every mistake at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .._headers import _header_key
from ..errors import DataReadError, DictionaryError

__all__ = ["Field", "read_metadata", "COLUMNS", "MISSING_LABEL"]

#: REDCap's data dictionary columns: the export's header -> the API's name (used here).
COLUMNS = {
    "Variable / Field Name": "field_name", "Form Name": "form_name",
    "Section Header": "section_header", "Field Type": "field_type", "Field Label": "field_label",
    "Choices, Calculations, OR Slider Labels": "select_choices_or_calculations",
    "Field Note": "field_note",
    "Text Validation Type OR Show Slider Number": "text_validation_type_or_show_slider_number",
    "Text Validation Min": "text_validation_min", "Text Validation Max": "text_validation_max",
    "Identifier?": "identifier", "Branching Logic (Show field only if...)": "branching_logic",
    "Required Field?": "required_field", "Custom Alignment": "custom_alignment",
    "Question Number (surveys only)": "question_number", "Matrix Group Name": "matrix_group_name",
    "Matrix Ranking?": "matrix_ranking", "Field Annotation": "field_annotation",
}
_REQUIRED = ("field_name", "form_name", "field_type")
_TYPES = {"text", "notes", "dropdown", "radio", "checkbox", "yesno", "truefalse", "calc", "slider",
          "descriptive", "file", "sql"}
#: Choice labels that mean "no answer": such codes are missing codes, not levels or scores.
MISSING_LABEL = re.compile(r"\b(prefer(red)? not to (say|answer)|not answered|missing|don'?t know|"
                           r"not known|unknown|not applicable|declined?|refused)\b|^n/?a$", re.I)
_TAG = re.compile(r"<[^>]+>")


@dataclass
class Field:
    """One REDCap field as the data dictionary declares it."""

    name: str
    form: str
    type: str
    line: int
    label: str = ""
    choices: list = field(default_factory=list)   # [(code, label)] in the form's order
    validation: str = ""
    minimum: str = ""
    maximum: str = ""
    identifier: bool = False
    branching: str = ""
    matrix: str = ""
    annotation: str = ""

    @property
    def plain_label(self) -> str:
        """The label without HTML, shortened (field labels can hold whole paragraphs)."""
        text = " ".join(_TAG.sub(" ", self.label).split())
        return text if len(text) <= 80 else text[:77].rstrip() + "…"


def _headers(columns, path: Path) -> dict[str, str]:
    """The file's header -> the API name it stands for; a missing required column is an error."""
    known = {_header_key(k): v for k, v in COLUMNS.items()} | {_header_key(v): v for v in COLUMNS.values()}
    found = {c: known[_header_key(c)] for c in columns if _header_key(c) in known}
    absent = [n for n in _REQUIRED if n not in found.values()]
    if absent:
        names = [next(k for k, v in COLUMNS.items() if v == n) for n in absent]
        raise DictionaryError(
            f"{path}: line 1: the REDCap data dictionary has no column "
            f"{', '.join(map(repr, names))}; export it from REDCap (Project Setup → Data "
            "Dictionary → Download the current Data Dictionary) and give that CSV unchanged",
            [("", 1, f"missing column {n!r}") for n in names])
    return found


def _choices(text: str) -> list[tuple[str, str]] | None:
    """``"1, Label | 2, Label"`` -> pairs; None if a part has no code."""
    out = []
    for part in str(text).split("|"):
        if not part.strip():
            continue
        code, sep, label = part.partition(",")
        if not sep or not code.strip():
            return None
        out.append((code.strip(), " ".join(_TAG.sub(" ", label).split())))
    return out


def read_metadata(path) -> list[Field]:
    """The fields of a REDCap data dictionary CSV, in form order.

    Raises
    ------
    DictionaryError
        Listing every row that cannot be used (unknown field type, choices without codes, a
        field twice), each with its line, column and value.
    """
    from ..io import line_numbers, read_table

    path = Path(path)
    try:
        raw = read_table(path)
    except DataReadError as exc:
        raise DictionaryError(f"cannot read the REDCap data dictionary: {exc}") from None
    lines = line_numbers(raw)
    names = _headers(raw.columns, path)
    raw = raw.rename(columns=names)[list(dict.fromkeys(names.values()))]
    problems: list[tuple[str, int | None, str]] = []
    out, seen = [], {}

    def cell(row, name) -> str:
        v = row.get(name)
        return "" if v is None or v != v else str(v).strip()

    for i, row in enumerate(raw.to_dict("records")):
        line = int(lines[i])
        name, ftype = cell(row, "field_name"), cell(row, "field_type").lower()
        if not name:
            problems.append(("Variable / Field Name", line, "the field has no name; give it one "
                             "in REDCap's Online Designer and export the dictionary again"))
            continue
        if ftype not in _TYPES:
            problems.append(("Field Type", line, f"field {name!r} has type {ftype!r}, which REDCap "
                             f"does not have (types: {', '.join(sorted(_TYPES))}); correct it"))
            continue
        if name in seen:
            problems.append(("Variable / Field Name", line, f"field {name!r} is declared twice "
                             f"(first at line {seen[name]}); field names are unique in REDCap"))
            continue
        seen[name] = line
        choices = []
        text = cell(row, "select_choices_or_calculations")
        if ftype in ("radio", "dropdown", "checkbox"):
            choices = _choices(text)
            if not choices:
                problems.append(("Choices, Calculations, OR Slider Labels", line,
                                 f"choices of {name!r} ({text!r}) are not of the form "
                                 "'1, Label | 2, Label'; give every option a code and a label"))
                continue
        out.append(Field(name=name, form=cell(row, "form_name"), type=ftype, line=line,
                         label=cell(row, "field_label"), choices=choices,
                         validation=cell(row, "text_validation_type_or_show_slider_number").lower(),
                         minimum=cell(row, "text_validation_min"),
                         maximum=cell(row, "text_validation_max"),
                         identifier=cell(row, "identifier").lower() == "y",
                         branching=cell(row, "branching_logic"),
                         matrix=cell(row, "matrix_group_name"),
                         annotation=cell(row, "field_annotation")))
    if problems:
        body = "\n".join(f"  line {ln}, column {col!r}: {msg}" for col, ln, msg in problems)
        raise DictionaryError(f"{path}: {len(problems)} problem(s) in the REDCap data dictionary\n"
                              f"{body}", problems)
    if not out:
        raise DictionaryError(f"{path}: the REDCap data dictionary declares no field; export the "
                              "project's data dictionary from REDCap")
    return out
