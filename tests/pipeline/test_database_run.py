"""`evalkit run` from a database: the published tables are byte-identical to a run from CSV files."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

import evalkit as ek

from .conftest import cohort, plan, run

DATASETS = ("participants", "responses")


def _published(report: Path) -> dict:
    return {str(p.relative_to(report)): p.read_bytes() for p in sorted(report.rglob("*.csv"))}


def _to_postgres(url: str, data: Path) -> None:
    dd = ek.DataDictionary.from_yaml(ek.example_dictionary_path())
    dates = {v.name for ds in dd.datasets.values() for v in ds.variables.values() if v.type == "date"}
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for name in DATASETS:
            head = pd.read_csv(data / f"{name}.csv", nrows=0).columns
            frame = pd.read_csv(data / f"{name}.csv", parse_dates=[c for c in head if c in dates])
            frame.to_sql(f"run_{name}", conn, index=False, if_exists="replace",
                         dtype={c: sa.Date() for c in frame.columns if c in dates})
    engine.dispose()


@pytest.mark.slow
def test_a_run_from_duckdb_and_postgresql_publishes_the_csv_runs_tables(tmp_path, postgres_url):
    data = tmp_path / "data"
    cohort(data, n=60, seed=21)
    from_csv = plan(tmp_path, outcomes=("wemwbs",), mi=False, mechanisms=False)
    expected = _published(run(tmp_path / "csv", from_csv).out)
    assert any(name.endswith(".csv") for name in expected)

    with duckdb.connect(str(tmp_path / "cohort.duckdb")) as con:
        for name in DATASETS:
            con.execute(f"create table {name} as select * from read_csv('{data / name}.csv')")
    _to_postgres(postgres_url, data)
    password = postgres_url.split(":")[2].split("@")[0]
    text = from_csv.read_text(encoding="utf-8")
    files_line = "  files: {participants: data/participants.csv, responses: data/responses.csv}"
    assert files_line in text
    for kind, sources in {
        "duckdb": "{participants: {url: 'duckdb:///cohort.duckdb', table: participants}, "
                  "responses: {url: 'duckdb:///cohort.duckdb', table: responses}}",
        "postgresql": f"{{participants: {{url: '{postgres_url}', table: run_participants}}, "
                      f"responses: {{url: '{postgres_url}', table: run_responses}}}}",
    }.items():
        plan_path = tmp_path / f"{kind}.yaml"
        plan_path.write_text(text.replace(files_line, f"  files: {sources}"), encoding="utf-8")
        report = run(tmp_path / kind, plan_path).out
        got = _published(report)
        assert sorted(got) == sorted(expected), kind
        for name, content in expected.items():
            assert got[name] == content, f"{kind}: {name} differs from the run on CSV files"
        for path in report.rglob("*"):
            if path.is_file():
                assert password.encode() not in path.read_bytes(), f"{path} shows the password"
        provenance = json.loads((report / "provenance.json").read_text(encoding="utf-8"))
        digests = provenance["data_sha256"]
        assert {f"{n} (database)" for n in DATASETS} <= set(digests), kind
        assert all(len(digests[f"{n} (database)"]) == 64 for n in DATASETS)
        published = provenance["plan_settings"]["data"]["files"]["responses"]
        # where the data live stays out of the report, as a data file's folder does
        assert published["url"] == {"duckdb": "duckdb://cohort.duckdb",
                                    "postgresql": "postgresql+psycopg://"}[kind]
        assert "127.0.0.1" not in json.dumps(provenance) and str(tmp_path) not in json.dumps(provenance)
