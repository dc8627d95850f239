"""Read a data source that is a SQL query or table (DuckDB, SQLite, PostgreSQL, any SQLAlchemy URL).

A data source in an analysis plan or in :func:`evalkit.validate` may be a database instead of a file::

    responses: {url: "duckdb:///cohort.duckdb", table: responses}
    participants: {url: "postgresql+psycopg://analyst@db.example.org/charity",
                   query: "select * from referrals where programme = 'mothers'",
                   key: participant_id}

``url`` is a SQLAlchemy database URL (``postgresql+psycopg://``, ``sqlite:///``, ``mssql+pyodbc://``
…) or a DuckDB one (``duckdb:///path.duckdb``; ``duckdb://`` is an in-memory database, which with a
query reads Parquet or CSV folders: ``select * from read_parquet('exports/*.parquet')``). ``$NAME``
and ``${NAME}`` in the URL are taken from the environment (``$$`` is a ``$``), so a password need
not be written in a plan; PostgreSQL also reads it from ``PGPASSWORD`` or ``~/.pgpass`` when the URL
has none. Exactly one of ``table`` (``name`` or ``schema.name``) and ``query`` says what to read;
``key`` names the column(s) that identify a row in problem reports (default: the dataset's keys,
such as ``participant_id`` and ``wave``; without them, the row number).

Values come back as the file readers give them, so that validation and everything after it treat a
database exactly as a file: text stays text (``NULL`` is missing), whole numbers are ``int64`` (or
``float64`` when some are ``NULL``), other numbers (``numeric``/``decimal`` included) ``float64``,
dates and timestamps ``datetime64[ns]`` (time zones converted to UTC), booleans ``bool``. SQLite
keeps dates as text, which validation reads as it reads a CSV file. Rows come in the order the
database returns them (add ``order by`` to a query for a fixed order); none is dropped.

Examples
--------
>>> from evalkit.io_sql import SqlSource, mask_url
>>> mask_url("postgresql+psycopg://analyst:s3cret@db.example.org/charity")
'postgresql+psycopg://analyst:***@db.example.org/charity'
>>> SqlSource.from_mapping({"url": "duckdb://", "query": "select 1 as participant_id"}).label
'duckdb:// query'
"""

from __future__ import annotations

import datetime as _dt
import decimal
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd

from .errors import DataReadError, SpecificationError

__all__ = ["SqlSource", "is_sql_source", "mask_url", "read_sql_source", "row_keys"]

_FILE_DIALECTS = ("duckdb", "sqlite")   # databases that are a file on this machine
_URL_HINT = ("write it as dialect+driver://user@host:port/database, e.g. "
             "postgresql+psycopg://analyst@localhost/charity, sqlite:///cohort.db or "
             "duckdb:///cohort.duckdb")
_QUERY_PASSWORD = re.compile(r"([?&;](?:password|pwd)=)([^&;#]*)", re.IGNORECASE)
_DRIVERS = {"postgresql": "psycopg[binary]", "mssql": "pyodbc", "mysql": "pymysql",
            "oracle": "oracledb"}


# ---------------------------------------------------------------------------------- the source
@dataclass(frozen=True)
class SqlSource:
    """A table or query of a database, read as one data source.

    Parameters
    ----------
    url : str
        A SQLAlchemy database URL, or ``duckdb://`` / ``duckdb:///path``. ``$NAME`` / ``${NAME}``
        are replaced by environment variables, ``$$`` by ``$``.
    table : str, optional
        A table or view, ``name`` or ``schema.name``.
    query : str, optional
        A ``select`` statement. Give exactly one of ``table`` and ``query``.
    key : tuple of str
        Columns identifying a row in problem reports (default: the dataset's keys).
    base_dir : str, optional
        Folder that relative database paths (``sqlite:///cohort.db``) and DuckDB's relative file
        paths in a query are resolved against (a plan's folder); default the working directory.

    Examples
    --------
    >>> from evalkit.io_sql import SqlSource
    >>> src = SqlSource.from_mapping({"url": "postgresql+psycopg://me:pw@host/db",
    ...                               "table": "responses", "key": ["participant_id", "wave"]})
    >>> src.label, src.key
    ('postgresql+psycopg://me:***@host/db table responses', ('participant_id', 'wave'))
    """

    url: str
    table: str | None = None
    query: str | None = None
    key: tuple = ()
    base_dir: str | None = field(default=None, compare=False)

    def __post_init__(self):
        if not isinstance(self.url, str) or not self.url.strip():
            raise SpecificationError(f"a database source needs a url (got {self.url!r}); "
                                     + _URL_HINT)
        if (self.table is None) == (self.query is None):
            raise SpecificationError(
                f"database source {mask_url(self.url)}: give exactly one of `table` (a table or view "
                "name) and `query` (a select statement)")
        for what in ("table", "query"):
            value = getattr(self, what)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise SpecificationError(f"database source {mask_url(self.url)}: `{what}` must be "
                                         f"non-empty text, not {value!r}")
        key = (self.key,) if isinstance(self.key, str) else tuple(self.key or ())
        if not all(isinstance(k, str) and k for k in key):
            raise SpecificationError(f"database source {self.label}: `key` must be a column name or "
                                     f"a list of column names, not {self.key!r}")
        object.__setattr__(self, "key", key)

    @classmethod
    def from_mapping(cls, spec: Mapping, *, base_dir: str | Path | None = None) -> "SqlSource":
        """A source from a plan's or a caller's mapping (``url``, ``table`` or ``query``, ``key``)."""
        unknown = sorted(set(spec) - {"url", "table", "query", "key"})
        if unknown:
            raise SpecificationError(
                f"database source {mask_url(str(spec.get('url', '')))}: unknown option(s) "
                f"{', '.join(map(repr, unknown))}; a database source takes url, table or query, and key")
        return cls(url=spec.get("url"), table=spec.get("table"), query=spec.get("query"),
                   key=spec.get("key") or (), base_dir=None if base_dir is None else str(base_dir))

    @property
    def label(self) -> str:
        """Where the rows come from, password masked: ``URL table NAME`` or ``URL query``."""
        return f"{mask_url(self.url)} table {self.table}" if self.table else f"{mask_url(self.url)} query"


def is_sql_source(obj) -> bool:
    """True for a :class:`SqlSource` or a mapping with a ``url`` (a database source in a plan).

    Examples
    --------
    >>> from evalkit.io_sql import is_sql_source
    >>> is_sql_source({"url": "sqlite:///c.db", "table": "responses"}), is_sql_source("r.csv")
    (True, False)
    """
    return isinstance(obj, SqlSource) or (isinstance(obj, Mapping) and "url" in obj)


def mask_url(url: str) -> str:
    """A database URL with its password replaced by ``***`` (for messages and provenance).

    Examples
    --------
    >>> from evalkit.io_sql import mask_url
    >>> mask_url("postgresql+psycopg://analyst:p%40ss@localhost:5432/charity?sslmode=require")
    'postgresql+psycopg://analyst:***@localhost:5432/charity?sslmode=require'
    >>> mask_url("mssql+pyodbc://analyst@server/db?driver=ODBC+Driver+18&password=pw1")
    'mssql+pyodbc://analyst@server/db?driver=ODBC+Driver+18&password=***'
    >>> mask_url("duckdb:///data/cohort.duckdb")
    'duckdb:///data/cohort.duckdb'
    """
    # the URL as written (not parsed) so that nothing else changes; a password never contains an
    # unescaped "@" or "/" in a valid URL, so the userinfo part ends at the last "@" before the path
    url = _QUERY_PASSWORD.sub(r"\1***", url)   # ?password=... (ODBC-style URLs) too
    match = re.match(r"^([A-Za-z][\w+.-]*://)([^/?#]*)@", url)
    if not match or ":" not in match.group(2):
        return url
    user = match.group(2).split(":", 1)[0]
    return f"{match.group(1)}{user}:***@{url[match.end():]}"


# ---------------------------------------------------------------------------------- reading
def read_sql_source(source: SqlSource | Mapping) -> pd.DataFrame:
    """Read a database table or query into a DataFrame typed as the file readers type values.

    Parameters
    ----------
    source : SqlSource or mapping
        ``{"url": ..., "table": ...}`` or ``{"url": ..., "query": ...}`` (see :class:`SqlSource`).

    Returns
    -------
    pandas.DataFrame
        One row per row of the result, in the database's order, with a fresh ``RangeIndex``; column
        types as described in the module documentation.

    Raises
    ------
    DataReadError
        If the URL is malformed, the driver is not installed, the database cannot be reached, the
        table does not exist or the query fails; the message names the source (password masked),
        says why and how to fix it.

    Examples
    --------
    >>> from evalkit.io_sql import read_sql_source
    >>> frame = read_sql_source({"url": "duckdb://", "query":
    ...     "select 'P1' as participant_id, 3 as epds_1, date '2024-01-05' as assessed_on "
    ...     "union all select 'P2', null, null"})
    >>> frame.dtypes.astype(str).to_dict()
    {'participant_id': 'object', 'epds_1': 'float64', 'assessed_on': 'datetime64[ns]'}
    >>> read_sql_source({"url": "duckdb://", "table": "responses"})
    Traceback (most recent call last):
    ...
    evalkit.errors.DataReadError: cannot read duckdb:// table responses: the database has no table or view 'responses' (it has none); ...
    """
    src = source if isinstance(source, SqlSource) else SqlSource.from_mapping(source)
    names, rows = _fetch(src)
    return _frame(names, rows)


def row_keys(frame: pd.DataFrame, columns) -> list[str]:
    """One text per row naming it by its key columns (``participant_id=P1, wave=baseline``).

    Without key columns a row is named by its 1-based position in the result (``row 3``).

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.io_sql import row_keys
    >>> frame = pd.DataFrame({"participant_id": ["P1", None], "wave": ["baseline", "end"]})
    >>> row_keys(frame, ["participant_id", "wave"])
    ['participant_id=P1, wave=baseline', 'participant_id=NULL, wave=end']
    >>> row_keys(frame, [])
    ['row 1', 'row 2']
    """
    columns = list(columns)
    if not columns:
        return [f"row {i}" for i in range(1, len(frame) + 1)]
    parts = [[f"{c}={_key_text(v)}" for v in frame[c].tolist()] for c in columns]
    return [", ".join(p) for p in zip(*parts)]


def _key_text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return "NULL"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.isoformat()[:10] if value == value.normalize() else value.isoformat()
    return str(value)


def _fetch(src: SqlSource) -> tuple[list[str], list[tuple]]:
    """Column names and rows (Python values) of the source's table or query."""
    url = _expand(src)
    dialect = url.split("://", 1)[0].split("+", 1)[0].lower()
    if dialect == "duckdb":
        return _fetch_duckdb(src, url)
    return _fetch_sqlalchemy(src, url, dialect)


def _expand(src: SqlSource) -> str:
    """The URL with environment variables filled in (an unset one is an error, not an empty text)."""
    def repl(match):
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(2)
        if name not in os.environ:
            raise DataReadError(f"cannot read {src.label}: the url uses ${name}, but the environment "
                                f"variable {name} is not set; set it before running evalkit")
        return os.environ[name]
    return re.sub(r"\$\$|\$\{(\w+)\}|\$(\w+)", repl, src.url)


def _local_path(src: SqlSource, path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() or src.base_dir is None else Path(src.base_dir) / p


def _no_file(src: SqlSource, path: Path) -> DataReadError:
    scheme = src.url.split("://", 1)[0]
    return DataReadError(f"cannot read {src.label}: database file not found: {path}; check the path "
                         "in the url (three slashes then a relative path, four for an absolute one: "
                         f"{scheme}:////home/me/cohort.db)")


def _fetch_duckdb(src: SqlSource, url: str) -> tuple[list[str], list[tuple]]:
    import duckdb

    path = url.split("://", 1)[1]
    path = path[1:] if path.startswith("/") else path   # duckdb:///x.db -> x.db (as SQLAlchemy)
    path, _, _query = path.partition("?")
    config = {}
    if path in ("", ":memory:"):
        database = ":memory:"
    else:
        file = _local_path(src, path)
        if not file.is_file():
            raise _no_file(src, file)
        database, config["access_mode"] = str(file), "READ_ONLY"   # never create or change a file
    try:
        con = duckdb.connect(database, config=config)
    except duckdb.Error as exc:
        raise DataReadError(f"cannot open {src.label}: {_reason(exc, src)}; check that the file is "
                            "a DuckDB database and that no other program holds it open for "
                            "writing") from None
    try:
        if src.base_dir is not None:   # relative paths in read_parquet('...') follow the plan
            con.execute("set file_search_path = ?", [str(src.base_dir)])
        if src.table is not None:
            _check_table_duckdb(con, src)
        try:
            cursor = con.execute(_select(src, '"'))
            names = [d[0] for d in cursor.description]
            return names, cursor.fetchall()
        except duckdb.Error as exc:
            raise _query_error(src, exc) from None
    finally:
        con.close()


def _check_table_duckdb(con, src: SqlSource) -> None:
    schema, name = _split_table(src.table)
    rows = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
    if not any(n == name and (schema is None or s == schema) for s, n in rows):
        raise _no_table(src, [n if s == "main" else f"{s}.{n}" for s, n in rows])


def _fetch_sqlalchemy(src: SqlSource, url: str, dialect: str) -> tuple[list[str], list[tuple]]:
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc

    try:
        parsed = sa.engine.make_url(url)
    except (sa_exc.ArgumentError, ValueError) as exc:
        raise DataReadError(f"cannot read {src.label}: the url is not a database URL "
                            f"({_reason(exc, src)}); {_URL_HINT}") from None
    if dialect == "sqlite" and parsed.database not in (None, "", ":memory:"):
        file = _local_path(src, parsed.database)
        if not file.is_file():   # sqlite would create an empty database and report no tables
            raise _no_file(src, file)
        parsed = parsed.set(database=str(file))
    try:
        engine = sa.create_engine(parsed, poolclass=sa.pool.NullPool)
    except sa_exc.NoSuchModuleError:
        raise DataReadError(f"cannot read {src.label}: SQLAlchemy has no dialect {parsed.drivername!r}; "
                            f"{_URL_HINT}") from None
    except ImportError as exc:
        driver = _DRIVERS.get(dialect, "the database driver named in the url")
        raise DataReadError(f"cannot read {src.label}: its database driver is not installed "
                            f"({_reason(exc, src)}); install it (pip install {driver})") from None
    try:
        try:
            conn = engine.connect()
        except sa_exc.DBAPIError as exc:
            raise DataReadError(
                f"cannot connect to {mask_url(src.url)}: {_reason(exc, src)}; check the host, port, "
                "database name and user in the url, that the server is running and accepts you, and "
                "the password (give it in an environment variable: ${NAME} in the url, or PGPASSWORD "
                "/ ~/.pgpass for PostgreSQL)") from None
        with conn:
            if src.table is not None:
                schema, name = _split_table(src.table)
                try:
                    inspector = sa.inspect(conn)
                    if not (inspector.has_table(name, schema=schema)
                            or name in inspector.get_view_names(schema=schema)):
                        raise _no_table(src, inspector.get_table_names(schema=schema)
                                        + inspector.get_view_names(schema=schema))
                except sa_exc.DBAPIError as exc:   # e.g. a file that is not an SQLite database
                    raise DataReadError(f"cannot read {src.label}: the database could not list its "
                                        f"tables ({_reason(exc, src)}); check that the url points "
                                        "at the right database (and schema)") from None
            quote = engine.dialect.identifier_preparer.initial_quote
            try:
                result = conn.execute(sa.text(_select(src, quote)))
                return list(result.keys()), [tuple(r) for r in result.fetchall()]
            except sa_exc.DBAPIError as exc:
                raise _query_error(src, exc) from None
    finally:
        engine.dispose()


def _split_table(table: str) -> tuple[str | None, str]:
    schema, dot, name = table.strip().rpartition(".")
    return (schema or None) if dot else None, name


def _select(src: SqlSource, quote: str) -> str:
    if src.query is not None:
        return src.query.strip().rstrip(";")
    schema, name = _split_table(src.table)
    closing = "]" if quote == "[" else quote
    q = lambda part: quote + part.replace(closing, closing * 2) + closing   # noqa: E731
    return f"select * from {q(schema) + '.' if schema else ''}{q(name)}"


def _no_table(src: SqlSource, existing: list[str]) -> DataReadError:
    listed = ", ".join(sorted(existing)[:20]) if existing else "none"
    return DataReadError(f"cannot read {src.label}: the database has no table or view "
                         f"{src.table!r} (it has {listed}); correct `table` (schema.name for a table "
                         "outside the default schema) or the url's database")


def _query_error(src: SqlSource, exc: BaseException) -> DataReadError:
    return DataReadError(f"cannot read {src.label}: the database refused the query "
                         f"({_reason(exc, src)}); correct the SQL (try it in the database's own client "
                         "first)")


def _reason(exc: BaseException, src: SqlSource) -> str:
    """The driver's message on one line, without SQLAlchemy's statement echo and the password."""
    inner = getattr(exc, "orig", None) or exc
    text = " ".join(str(inner).split()) or type(inner).__name__
    password = _password(src)
    for secret in {password, unquote(password or "")} - {None, ""}:   # as written and decoded
        text = text.replace(secret, "***")
    return text if len(text) <= 300 else text[:297] + "..."


def _password(src: SqlSource) -> str | None:
    try:
        url = _expand(src)
    except DataReadError:
        url = src.url
    match = re.match(r"^[A-Za-z][\w+.-]*://([^/?#:]*):([^/?#]*)@", url)
    if match and match.group(2):
        return match.group(2)
    match = _QUERY_PASSWORD.search(url)
    return match.group(2) if match and match.group(2) else None


# ---------------------------------------------------------------------------------- types
def _frame(names: list[str], rows: list[tuple]) -> pd.DataFrame:
    columns = list(zip(*rows)) if rows else [() for _ in names]
    data = {}
    for j, name in enumerate(names):
        data[j] = _column(list(columns[j]))
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(rows)))
    frame.columns = pd.Index([str(n).strip() for n in names], dtype=object)
    return frame


def _column(values: list) -> pd.Series:
    """Python values from a database driver -> the dtype a file reader would give them."""
    present = [v for v in values if v is not None]
    kinds = {_kind(v) for v in present}
    if kinds == {"int"}:
        if any(not -2**63 <= v < 2**63 for v in present):
            return pd.Series(values, dtype=object)   # beyond int64 (DuckDB HUGEINT): kept exact
        if len(present) == len(values):
            return pd.Series(values, dtype="int64")
        return pd.Series([np.nan if v is None else float(v) for v in values], dtype="float64")
    if kinds and kinds <= {"int", "float"}:
        return pd.Series([np.nan if v is None else float(v) for v in values], dtype="float64")
    if kinds == {"bool"} and len(present) == len(values):
        return pd.Series(values, dtype=bool)
    if kinds and kinds <= {"date", "datetime"}:
        stamps = [pd.NaT if v is None else pd.Timestamp(v) for v in values]
        stamps = [s.tz_convert("UTC").tz_localize(None) if s is not pd.NaT and s.tzinfo else s
                  for s in stamps]
        return pd.Series(pd.to_datetime(stamps), dtype="datetime64[ns]")
    if kinds == {"uuid"}:
        return pd.Series([None if v is None else str(v) for v in values], dtype=object)
    return pd.Series(values, dtype=object)


def _kind(value) -> str:
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, float | np.floating | decimal.Decimal):
        return "float"
    if isinstance(value, _dt.datetime):
        return "datetime"
    if isinstance(value, _dt.date):
        return "date"
    if isinstance(value, uuid.UUID):
        return "uuid"
    return type(value).__name__
