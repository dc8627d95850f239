"""REDCap projects: the data dictionary and the record export, read as an evalkit dictionary.

In REDCap: Project Setup → Data Dictionary → "Download the current Data Dictionary" gives the
metadata CSV; Data Exports → "All data (all records and fields)" → CSV / Microsoft Excel (raw data)
gives the record export. Give both, unchanged:

>>> import tempfile
>>> from pathlib import Path
>>> import evalkit as ek
>>> tmp = Path(tempfile.mkdtemp())
>>> head = ('"Variable / Field Name","Form Name","Section Header","Field Type","Field Label",'
...         '"Choices, Calculations, OR Slider Labels","Field Note",'
...         '"Text Validation Type OR Show Slider Number","Text Validation Min",'
...         '"Text Validation Max","Identifier?","Branching Logic (Show field only if...)",'
...         '"Required Field?","Custom Alignment","Question Number (surveys only)",'
...         '"Matrix Group Name","Matrix Ranking?","Field Annotation"')
>>> rows = ['record_id,enrolment,,text,Record ID,,,,,,,,,,,,,',
...         'first_name,enrolment,,text,First name,,,,,,y,,,,,,,']
>>> rows += [f'phq9_{k},phq,,radio,Item {k},"0, 0 | 1, 1 | 2, 2 | 3, 3",,,,,,,,,,phq,,'
...          for k in range(1, 10)]
>>> _ = (tmp / "metadata.csv").write_text("\\n".join([head, *rows]) + "\\n")
>>> items = ",".join(f"phq9_{k}" for k in range(1, 10))
>>> _ = (tmp / "export.csv").write_text(
...     f"record_id,redcap_event_name,first_name,enrolment_complete,{items},phq_complete\\n"
...     f"1,baseline_arm_1,Ann,2,{','.join('1' * 8)},0,2\\n"
...     f"1,6_weeks_arm_1,,,{','.join('0' * 9)},2\\n")
>>> dd = ek.DataDictionary.from_redcap(tmp / "metadata.csv", records=tmp / "export.csv")
>>> [(w.name, w.week) for w in dd.waves], dd.id_column, dd.variable("first_name").identifying
([('baseline', 0.0), ('6_weeks', 6.0)], 'participant_id', True)
>>> dd.evidence[["instrument", "items", "status"]]
  instrument  items               status
0       phq9      9  recognised: confirm
>>> report = ek.validate([tmp / "export.csv"], dictionary=dd)
>>> report.ok
True
>>> scored = ek.score_dictionary(report, dictionary=dd)
>>> scored.scores[["participant_id", "wave", "phq9"]]
  participant_id      wave  phq9
0              1  baseline   8.0
1              1   6_weeks   0.0
"""

from __future__ import annotations

from pathlib import Path

from .convert import draft_from_redcap

__all__ = ["from_redcap", "draft_from_redcap"]


def from_redcap(metadata: str | Path, *, records: str | Path | None = None,
                study: str | None = None, missing_codes: tuple = ()):
    """Same as :meth:`evalkit.DataDictionary.from_redcap` (documented there)."""
    from ..dictionary import DataDictionary

    return DataDictionary.from_redcap(metadata, records=records, study=study,
                                      missing_codes=missing_codes)
