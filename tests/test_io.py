"""Tests of evalkit.io: every reader keeps values as the file has them, with line numbers right."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest

import evalkit
from evalkit.errors import DataQualityWarning, DataReadError, EvalkitError, SpecificationError
from evalkit.io import (FIRST_DATA_LINE, SUPPORTED_FORMATS, line_numbers, read_data, read_table,
                        table_format)


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
        raw = read_table(write_text(tmp_path / "r.csv", "a,b,c\n1,2\n"))
        assert raw.iloc[0].tolist() == ["1", "2", ""]

    def test_long_row_is_an_error_with_its_line(self, tmp_path):
        path = write_text(tmp_path / "r.csv", "a,b\n1,2\n3,4,5\n")
        with pytest.raises(DataReadError, match=r"r\.csv.*Expected 2 fields in line 3, saw 3") as ei:
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

    def test_labels_become_categories(self, sav):
        raw = read_table(sav)
        mode = raw["delivery_mode"]
        assert isinstance(mode.dtype, pd.CategoricalDtype)
        assert list(mode.cat.categories) == ["one_to_one", "group", "both", "4"]
        assert mode.tolist()[:4] == ["one_to_one", "group", "both", "one_to_one"]
        assert pd.isna(mode[4])        # system-missing
        assert mode[5] == "4"          # a code without a label stays visible as its code

    def test_user_missing_returned_as_codes(self, sav):
        raw = read_table(sav)
        partner = raw["partner"]
        assert isinstance(partner.dtype, pd.CategoricalDtype)
        assert partner.tolist()[:5] == ["yes", "no", "-9", "yes", "no"]  # -9 is user-missing: code
        assert "not answered" not in list(partner.cat.categories)
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

    def test_labels_become_categories(self, dta):
        raw = read_table(dta)
        mode = raw["delivery_mode"]
        assert isinstance(mode.dtype, pd.CategoricalDtype)
        assert list(mode.cat.categories) == ["one_to_one", "group", "both", "4"]
        assert mode.tolist()[:4] == ["one_to_one", "group", "both", "one_to_one"]
        assert pd.isna(mode[4]) and mode[5] == "4"
        assert raw["partner"].tolist()[:2] == ["yes", "no"] and pd.isna(raw["partner"][2])

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
    with pytest.raises(DataReadError, match=r"r\.txt: it contains NUL bytes.*binary file") as ei:
        read_table(path)
    assert_clean_error(ei)


def test_stata_extended_missing_is_nan(tmp_path):
    frame = pd.DataFrame({"n": [1.0, "a", 3.0, np.nan]}, dtype=object)
    path = tmp_path / "m.dta"
    pyreadstat.write_dta(frame, str(path), missing_user_values={"n": ["a"]},
                         variable_value_labels={"n": {1: "one"}})
    raw = read_table(path)
    assert raw["n"].tolist()[0] == "one" and raw["n"][2] == "3"
    assert pd.isna(raw["n"][1]) and pd.isna(raw["n"][3])


def test_spss_string_labels_and_user_missing(tmp_path):
    frame = pd.DataFrame({"s": ["a", "b", "x", "", "zz"]})
    path = tmp_path / "s.sav"
    pyreadstat.write_sav(frame, str(path), variable_value_labels={"s": {"a": "Apple", "b": "Banana",
                                                                       "x": "refused"}},
                         missing_ranges={"s": ["x"]})
    raw = read_table(path)
    assert raw["s"].tolist()[:3] == ["Apple", "Banana", "x"]
    assert pd.isna(raw["s"][3]) and raw["s"][4] == "zz"
    assert list(raw["s"].cat.categories) == ["Apple", "Banana", "x", "zz"]
