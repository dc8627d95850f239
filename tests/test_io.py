"""Tests of evalkit.io: every reader keeps values as the file has them, with line numbers right."""

from __future__ import annotations

import codecs
import datetime as dt
import time

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest

import evalkit
from evalkit.errors import DataQualityWarning, DataReadError, EvalkitError, SpecificationError
from evalkit.io import FIRST_DATA_LINE, SUPPORTED_FORMATS, line_numbers, read_table, table_format
from evalkit.validation import read_data  # typed reading converts with validation's coerce_table


def write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def write_text(path, text: str, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def assert_clean_error(excinfo):
    """A DataReadError: one line, no chained library traceback."""
    err = excinfo.value
    assert isinstance(err, EvalkitError)
    assert "\n" not in str(err)
    assert err.__cause__ is None
    assert err.__suppress_context__ or err.__context__ is None


# ------------------------------------------------------------------------------ formats
class TestTableFormat:
    @pytest.mark.parametrize("name, fmt", [
        ("a.csv", "csv"), ("a.CSV", "csv"), ("a.tsv", "csv"), ("a.Txt", "csv"),
        ("a.xlsx", "xlsx"), ("A.XLSX", "xlsx"), ("a.sav", "sav"), ("a.dta", "dta"),
        ("a.parquet", "parquet"), ("dir.v2/wave 1.Parquet", "parquet"),
    ])
    def test_extensions(self, name, fmt):
        assert table_format(name) == fmt

    def test_supported_formats_is_read_only(self):
        assert set(SUPPORTED_FORMATS.values()) == {"csv", "xlsx", "sav", "dta", "parquet"}
        with pytest.raises(TypeError):
            SUPPORTED_FORMATS[".xls"] = "xlsx"  # type: ignore[index]

    def test_unknown_extension(self, tmp_path):
        path = write_text(tmp_path / "data.json", "{}")
        with pytest.raises(DataReadError, match=r"data\.json.*unsupported extension '\.json'.*"
                                                r"\.csv, \.tsv, \.txt, \.xlsx, \.sav, \.dta, \.parquet"
                                           ) as excinfo:
            read_table(path)
        assert_clean_error(excinfo)

    def test_no_extension(self, tmp_path):
        with pytest.raises(DataReadError, match="unsupported no extension|no extension"):
            table_format(tmp_path / "README")

    def test_xls_hint(self):
        with pytest.raises(DataReadError, match=r"save it as \.xlsx"):
            table_format("old.xls")

    def test_missing_file(self, tmp_path):
        path = tmp_path / "nope.csv"
        with pytest.raises(DataReadError, match=r"file not found: .*nope\.csv; check the path") as ei:
            read_table(path)
        assert_clean_error(ei)

    def test_data_read_error_is_oserror(self, tmp_path):
        with pytest.raises(OSError):
            read_table(tmp_path / "nope.csv")

    def test_folder(self, tmp_path):
        (tmp_path / "d.csv").mkdir()
        with pytest.raises(DataReadError, match="folder"):
            read_table(tmp_path / "d.csv")

    def test_sheet_only_for_excel(self, tmp_path):
        path = write_text(tmp_path / "a.csv", "x\n1\n")
        with pytest.raises(SpecificationError, match="sheet"):
            read_table(path, sheet="Sheet1")


# ------------------------------------------------------------------------------ CSV
class TestCsv:
    def test_values_kept_as_text(self, tmp_path):
        path = write_text(tmp_path / "r.csv",
                          "participant_id,epds_1,note,age\n"
                          "P1,-9,abc, 3 \n"
                          "P2,,NA,NaN\n"
                          "P3,007,null,1e3\n")
        raw = read_table(path)
        assert list(raw.columns) == ["participant_id", "epds_1", "note", "age"]
        assert raw["epds_1"].tolist() == ["-9", "", "007"]
        assert raw["note"].tolist() == ["abc", "NA", "null"]
        assert raw["age"].tolist() == [" 3 ", "NaN", "1e3"]  # values are not stripped
        assert all(isinstance(v, str) for col in raw for v in raw[col])
        assert isinstance(raw.index, pd.RangeIndex) and raw.index.start == 0

    def test_header_names_stripped(self, tmp_path):
        path = write_text(tmp_path / "r.csv", " participant_id , wave\nP1,baseline\n")
        raw = read_table(path)
        assert list(raw.columns) == ["participant_id", "wave"]
        assert raw["wave"].tolist() == ["baseline"]

    def test_quoted_values(self, tmp_path):
        path = write_text(tmp_path / "r.csv", 'id,comment\nP1,"a, b"\nP2,"say ""hi"""\n')
        assert read_table(path)["comment"].tolist() == ["a, b", 'say "hi"']

    def test_bom(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "participant_id,x\nP1,é\n", encoding="utf-8-sig")
        raw = read_table(path)
        assert list(raw.columns) == ["participant_id", "x"]
        assert raw["x"].tolist() == ["é"]

    def test_semicolon_delimited(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "id;score;weight\nP1;3;1,5\nP2;4;2,25\n")
        raw = read_table(path)
        assert list(raw.columns) == ["id", "score", "weight"]
        assert raw["weight"].tolist() == ["1,5", "2,25"]  # decimal commas stay text

    def test_tab_delimited_txt(self, tmp_path):
        path = write_text(tmp_path / "r.txt", "id\tnote\nP1\ta, b; c\nP2\t\n")
        raw = read_table(path)
        assert list(raw.columns) == ["id", "note"]
        assert raw["note"].tolist() == ["a, b; c", ""]

    def test_tsv_single_column(self, tmp_path):
        path = write_text(tmp_path / "r.tsv", "id\nP1\nP2\n")
        assert read_table(path)["id"].tolist() == ["P1", "P2"]

    def test_comma_wins_over_commas_in_quotes(self, tmp_path):
        path = write_text(tmp_path / "r.csv", 'id,note\nP1,"x;y;z"\nP2,"a;b"\n')
        assert read_table(path)["note"].tolist() == ["x;y;z", "a;b"]

    def test_cp1252_fallback(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "id,site\nP1,Bromley\nP2,Café\n", encoding="cp1252")
        assert read_table(path)["site"].tolist() == ["Bromley", "Café"]

    def test_cp1252_after_first_64kb(self, tmp_path):
        # UTF-8-clean start, a Windows-1252 byte far down the file: retried as Windows-1252
        body = "".join(f"P{i},ok\n" for i in range(20_000))
        path = write_bytes(tmp_path / "r.csv", b"id,site\n" + body.encode() + "P_last,Café\n".encode("cp1252"))
        raw = read_table(path)
        assert raw["site"].iloc[-1] == "Café"
        assert len(raw) == 20_001

    def test_utf16_with_bom(self, tmp_path):
        path = write_text(tmp_path / "r.txt", "id\tsite\nP1\tCafé\n", encoding="utf-16")
        raw = read_table(path)
        assert list(raw.columns) == ["id", "site"]
        assert raw["site"].tolist() == ["Café"]

    def test_header_only(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "participant_id,wave,epds_1\n")
        raw = read_table(path)
        assert raw.shape == (0, 3)
        assert list(raw.columns) == ["participant_id", "wave", "epds_1"]
        assert line_numbers(raw).tolist() == []

    def test_header_only_no_newline(self, tmp_path):
        assert list(read_table(write_text(tmp_path / "r.csv", "a,b")).columns) == ["a", "b"]

    @pytest.mark.parametrize("content", [b"", b"\n\n", b"  \r\n", b"\xef\xbb\xbf"])
    def test_empty_file(self, tmp_path, content):
        path = write_bytes(tmp_path / "r.csv", content)
        with pytest.raises(DataReadError, match=r"r\.csv.*empty \(no header line\)") as ei:
            read_table(path)
        assert_clean_error(ei)

    def test_duplicate_headers(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "id,x,y,x,y,z\n1,2,3,4,5,6\n")
        with pytest.raises(DataReadError, match=r"r\.csv: duplicate column names in the header "
                                                r"\(line 1\): 'x' \(columns 2, 4\); 'y' \(columns 3, 5\);"
                                                r" rename them") as ei:
            read_table(path)
        assert_clean_error(ei)

    def test_duplicate_after_stripping(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "id,x ,x\n1,2,3\n")
        with pytest.raises(DataReadError, match="'x' \\(columns 2, 3\\)"):
            read_table(path)

    def test_line_numbers(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "id,x\nP1,1\nP2,2\nP3,3\n")
        raw = read_table(path)
        assert FIRST_DATA_LINE == 2
        assert line_numbers(raw).tolist() == [2, 3, 4]
        np.testing.assert_array_equal(line_numbers(raw), raw.index.to_numpy() + FIRST_DATA_LINE)
        # a filtered frame keeps the file lines of its rows
        assert line_numbers(raw[raw["x"] != "2"]).tolist() == [2, 4]
        lines = path.read_text().splitlines()
        for i, line in zip(range(len(raw)), line_numbers(raw)):
            assert lines[line - 1].startswith(raw.loc[i, "id"])

    def test_blank_lines_keep_line_numbers(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "id,x\nP1,1\n\nP3,3\n\n\n")
        raw = read_table(path)
        assert raw["id"].tolist() == ["P1", "", "P3"]  # interior blank kept, trailing dropped
        assert line_numbers(raw)[raw["id"] == "P3"].tolist() == [4]

    def test_crlf(self, tmp_path):
        path = write_bytes(tmp_path / "r.csv", b"id,x\r\nP1,1\r\nP2,\r\n")
        raw = read_table(path)
        assert raw["x"].tolist() == ["1", ""]

    def test_short_row_padded(self, tmp_path):
        with pytest.warns(DataQualityWarning, match=r"r\.csv: every row has 2 fields but the header "
                                                     r"has 3 names: column 'c' has no values"):
            raw = read_table(write_text(tmp_path / "r.csv", "a,b,c\n1,2\n"))
        assert raw.iloc[0].tolist() == ["1", "2", ""]

    def test_one_short_row_padded_with_its_line(self, tmp_path):
        with pytest.warns(DataQualityWarning, match=r"line 3 has 2 fields but the header has 3; "
                                                     r"the row was padded with empty values"):
            raw = read_table(write_text(tmp_path / "r.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n"))
        assert raw.iloc[1].tolist() == ["4", "5", ""]
        assert line_numbers(raw).tolist() == [2, 3, 4]

    def test_long_row_is_an_error_with_its_line(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "a,b\n1,2\n3,4,5\n")
        with pytest.raises(DataReadError, match=r"r\.csv.*line 3 has 3 fields, but the header has "
                                                r"2 fields") as ei:
            read_table(path)
        assert_clean_error(ei)

    def test_unnamed_empty_column_dropped(self, tmp_path):
        raw = read_table(write_text(tmp_path / "r.csv", "a,b,\n1,2,\n3,4,\n"))
        assert list(raw.columns) == ["a", "b"]

    def test_unnamed_column_with_values(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "a,,c\n1,2,3\n")
        with pytest.raises(DataReadError, match=r"column 2 has values but no name in the header \(line 1\)"):
            read_table(path)

    def test_binary_garbage(self, tmp_path):
        rng = np.random.default_rng(0)
        path = write_bytes(tmp_path / "r.csv", rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
                           + b"\x81\x8d\x8f\x90\x9d")
        with pytest.raises(DataReadError, match=r"r\.csv") as ei:
            read_table(path)
        assert_clean_error(ei)

    def test_accepts_str_path(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "a\n1\n")
        assert read_table(str(path))["a"].tolist() == ["1"]

    def test_large_file_is_fast(self, tmp_path):
        n, k = 50_000, 40
        rng = np.random.default_rng(1)
        frame = pd.DataFrame(rng.integers(-9, 5, (n, k)).astype(str),
                             columns=[f"item_{j}" for j in range(k)])
        path = tmp_path / "big.csv"
        frame.to_csv(path, index=False)
        start = time.perf_counter()
        raw = read_table(path)
        elapsed = time.perf_counter() - start
        assert raw.shape == (n, k)
        assert raw.iloc[-1].tolist() == frame.iloc[-1].tolist()
        assert elapsed < 5  # ~0.15 s on a laptop; generous for slow CI


# ------------------------------------------------------------------------------ Excel
@pytest.fixture
def workbook(tmp_path):
    path = tmp_path / "cohort.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Notes"
    ws.append(["Exported from the case system"])
    ws2 = wb.create_sheet("responses")
    ws2.append([" participant_id", "assessed_on", "epds_1", "note", 2024])
    ws2.append(["P1", dt.datetime(2024, 1, 15), 2, "NA", 1.5])
    ws2.append(["P2", None, -9, " x ", None])
    ws2.append([None, None, None, None, None])  # interior empty row: keeps line numbers
    ws2.append(["P4", dt.date(2024, 3, 1), 3, "", None])
    ws2.append([None, None, None, None, None])  # trailing empty rows are dropped
    wb.save(path)
    return path


class TestExcel:
    def test_first_sheet_default(self, workbook):
        raw = read_table(workbook)
        assert list(raw.columns) == ["Exported from the case system"]
        assert len(raw) == 0

    def test_sheet_by_name(self, workbook):
        raw = read_table(workbook, sheet="responses")
        assert list(raw.columns) == ["participant_id", "assessed_on", "epds_1", "note", "2024"]
        assert raw["participant_id"].tolist()[:2] == ["P1", "P2"]
        assert raw["epds_1"].tolist()[:2] == [2, -9]
        assert raw["note"].tolist()[:2] == ["NA", " x "]  # text cells as written
        assert len(raw) == 4

    def test_sheet_by_position(self, workbook):
        assert read_table(workbook, sheet=1).equals(read_table(workbook, sheet="responses"))

    def test_dates(self, workbook):
        raw = read_table(workbook, sheet="responses")
        dates = raw["assessed_on"]
        assert isinstance(dates[0], dt.datetime)
        assert pd.Timestamp(dates[0]) == pd.Timestamp("2024-01-15")
        assert pd.Timestamp(dates[3]) == pd.Timestamp("2024-03-01")

    def test_empty_cells_are_missing(self, workbook):
        raw = read_table(workbook, sheet="responses")
        assert pd.isna(raw.loc[1, "assessed_on"])
        assert pd.isna(raw.loc[1, "2024"])
        assert raw.iloc[2].isna().all()

    def test_line_numbers_match_rows(self, workbook):
        raw = read_table(workbook, sheet="responses")
        assert line_numbers(raw)[raw["participant_id"] == "P4"].tolist() == [5]
        ws = openpyxl.load_workbook(workbook)["responses"]
        assert ws.cell(row=5, column=1).value == "P4"

    def test_wrong_sheet_lists_sheets(self, workbook):
        with pytest.raises(DataReadError, match=r"cohort\.xlsx has no sheet named 'Responses'; "
                                                r"its sheets are 'Notes', 'responses'") as ei:
            read_table(workbook, sheet="Responses")
        assert_clean_error(ei)

    def test_sheet_position_out_of_range(self, workbook):
        with pytest.raises(DataReadError, match="no sheet at position 5.*'Notes', 'responses'"):
            read_table(workbook, sheet=5)

    def test_to_excel_round_trip(self, tmp_path):
        frame = pd.DataFrame({"id": ["P1", "P2"], "score": [1.5, np.nan],
                              "when": pd.to_datetime(["2024-01-01", "2024-02-01"])})
        path = tmp_path / "t.xlsx"
        frame.to_excel(path, index=False)
        raw = read_table(path)
        assert raw["id"].tolist() == ["P1", "P2"]
        assert raw.loc[0, "score"] == 1.5 and pd.isna(raw.loc[1, "score"])
        assert pd.Timestamp(raw.loc[1, "when"]) == pd.Timestamp("2024-02-01")

    def test_duplicate_headers(self, tmp_path):
        path = tmp_path / "d.xlsx"
        pd.DataFrame([[1, 2, 3]], columns=["a", "b", "c"]).to_excel(path, index=False)
        wb = openpyxl.load_workbook(path)
        wb.active["C1"] = "a"
        wb.save(path)
        with pytest.raises(DataReadError, match=r"duplicate column names .*'a' \(columns 1, 3\)"):
            read_table(path)

    def test_empty_sheet(self, tmp_path):
        path = tmp_path / "e.xlsx"
        openpyxl.Workbook().save(path)
        with pytest.raises(DataReadError, match="is empty \\(no header row\\)"):
            read_table(path)

    def test_corrupt(self, tmp_path):
        path = write_bytes(tmp_path / "x.xlsx", np.random.default_rng(2).bytes(4000))
        with pytest.raises(DataReadError, match=r"cannot read .*x\.xlsx as an Excel workbook "
                                                r"\(BadZipFile: .*\); check") as ei:
            read_table(path)
        assert_clean_error(ei)

    def test_csv_renamed_xlsx(self, tmp_path):
        path = write_text(tmp_path / "x.xlsx", "a,b\n1,2\n")
        with pytest.raises(DataReadError, match="Excel workbook"):
            read_table(path)


# ------------------------------------------------------------------------------ SPSS / Stata
@pytest.fixture
def labelled_frame():
    return pd.DataFrame({
        "participant_id": ["P1", "P2", "P3", "P4", "P5", "P6"],
        "delivery_mode": [1.0, 2.0, 3.0, 1.0, np.nan, 4.0],
        "partner": [1.0, 0.0, -9.0, 1.0, 0.0, np.nan],
        "epds": [12.0, -8.0, 7.0, np.nan, 30.0, -9.0],
        "assessed_on": [dt.date(2024, 1, 2), dt.date(2024, 2, 3), None, dt.date(2024, 4, 5),
                        dt.date(2024, 5, 6), dt.date(2024, 6, 7)],
    })


MODE_LABELS = {1: "one_to_one", 2: "group", 3: "both"}
PARTNER_LABELS = {0: "no", 1: "yes", -9: "not answered"}


class TestSpss:
    @pytest.fixture
    def sav(self, tmp_path, labelled_frame):
        path = tmp_path / "cohort.sav"
        pyreadstat.write_sav(labelled_frame, str(path),
                             variable_value_labels={"delivery_mode": MODE_LABELS,
                                                    "partner": PARTNER_LABELS},
                             missing_ranges={"partner": [-9], "epds": [{"lo": -9, "hi": -8}]})
        return path

    def test_codes_kept_labels_beside_them(self, sav):
        raw = read_table(sav)
        mode = raw["delivery_mode"]
        assert mode.dtype == np.float64  # the stored codes, not the labels
        assert mode.tolist()[:4] == [1.0, 2.0, 3.0, 1.0]
        assert pd.isna(mode[4])        # system-missing
        assert mode[5] == 4.0          # a code without a label is a code like the others
        assert raw.attrs["value_labels"]["delivery_mode"] == MODE_LABELS
        assert raw.attrs["value_labels"]["partner"] == PARTNER_LABELS

    def test_user_missing_returned_as_codes(self, sav):
        raw = read_table(sav)
        partner = raw["partner"]
        assert partner.tolist()[:5] == [1.0, 0.0, -9.0, 1.0, 0.0]  # -9 is user-missing: a code
        assert pd.isna(partner[5])
        epds = raw["epds"]
        assert epds.dtype == np.float64  # unlabelled numeric column: codes stay numbers
        assert epds.tolist()[:3] == [12.0, -8.0, 7.0] and epds[5] == -9.0
        assert pd.isna(epds[3])

    def test_types_and_index(self, sav):
        raw = read_table(sav)
        assert raw["participant_id"].tolist() == ["P1", "P2", "P3", "P4", "P5", "P6"]
        assert pd.api.types.is_datetime64_any_dtype(raw["assessed_on"])
        assert raw["assessed_on"][0] == pd.Timestamp("2024-01-02") and pd.isna(raw["assessed_on"][2])
        assert isinstance(raw.index, pd.RangeIndex)
        assert line_numbers(raw).tolist() == [2, 3, 4, 5, 6, 7]
        assert all(isinstance(c, str) for c in raw.columns)

    def test_corrupt(self, tmp_path):
        path = write_bytes(tmp_path / "x.sav", np.random.default_rng(3).bytes(4000))
        with pytest.raises(DataReadError, match=r"cannot read .*x\.sav as an SPSS \.sav file "
                                                r"\(\w+: .+\); check") as ei:
            read_table(path)
        assert_clean_error(ei)


class TestStata:
    @pytest.fixture
    def dta(self, tmp_path, labelled_frame):
        path = tmp_path / "cohort.dta"
        frame = labelled_frame.assign(partner=labelled_frame["partner"].replace(-9.0, np.nan))
        pyreadstat.write_dta(frame, str(path),
                             variable_value_labels={"delivery_mode": MODE_LABELS,
                                                    "partner": {0: "no", 1: "yes"}})
        return path

    def test_codes_kept_labels_beside_them(self, dta):
        raw = read_table(dta)
        mode = raw["delivery_mode"]
        assert pd.api.types.is_numeric_dtype(mode)
        assert mode.tolist()[:4] == [1.0, 2.0, 3.0, 1.0]
        assert pd.isna(mode[4]) and mode[5] == 4.0
        assert raw["partner"].tolist()[:2] == [1.0, 0.0] and pd.isna(raw["partner"][2])
        assert raw.attrs["value_labels"]["delivery_mode"] == MODE_LABELS

    def test_read_data_turns_labels_into_categories(self, dta):
        mode = read_data(dta)["delivery_mode"]
        assert list(mode.cat.categories) == ["one_to_one", "group", "both", "4"]
        assert mode.tolist()[:4] == ["one_to_one", "group", "both", "one_to_one"]
        assert pd.isna(mode[4]) and mode[5] == "4"

    def test_numeric_and_dates(self, dta):
        raw = read_table(dta)
        assert pd.api.types.is_numeric_dtype(raw["epds"])
        assert raw["epds"].tolist()[:3] == [12.0, -8.0, 7.0]
        assert pd.api.types.is_datetime64_any_dtype(raw["assessed_on"])
        assert line_numbers(raw).tolist() == [2, 3, 4, 5, 6, 7]

    def test_corrupt(self, tmp_path):
        path = write_bytes(tmp_path / "x.dta", np.random.default_rng(4).bytes(4000))
        with pytest.raises(DataReadError, match=r"x\.dta as a Stata \.dta file") as ei:
            read_table(path)
        assert_clean_error(ei)


# ------------------------------------------------------------------------------ Parquet
class TestParquet:
    def test_round_trip(self, tmp_path):
        frame = pd.DataFrame({
            "participant_id": ["P1", "P2", "P3"],
            "epds": [12, 7, 30],
            "weight": [1.5, np.nan, 2.0],
            "site": pd.Categorical(["North", "South", "North"]),
            "assessed_on": pd.to_datetime(["2024-01-02", None, "2024-03-04"]),
        }, index=[10, 20, 30])
        path = tmp_path / "cohort.parquet"
        frame.to_parquet(path)
        raw = read_table(path)
        pd.testing.assert_frame_equal(raw, frame.reset_index(drop=True))
        assert isinstance(raw.index, pd.RangeIndex)
        assert line_numbers(raw).tolist() == [2, 3, 4]

    def test_named_index_becomes_column(self, tmp_path):
        frame = pd.DataFrame({"epds": [1, 2]}, index=pd.Index(["P1", "P2"], name="participant_id"))
        path = tmp_path / "c.parquet"
        frame.to_parquet(path)
        raw = read_table(path)
        assert list(raw.columns) == ["participant_id", "epds"]
        assert raw["participant_id"].tolist() == ["P1", "P2"]

    def test_corrupt(self, tmp_path):
        path = write_bytes(tmp_path / "x.parquet", np.random.default_rng(5).bytes(4000))
        with pytest.raises(DataReadError, match=r"cannot read .*x\.parquet as a Parquet file "
                                                r"\(\w+: .+\); check") as ei:
            read_table(path)
        assert_clean_error(ei)


# ------------------------------------------------------------------------------ read_data
class TestReadData:
    def test_infers_types_like_read_csv(self, tmp_path):
        path = write_text(tmp_path / "p.csv",
                          "participant_id,age,sessions,weight,first_baby,site,code\n"
                          "P1,31,4, 1.5 ,True,North,007\n"
                          "P2,,2,NA,False,,x\n"
                          "P3,28,0,2,true,South,\n")
        data = read_data(path)
        assert data["participant_id"].tolist() == ["P1", "P2", "P3"]
        assert data["age"].dtype == np.float64 and np.isnan(data["age"][1])
        assert data["sessions"].dtype == np.int64 and data["sessions"].tolist() == [4, 2, 0]
        assert data["weight"].tolist()[0] == 1.5 and np.isnan(data["weight"][1])
        assert data["first_baby"].dtype == bool and data["first_baby"].tolist() == [True, False, True]
        assert data["site"][0] == "North" and pd.isna(data["site"][1])
        assert data["code"].tolist()[:2] == ["007", "x"] and pd.isna(data["code"][2])
        assert isinstance(data.index, pd.RangeIndex)

    def test_missing_codes_not_recognised_without_dictionary(self, tmp_path):
        data = read_data(write_text(tmp_path / "p.csv", "x\n-9\n3\n"))
        assert data["x"].tolist() == [-9, 3]

    def test_all_empty_column(self, tmp_path):
        data = read_data(write_text(tmp_path / "p.csv", "a,b\n1,\n2,\n"))
        assert data["b"].dtype == np.float64 and data["b"].isna().all()

    def test_header_only(self, tmp_path):
        data = read_data(write_text(tmp_path / "p.csv", "a,b\n"))
        assert data.shape == (0, 2)

    def test_excel(self, workbook):
        data = read_data(workbook, sheet="responses")
        assert pd.api.types.is_datetime64_any_dtype(data["assessed_on"])
        assert data["assessed_on"][0] == pd.Timestamp("2024-01-15") and pd.isna(data["assessed_on"][1])
        assert data["epds_1"].dtype == np.float64
        assert data["epds_1"].tolist()[:2] == [2.0, -9.0]
        assert pd.isna(data["note"][0])  # "NA" text is missing once types are inferred

    def test_mixed_excel_column_stays_object(self, tmp_path):
        path = tmp_path / "m.xlsx"
        pd.DataFrame({"x": [1, "abc", 3]}).to_excel(path, index=False)
        data = read_data(path)
        assert data["x"].tolist() == [1, "abc", 3]

    def test_spss_categories_kept(self, tmp_path, labelled_frame):
        path = tmp_path / "c.sav"
        pyreadstat.write_sav(labelled_frame, str(path), variable_value_labels={"delivery_mode": MODE_LABELS})
        data = read_data(path)
        assert isinstance(data["delivery_mode"].dtype, pd.CategoricalDtype)
        assert data["delivery_mode"].tolist()[:3] == ["one_to_one", "group", "both"]
        assert data["epds"].dtype == np.float64

    def test_errors_as_read_table(self, tmp_path):
        with pytest.raises(DataReadError, match="file not found"):
            read_data(tmp_path / "none.csv")

    def test_public_name(self):
        assert evalkit.read_data is read_data

    def test_dictionary_calls_coerce_table(self, tmp_path, monkeypatch):
        """read_data hands the raw text to coerce_table and warns about its problems."""
        import sys
        import types

        calls = {}

        def fake_coerce_table(raw, *, dictionary, file):
            calls.update(raw=raw, dictionary=dictionary, file=file)
            typed = raw.assign(x=pd.to_numeric(raw["x"], errors="coerce"))
            problems = pd.DataFrame({"file": [file], "line": [3], "column": ["x"], "value": ["abc"],
                                     "rule": ["type"], "message": ["not a number"]})
            return typed, problems

        module = sys.modules.get("evalkit.validation") or types.ModuleType("evalkit.validation")
        monkeypatch.setitem(sys.modules, "evalkit.validation", module)
        monkeypatch.setattr(module, "coerce_table", fake_coerce_table, raising=False)
        path = write_text(tmp_path / "p.csv", "x\n1\nabc\n")
        marker = object()
        with pytest.warns(DataQualityWarning, match=r"p\.csv: 1 value did not match .*line 3, "
                                                     r"column x, value 'abc'"):
            data = read_data(path, dictionary=marker)
        assert calls["dictionary"] is marker and calls["file"] == str(path)
        assert calls["raw"]["x"].tolist() == ["1", "abc"]  # raw text, not inferred
        assert data["x"].tolist()[0] == 1.0


def test_read_data_with_dictionary(tmp_path):
    dd = evalkit.DataDictionary.from_dict({
        "study": "t",
        "missing_codes": [-9],
        "waves": {"baseline": {"week": 0, "window": [0, 0]}},
        "datasets": {"people": {"file": "people*.csv", "keys": ["participant_id"], "variables": {
            "participant_id": {"type": "string", "role": "id"},
            "age": {"type": "integer", "role": "context", "range": [16, 60]},
        }}},
    })
    path = write_text(tmp_path / "people.csv", "participant_id,age\nP1,31\nP2,-9\n")
    data = read_data(path, dictionary=dd)
    assert data["age"].iloc[0] == 31
    assert pd.isna(data["age"].iloc[1])


def test_nul_bytes_mean_binary(tmp_path):
    path = write_bytes(tmp_path / "r.txt", b"id,x\n\x00\x01\x02,3\n")
    with pytest.raises(DataReadError, match=r"r\.txt: it is not a text file: it contains NUL "
                                            r"bytes.*binary file") as ei:
        read_table(path)
    assert_clean_error(ei)


def test_stata_extended_missing_is_nan(tmp_path):
    frame = pd.DataFrame({"n": [1.0, "a", 3.0, np.nan]}, dtype=object)
    path = tmp_path / "m.dta"
    pyreadstat.write_dta(frame, str(path), missing_user_values={"n": ["a"]},
                         variable_value_labels={"n": {1: "one"}})
    raw = read_table(path)
    assert raw["n"].tolist()[0] == 1.0 and raw["n"][2] == 3.0
    assert pd.isna(raw["n"][1]) and pd.isna(raw["n"][3])
    assert read_data(path)["n"].tolist()[0] == "one"


def test_spss_string_labels_and_user_missing(tmp_path):
    frame = pd.DataFrame({"s": ["a", "b", "x", "", "zz"]})
    path = tmp_path / "s.sav"
    pyreadstat.write_sav(frame, str(path), variable_value_labels={"s": {"a": "Apple", "b": "Banana",
                                                                       "x": "refused"}},
                         missing_ranges={"s": ["x"]})
    raw = read_table(path)
    assert raw["s"].tolist() == ["a", "b", "x", "", "zz"]  # the stored text
    assert raw.attrs["value_labels"]["s"] == {"a": "Apple", "b": "Banana", "x": "refused"}
    typed = read_data(path)["s"]
    assert typed.tolist()[:3] == ["Apple", "Banana", "x"]
    assert pd.isna(typed[3]) and typed[4] == "zz"
    assert list(typed.cat.categories) == ["Apple", "Banana", "x", "zz"]


# ------------------------------------------------------------------------------ messy text files
from evalkit.io import Expected, _read  # noqa: E402  (internal reader used by validation)


@pytest.fixture
def expect():
    return Expected.from_dictionary(evalkit.DataDictionary.from_yaml(evalkit.example_dictionary_path()))


class TestPhysicalLines:
    def test_quoted_newline_does_not_shift_later_lines(self, tmp_path):
        path = write_text(tmp_path / "r.csv", 'id,note\nP1,"one\ntwo\nthree"\nP2,x\nP3,"a\r\nb"\nP4,y\n')
        raw = read_table(path)
        assert raw["note"].tolist() == ["one\ntwo\nthree", "x", "a\r\nb", "y"]
        assert line_numbers(raw).tolist() == [2, 5, 6, 8]
        assert line_numbers(raw[raw["id"] == "P4"]).tolist() == [8]

    def test_careful_reader_agrees_with_fast_one(self, tmp_path, monkeypatch):
        text = 'id,note,x\nP1,"a, ""b""\nc",1\n\nP3,plain,3\r\nP4,"",4\n'
        path = write_text(tmp_path / "r.csv", text)
        fast = _read(path, strict=False)
        import evalkit.io as eio
        monkeypatch.setattr(eio, "_scan", lambda body, delimiter: None)
        slow = _read(path, strict=False)
        pd.testing.assert_frame_equal(fast.frame, slow.frame)
        assert fast.lines.tolist() == slow.lines.tolist() == [2, 4, 5, 6]

    def test_stray_quote_inside_a_value(self, tmp_path):
        path = write_text(tmp_path / "r.csv", 'id,height\nP1,5" tall\nP2,6\n')
        raw = read_table(path)
        assert raw["height"].tolist() == ['5" tall', "6"]
        assert line_numbers(raw).tolist() == [2, 3]

    def test_unclosed_quote_named_with_its_lines(self, tmp_path):
        path = write_text(tmp_path / "r.csv", 'id,note\nP1,ok\nP2,"never closed\nP3,x\nP4,y\n')
        table = _read(path, strict=False)
        assert table.frame["id"].tolist() == ["P1"]
        [problem] = table.problems
        assert problem["line"] == 3 and problem["rule"] == "ragged_row"
        assert "never closed" in problem["message"] and "lines 3–5" in problem["message"]
        with pytest.raises(DataReadError, match="line 3 opens a quote that is never closed"):
            read_table(path)


class TestRaggedRows:
    def test_each_bad_line_reported_rest_read(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "id,a,b\nP1,1,2\nP2,1,2,3\nP3,1\nP4,1,2\nP5,1,2,,\n")
        table = _read(path, strict=False)
        assert table.frame["id"].tolist() == ["P1", "P4", "P5"]  # empty trailing fields are fine
        assert table.lines.tolist() == [2, 5, 6]
        assert [(p["line"], p["rule"]) for p in table.problems] == [(3, "ragged_row"), (4, "ragged_row")]
        assert "line 3 has 4 fields but the header has 3" in table.problems[0]["message"]
        assert "line 4 has 2 fields but the header has 3" in table.problems[1]["message"]
        assert [a["line"] for a in table.set_aside] == [3, 4]

    def test_ids_of_set_aside_rows_kept(self, tmp_path, expect):
        path = write_text(tmp_path / "r.csv", "participant_id,wave\nP1,baseline\nP2,mid,x\n")
        table = _read(path, strict=False, expect=expect)
        assert table.set_aside == [{"line": 3, "reason": "wrong number of fields", "id": "P2"}]

    def test_every_line_too_long_is_a_missing_header_name(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "a,b\n1,2,3\n4,5,6\n")
        table = _read(path, strict=False)
        assert [p["rule"] for p in table.problems] == ["unknown_column"]
        assert "column 3 has values but no name" in table.problems[0]["message"]
        assert table.frame.values.tolist() == [["1", "2"], ["4", "5"]]

    def test_trailing_delimiters(self, tmp_path):
        raw = read_table(write_text(tmp_path / "r.csv", "a,b\n1,2,\n3,4,\n"))
        assert raw.values.tolist() == [["1", "2"], ["3", "4"]]


class TestEncodings:
    def test_one_encoding_for_the_whole_file(self, tmp_path):
        body = "".join(f"P{i},ok\n" for i in range(20_000))
        data = "id,site\nP0,Zoë\n".encode() + body.encode() + "P_last,Zoë\n".encode("cp1252")
        path = write_bytes(tmp_path / "r.csv", data)
        with pytest.raises(DataReadError, match=r"mixes text encodings: it is UTF-8, but line 20003 "
                                                r"is not .*'P_last,Zoë'.*save it as 'CSV UTF-8'") as ei:
            read_table(path)
        assert ei.value.line == 20003 and ei.value.rule == "encoding"

    def test_utf8_bom_then_cp1252(self, tmp_path):
        path = write_bytes(tmp_path / "r.csv", codecs.BOM_UTF8 + "id\nCafé\n".encode("cp1252"))
        with pytest.raises(DataReadError, match="line 2"):
            read_table(path)

    def test_cp1252_note(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "id,site\nP1,Café\n", encoding="cp1252")
        table = _read(path, strict=False)
        assert table.frame["site"].tolist() == ["Café"]
        assert table.notes[0]["message"].startswith("read as Windows-1252 text")

    def test_utf16_crlf_semicolons(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "id;x\r\nP1;3,5\r\nP2;4\r\n", encoding="utf-16")
        table = _read(path, strict=False)
        assert table.frame.values.tolist() == [["P1", "3,5"], ["P2", "4"]]
        assert table.decimal_comma and table.lines.tolist() == [2, 3]

    @pytest.mark.parametrize("content, what", [
        (b"PK\x03\x04" + bytes(100), "zip archive, probably an Excel workbook"),
        (b"%PDF-1.7\n" + bytes(50), "PDF"),
        (bytes(range(1, 32)) * 50, "control characters"),
    ])
    def test_binary_files(self, tmp_path, content, what):
        with pytest.raises(DataReadError, match=f"it is not a text file: .*{what}") as ei:
            read_table(write_bytes(tmp_path / "r.csv", content))
        assert_clean_error(ei)

    def test_big_cell(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "id,x\nP1," + "y" * 1_000_000 + "\nP2,z\n")
        raw = read_table(path)
        assert len(raw.loc[0, "x"]) == 1_000_000 and line_numbers(raw).tolist() == [2, 3]


class TestHeaderSearch:
    def test_title_line_above_csv_header(self, tmp_path, expect):
        path = write_text(tmp_path / "r.csv", "Export of 1 June\n\nparticipant_id,wave\nP1,baseline\n")
        table = _read(path, strict=False, expect=expect)
        assert list(table.frame.columns) == ["participant_id", "wave"]
        assert table.lines.tolist() == [4] and table.header_line == 3
        assert "line 1 above it ('Export of 1 June')" in table.notes[0]["message"] or \
            "lines 1–2 above it" in table.notes[0]["message"]

    def test_without_expectations_the_first_line_is_the_header(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "Export\nparticipant_id,wave\nP1,baseline\n")
        with pytest.raises(DataReadError, match="column 2 has values but no name in the header "
                                                r"\(line 1\)"):
            read_table(path)


class TestExcelMessy:
    def test_sheet_with_the_identifier_is_chosen(self, workbook, tmp_path):
        wb = openpyxl.load_workbook(workbook)
        wb["responses"]["A1"] = "Participant ID"
        wb.save(workbook)
        expect = Expected(id_keys=frozenset({"participant_id"}))
        table = _read(workbook, strict=False, expect=expect)
        assert table.sheet == "responses" and "participant_id" not in table.frame.columns
        assert table.frame["Participant ID"].tolist()[:2] == ["P1", "P2"]
        assert "read sheet 'responses'" in table.notes[0]["message"]

    def test_no_sheet_with_the_identifier(self, tmp_path):
        path = tmp_path / "b.xlsx"
        wb = openpyxl.Workbook()
        wb.active.title = "Notes"
        wb.create_sheet("Other").append(["x", "y"])
        wb.save(path)
        with pytest.raises(DataReadError, match=r"no sheet has a 'participant_id' column.*'Notes', "
                                                r"'Other'") as ei:
            _read(path, strict=False, expect=Expected(id_keys=frozenset({"participant_id"})))
        assert ei.value.rule == "sheet"

    def test_title_row_and_formulas(self, tmp_path):
        path = tmp_path / "t.xlsx"
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(["Participants, June"])
        ws.append(["participant_id", "age", "twice"])
        ws.append(["P1", 30, "=B3*2"])
        ws.append(["P2", 31, None])
        ws.append([None, None, "=B5*2"])   # a row of formulas only is not an empty trailing row
        ws.merge_cells("A1:C1")
        wb.save(path)
        table = _read(path, strict=False, expect=Expected(id_keys=frozenset({"participant_id"})))
        assert table.frame["participant_id"].tolist()[:2] == ["P1", "P2"]
        assert table.lines.tolist() == [3, 4, 5] and table.header_line == 2
        assert [(p["line"], p["column"], p["value"]) for p in table.problems] == [
            (3, "twice", "=B3*2"), (5, "twice", "=B5*2")]
        assert "(C3) holds a formula with no saved value" in table.problems[0]["message"]
        wb = openpyxl.load_workbook(path)
        wb.active.unmerge_cells("A1:C1")
        wb.active.delete_rows(1)
        wb.save(path)
        with pytest.warns(DataQualityWarning, match=r"\(C2\) holds a formula with no saved value.*"
                                                     r"and 1 more such problem"):
            raw = read_table(path)
        assert len(raw) == 3 and pd.isna(raw.loc[2, "twice"])
