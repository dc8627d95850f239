"""Database sources: DuckDB, SQLite and a real PostgreSQL server read exactly as the CSV files are."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

import evalkit as ek
from evalkit.errors import DataReadError
from evalkit.io_sql import SqlSource, read_sql_source
from evalkit.plan import AnalysisPlan
from evalkit.scoring import score_dictionary

TODAY = dt.date(2026, 1, 1)
DATASETS = ("participants", "responses")


@pytest.fixture(scope="module")
def dd():
    return ek.DataDictionary.from_yaml(ek.example_dictionary_path())


@pytest.fixture(scope="module")
def cohort(tmp_path_factory, dd):
    """The simulator's output as CSV files, with one value out of range (so problems compare too)."""
    folder = tmp_path_factory.mktemp("cohort")
    sim = ek.simulate_cohort(n=40, seed=5)
    responses = sim.responses.copy()
    responses.loc[0, "epds_3"] = 7
    for name, frame in (("participants", sim.participants), ("responses", responses)):
        frame.to_csv(folder / f"{name}.csv", index=False, lineterminator="\n")
    return folder


@pytest.fixture(scope="module")
def from_csv(cohort, dd) -> dict:
    return _outputs([str(cohort / f"{n}.csv") for n in DATASETS], dd)


def _date_columns(dd) -> set:
    return {v.name for ds in dd.datasets.values() for v in ds.variables.values() if v.type == "date"}


def _frames(cohort, dd) -> dict:
    """The CSV files as pandas types them, dates as dates: what a charity would load into a database."""
    out = {}
    for name in DATASETS:
        head = pd.read_csv(cohort / f"{name}.csv", nrows=0).columns
        out[name] = pd.read_csv(cohort / f"{name}.csv",
                                parse_dates=[c for c in head if c in _date_columns(dd)])
    return out


def _load(url: str, frames: dict, dd) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for name, frame in frames.items():
            frame.to_sql(name, conn, index=False, if_exists="replace",
                         dtype={c: sa.Date() for c in frame.columns if c in _date_columns(dd)})
    engine.dispose()


def _outputs(inputs, dd) -> dict:
    """Everything downstream of reading, as CSV text; provenance columns (line, key) left out."""
    report = ek.validate(inputs, dictionary=dd, today=TODAY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ek.EvalkitWarning)   # prorated scores, safeguarding flags
        scored = score_dictionary(report, dictionary=dd)
    out = {f"data/{n}": f.drop(columns="_line").to_csv() for n, f in report.data.items()}
    out["flow"] = report.flow.to_csv()
    out["problems"] = report.problems[["column", "participant_id", "value", "rule"]].to_csv()
    out["scores"] = scored.scores.to_csv()
    out["safeguarding"] = scored.safeguarding.to_csv()
    return out


def _source(kind, cohort, dd, tmp_path, request) -> dict:
    """Dataset -> database source holding the cohort, for each kind of database."""
    if kind == "duckdb":
        path = tmp_path / "cohort.duckdb"
        with duckdb.connect(str(path)) as con:   # DuckDB's own CSV reader types the columns
            for name in DATASETS:
                con.execute(f"create table {name} as select * from read_csv('{cohort / name}.csv')")
        return {n: {"url": f"duckdb:///{path}", "table": n} for n in DATASETS}
    if kind == "duckdb_parquet":   # a folder of Parquet files, read through an in-memory DuckDB
        for name, frame in _frames(cohort, dd).items():
            (tmp_path / name).mkdir()
            half = len(frame) // 2
            frame.iloc[:half].to_parquet(tmp_path / name / "part-0.parquet", index=False)
            frame.iloc[half:].to_parquet(tmp_path / name / "part-1.parquet", index=False)
        return {n: {"url": "duckdb://", "query": f"select * from read_parquet('{tmp_path / n}/*.parquet')"}
                for n in DATASETS}
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'cohort.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        with sa.create_engine(url).begin() as conn:
            for name in DATASETS:
                conn.execute(sa.text(f"drop table if exists {name}"))
    _load(url, _frames(cohort, dd), dd)
    return {n: {"url": url, "table": n} for n in DATASETS}


@pytest.mark.parametrize("kind", ["duckdb", "duckdb_parquet", "sqlite", "postgresql"])
def test_the_same_cohort_from_a_database_gives_byte_identical_tables(kind, cohort, dd, tmp_path,
                                                                     request, from_csv):
    expected = from_csv
    got = _outputs(_source(kind, cohort, dd, tmp_path, request), dd)
    assert expected["problems"].count("range") == 1     # the value put out of range is found
    for name, text in expected.items():
        assert got[name] == text, f"{kind}: {name} differs from the CSV files'"


def test_a_problem_names_the_database_table_and_row_key(cohort, dd, tmp_path, request):
    sources = _source("duckdb", cohort, dd, tmp_path, request)
    report = ek.validate(sources, dictionary=dd, today=TODAY)
    problem = report.problems.iloc[0]
    first = pd.read_csv(cohort / "responses.csv", nrows=1).iloc[0]
    assert problem["file"] == f"duckdb:///{tmp_path / 'cohort.duckdb'} table responses"
    assert pd.isna(problem["line"])
    assert problem["key"] == f"participant_id={first.participant_id}, wave={first.wave}"
    assert (problem["column"], problem["value"], problem["rule"]) == ("epds_3", "7", "range")
    assert f"table responses, row participant_id={first.participant_id}, wave=" in report.describe()
    assert json.loads(report.to_json())[0]["key"] == problem["key"]


def test_the_rows_read_from_a_database_are_fingerprinted(dd):
    def digests(age):
        query = f"select 'P1' as participant_id, {age} as age"
        return ek.validate({"participants": {"url": "duckdb://", "query": query}},
                           dictionary=dd, today=TODAY).digests
    first = digests(30)
    assert first == digests(30) != digests(31)
    assert list(first) == ["participants"] and len(first["participants"]) == 64


def test_key_option_and_row_number_when_no_key_column(dd, tmp_path):
    query = ("select 'P1' as participant_id, 'baseline' as wave, date '2024-01-02' as assessed_on, "
             "9 as epds_1, 'x1' as form_id")
    report = ek.validate({"responses": {"url": "duckdb://", "query": query, "key": "form_id"}},
                         dictionary=dd, today=TODAY)
    hit = report.problems[report.problems["rule"] == "range"].iloc[0]
    assert (hit["file"], hit["key"], hit["column"]) == ("duckdb:// query for responses", "form_id=x1",
                                                        "epds_1")
    renamed = query.replace("as participant_id", "as person")
    report = ek.validate({"responses": {"url": "duckdb://", "query": renamed}}, dictionary=dd,
                         today=TODAY)
    assert report.problems.loc[report.problems["rule"] == "range", "key"].tolist() == ["row 1"]
    assert "missing_column" in set(report.problems["rule"])
    bad = ek.validate({"responses": {"url": "duckdb://", "query": query, "key": ["form"]}},
                      dictionary=dd, today=TODAY)
    assert "key column(s) form are not in the result" in bad.problems["message"].iloc[0]


def test_two_queries_on_one_database_keep_their_rows_apart(dd):
    people = "select 'P1' as participant_id, 99 as age union all select 'P2', 30"
    answers = ("select 'P2' as participant_id, 'baseline' as wave, date '2024-01-02' as assessed_on, "
               "9 as epds_1")
    report = ek.validate({"participants": {"url": "duckdb://", "query": people},
                          "responses": {"url": "duckdb://", "query": answers}},
                         dictionary=dd, today=TODAY)
    where = {(r.file, r.key) for r in report.problems.itertuples() if r.rule in ("range", "no_responses")}
    assert ("duckdb:// query for responses", "participant_id=P2, wave=baseline") in where
    assert ("duckdb:// query for participants", "participant_id=P1") in where


def test_a_duplicate_key_in_a_database_points_at_the_first_row(dd):
    answers = ("select 'P1' as participant_id, 'baseline' as wave, date '2024-01-02' as assessed_on "
               "union all select 'P1', 'baseline', date '2024-01-03'")
    report = ek.validate({"responses": {"url": "duckdb://", "query": answers}}, dictionary=dd,
                         today=TODAY)
    dup = report.problems[report.problems["rule"] == "duplicate_key"].iloc[0]
    assert dup["key"] == "participant_id=P1, wave=baseline" and "(first at row 1)" in dup["message"]
    assert report.exclusions["key"].tolist() == ["participant_id=P1, wave=baseline"]


@pytest.mark.parametrize("spec, words", [
    ({"url": "duckdb://", "query": "selec 1"}, ["duckdb:// query", "refused the query",
                                               "correct the SQL"]),
    ({"url": "duckdb://", "table": "responses"}, ["no table or view 'responses'"]),
    ({"url": "sqlite:///{tmp}/absent.db", "table": "responses"}, ["database file not found"]),
    ({"url": "duckdb:///{tmp}/absent.duckdb", "table": "responses"}, ["database file not found"]),
    ({"url": "not a url", "table": "t"}, ["not a database URL", "dialect+driver://"]),
    ({"url": "nosuchdb://host/db", "table": "t"}, ["no dialect 'nosuchdb'"]),
    ({"url": "postgresql+psycopg://me:${EVALKIT_TEST_UNSET}@h/db", "table": "t"},
     ["EVALKIT_TEST_UNSET is not set"]),
])
def test_unreadable_sources_are_problems_saying_what_where_and_how(spec, words, dd, tmp_path,
                                                                   monkeypatch):
    monkeypatch.delenv("EVALKIT_TEST_UNSET", raising=False)
    spec = {k: v.replace("{tmp}", str(tmp_path)) for k, v in spec.items()}
    report = ek.validate({"responses": spec}, dictionary=dd, today=TODAY)
    unreadable = report.problems[report.problems["rule"] == "unreadable_file"]
    assert len(unreadable) == 1 and not report.data
    problem = unreadable.iloc[0]
    for word in words:
        assert word in problem["message"]
    assert not (tmp_path / "absent.db").exists()      # a missing SQLite file is not created
    with pytest.raises(DataReadError):
        read_sql_source(spec)


def test_missing_table_lists_the_tables_there(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    _load(url, {"participants": pd.DataFrame({"participant_id": ["P1"]})},
          ek.DataDictionary.from_yaml(ek.example_dictionary_path()))
    with pytest.raises(DataReadError, match=r"no table or view 'respones' \(it has participants\)"):
        read_sql_source({"url": url, "table": "respones"})


def test_source_options_are_checked():
    with pytest.raises(ek.SpecificationError, match="exactly one of `table`"):
        SqlSource(url="duckdb://", table="a", query="select 1")
    with pytest.raises(ek.SpecificationError, match="unknown option"):
        SqlSource.from_mapping({"url": "duckdb://", "tabel": "a"})


def test_postgres_types_map_to_what_the_file_readers_give(postgres_url):
    with sa.create_engine(postgres_url).begin() as conn:
        conn.execute(sa.text("drop table if exists typed"))
        conn.execute(sa.text(
            "create table typed (participant_id text, n integer, score numeric(5, 2), "
            "ok boolean, maybe boolean, on_day date, at timestamptz, code uuid)"))
        conn.execute(sa.text(
            "insert into typed values ('P1', 1, 2.50, true, null, '2024-01-02', "
            "'2024-01-02 10:00+01', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'), "
            "('P2', null, null, false, true, null, null, null)"))
    frame = read_sql_source({"url": postgres_url, "query": "select * from typed order by 1"})
    assert frame.dtypes.astype(str).to_dict() == {
        "participant_id": "object", "n": "float64", "score": "float64", "ok": "bool",
        "maybe": "object", "on_day": "datetime64[ns]", "at": "datetime64[ns]", "code": "object"}
    assert frame["at"].iloc[0] == pd.Timestamp("2024-01-02 09:00")   # in UTC
    assert frame["code"].iloc[0] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"


def test_the_password_may_come_from_the_environment(postgres_url, monkeypatch):
    password = postgres_url.split(":")[2].split("@")[0]
    monkeypatch.setenv("EVALKIT_TEST_PW", password)
    url = postgres_url.replace(password, "${EVALKIT_TEST_PW}")
    frame = read_sql_source({"url": url, "query": "select 1 as one"})
    assert frame["one"].tolist() == [1]
    assert SqlSource(url=url, table="t").label.startswith("postgresql+psycopg://evalkit:***@")


def test_postgres_never_shows_the_password(postgres_url, dd):
    password = postgres_url.split(":")[2].split("@")[0]
    wrong = postgres_url.replace(password, "wrong-" + password[:6])
    with pytest.raises(DataReadError) as caught:
        read_sql_source({"url": wrong, "table": "responses"})
    message = str(caught.value)
    assert "cannot connect to postgresql+psycopg://evalkit:***@127.0.0.1" in message
    assert "password authentication failed" in message and "wrong-" not in message
    report = ek.validate({"responses": {"url": postgres_url, "query": "select 1 as participant_id "
                                                                     "from no_such_table"}},
                         dictionary=dd, today=TODAY)
    text = report.describe() + report.to_json()
    assert "no_such_table" in text and "evalkit:***@" in text and password not in text


def test_a_plan_names_database_sources_relative_to_its_folder(cohort, dd, tmp_path):
    with duckdb.connect(str(tmp_path / "c.duckdb")) as con:
        con.execute(f"create table participants as select * from read_csv('{cohort}/participants.csv')")
    (tmp_path / "exports").mkdir()
    pd.read_csv(cohort / "responses.csv").to_parquet(tmp_path / "exports" / "r.parquet")
    plan = AnalysisPlan.from_dict({
        "programme": "x", "outcomes": [{"instrument": "wemwbs"}],
        "data": {"dictionary": str(ek.example_dictionary_path()), "files": {
            "participants": {"url": "duckdb:///c.duckdb", "table": "participants"},
            "responses": {"url": "duckdb://", "query": "select * from read_parquet('exports/*')"}}}},
        base_dir=str(tmp_path))
    assert plan.data_files() == []
    report = ek.validate(plan.data_inputs(), dictionary=dd, today=TODAY)
    assert report.problems["rule"].tolist() == ["range"]
    assert len(report.data["responses"]) == len(pd.read_csv(cohort / "responses.csv"))
    with pytest.raises(ek.PlanError, match="exactly one of `table`"):
        AnalysisPlan.from_dict({"programme": "x", "outcomes": [{"instrument": "wemwbs"}],
                                "data": {"dictionary": "d.yaml",
                                         "files": {"responses": {"url": "duckdb://"}}}})


def test_without_server_binaries_the_fixture_says_how_to_get_them(monkeypatch):
    from tests import pg_server

    monkeypatch.setattr(pg_server, "find_bin", lambda: None)
    with pytest.raises(pg_server.Unavailable, match=r"apt-get install postgresql"):
        pg_server.start()
    for var in ("CI", "EVALKIT_REQUIRE_POSTGRES"):
        monkeypatch.delenv(var, raising=False)
    assert not pg_server.required()
    monkeypatch.setenv("EVALKIT_REQUIRE_POSTGRES", "1")
    assert pg_server.required()


@pytest.mark.parametrize("dialect, words", [("sqlite", "could not list its tables"),
                                            ("duckdb", "not a valid DuckDB database")])
def test_a_file_that_is_not_a_database_is_named(dialect, words, tmp_path):
    (tmp_path / "notes.db").write_text("hello\n")
    with pytest.raises(DataReadError, match=words):
        read_sql_source({"url": f"{dialect}:///{tmp_path / 'notes.db'}", "table": "responses"})


def test_integers_beyond_int64_are_kept_exactly():
    frame = read_sql_source({"url": "duckdb://", "query": "select (2::hugeint ** 70)::hugeint as big, "
                                                         "1::hugeint as small"})
    assert frame["big"].iloc[0] == 2 ** 70 and frame["small"].dtype == "int64"


@pytest.mark.parametrize("entry, message", [
    ({"url": "duckdb://", "tabel": "x"}, "data.files.responses.tabel: unknown key 'tabel' (did you "
                                         "mean 'table'?)"),
    ({"url": "duckdb://", "table": "x", "query": "y"}, "data.files.responses: give exactly one of"),
    ({"table": "x"}, "data.files.responses.url: required key 'url' is missing"),
    (3, "data.files.responses: give a file path, or a database source"),
])
def test_a_plans_database_source_mistake_is_one_clear_problem(entry, message):
    with pytest.raises(ek.PlanError) as caught:
        AnalysisPlan.from_dict({"programme": "x", "outcomes": [{"instrument": "wemwbs"}],
                                "data": {"dictionary": "d.yaml", "files": {"responses": entry}}})
    assert len(caught.value.problems) == 1 and message in str(caught.value)


# ---------------------------------------------------------------------- evalkit validate --source
def _cli_validate(args):
    from click.testing import CliRunner

    from evalkit.cli import cli

    return CliRunner().invoke(cli, ["validate", "--dictionary", str(ek.example_dictionary_path()),
                                    "--today", "2026-01-01", *args])


@pytest.mark.parametrize("kind", ["duckdb", "sqlite"])
def test_cli_validate_reads_database_sources_as_a_plan_names_them(kind, cohort, dd, tmp_path,
                                                                  request):
    sources = _source(kind, cohort, dd, tmp_path, request)
    spec = lambda n: f'{n}={{url: "{sources[n]["url"]}", table: {n}}}'  # noqa: E731
    from_files = _cli_validate([str(cohort / f"{n}.csv") for n in DATASETS])
    both = _cli_validate(["--source", spec("participants"), "--source", spec("responses")])
    mixed = _cli_validate([str(cohort / "participants.csv"), "--source", spec("responses")])
    assert from_files.exit_code == both.exit_code == mixed.exit_code == 1   # the one bad value
    for result in (both, mixed):
        assert "table responses" in result.output and "epds_3" in result.output
        assert "Traceback" not in result.output
    # the same records read, the same participants
    tail = lambda r: r.output.strip().splitlines()[-1]  # noqa: E731
    assert tail(from_files) == tail(both) == tail(mixed)


@pytest.mark.parametrize("option, words", [
    ("responses", "give DATASET=SPEC"),
    ("answers={url: 'duckdb://', table: t}", "no dataset 'answers'"),
    ("responses=cohort.db", "is not a mapping with a url"),
    ("responses={url: 'duckdb://', tabel: t}", "unknown option(s) 'tabel'"),
    ("responses={url: 'duckdb://', table: t, query: 'select 1'}", "exactly one of `table`"),
])
def test_cli_validate_source_mistakes_exit_2_with_the_fix(option, words):
    result = _cli_validate(["--source", option])
    assert result.exit_code == 2 and words in result.output, result.output
    assert "Traceback" not in result.output


def test_cli_validate_without_input_or_with_a_bad_database_never_shows_the_password(tmp_path):
    assert "give the data FILES" in _cli_validate([]).output
    secret = f'responses={{url: "postgresql+psycopg://me:s3cret@127.0.0.1:1/db", table: t}}'
    result = _cli_validate(["--source", secret])
    assert result.exit_code == 1 and "unreadable_file" in result.output, result.output
    assert "s3cret" not in result.output and "me:***@" in result.output
    bad = _cli_validate(["--source", "responses={url: 'postgresql://me:s3cret@h/db'"])
    assert bad.exit_code == 2 and "s3cret" not in bad.output, bad.output
