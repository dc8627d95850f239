"""What every command does with its outputs: fail with one line (exit 2), check and write paths."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import click

__all__ = ["_fail", "_writable", "_write", "_umask", "_database_sources"]


def _fail(exc: Exception | str) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


def _writable(path: Path, option: str, *, folder: bool = False, private: bool = False,
              create: bool = True, example: str = "output") -> Path:
    """Check, before any work, that ``path`` (given to ``option``) can be written; exit 2 if not.

    ``path`` is a file to write, or with ``folder=True`` a folder to write files into. The folder
    (a file's parent) is created if missing; ``private=True`` makes it owner-only (0o700, also when
    it already exists). Refused, each with one line naming the path and the fix: a path under a
    file (``notes.txt/x.json``), a file where a folder is needed or a folder where a file is, a
    folder that cannot be created, a folder or file that cannot be written. Nothing is left behind
    by the check itself. ``create=False`` makes only the checks that need no folder created (so a
    command with two outputs can refuse a bad second one before creating the first one's folder).
    """
    import tempfile

    where = f"cannot write {option} {path}"
    target = path if folder else path.parent
    try:
        for p in (target, *target.parents):   # the nearest part of the path that exists
            if p.is_dir():
                break
            if p.exists() or p.is_symlink():
                _fail(f"{where}: {p} is a file, not a folder; choose a path inside a folder")
        if not folder and path.is_dir():
            _fail(f"{where}: it is a folder; give a file name, e.g. {path / example}")
    except OSError as exc:
        _fail(f"{where}: the path cannot be looked at ({exc.strerror or exc}); choose another path")
    if not create:
        return path
    try:
        target.mkdir(parents=True, exist_ok=True, mode=0o700 if private else 0o777)
        if private:
            os.chmod(target, 0o700)
    except OSError as exc:
        done = "made owner-only" if target.is_dir() else "created"
        _fail(f"{where}: the folder {target} cannot be {done} ({exc.strerror or exc}); create it "
              "yourself or choose another path")
    try:
        fd, probe = tempfile.mkstemp(dir=target, prefix=".evalkit-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        _fail(f"{where}: the folder {target} is not writable ({exc.strerror or exc}); choose "
              "another path or make the folder writable")
    if not folder and path.exists() and not os.access(path, os.W_OK):
        _fail(f"{where}: the file exists and is read-only; choose another path or make it "
              "writable")
    return path


def _write(path: Path, text: str, option: str, *, private: bool = False) -> None:
    """Write ``text`` to ``path`` atomically (``private``: mode 0o600); exit 2 on failure."""
    import tempfile

    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o600 if private else 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        _fail(f"cannot write {option} {path}: {exc.strerror or exc}; check the disk and the path")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _database_sources(options, dictionary) -> dict:
    """``--source DATASET=SPEC`` options -> ``{dataset: SqlSource}``; exit 2 on a bad one.

    SPEC is what the plan's ``data.files`` holds for a database dataset, a YAML mapping:
    ``responses={url: "sqlite:///cohort.db", table: responses}``. Relative database files are
    relative to the current folder. A password in SPEC is never echoed (``***``).

    >>> import evalkit as ek
    >>> dd = ek.DataDictionary.from_yaml(ek.example_dictionary_path())
    >>> found = _database_sources(['responses={url: "duckdb:///c.duckdb", table: forms}'], dd)
    >>> found["responses"].label
    'duckdb:///c.duckdb table forms'
    """
    import yaml

    from .errors import EvalkitError
    from .io_sql import SqlSource

    def masked(text: str) -> str:
        # the text may not parse as a URL at all: hide whatever sits between user: and @
        return re.sub(r"(//[^/:@\s'\"]*:)[^@\s]*@", r"\1***@", text)

    out = {}
    for option in options:
        name, eq, spec = option.partition("=")
        name = name.strip()
        shown = name or "responses"
        example = f'{shown}={{url: "sqlite:///cohort.db", table: {shown}}}'
        if not eq or not name:
            _fail(f"--source {masked(option)}: give DATASET=SPEC, e.g. --source '{example}'")
        if name not in dictionary.datasets:
            _fail(f"--source {name}: no dataset {name!r} in the data dictionary; its datasets are "
                  f"{', '.join(dictionary.datasets)}")
        if name in out:
            _fail(f"--source {name}: given twice; give each dataset once")
        try:
            mapping = yaml.safe_load(spec)
        except yaml.YAMLError:
            mapping = None
        if not isinstance(mapping, dict) or "url" not in mapping:
            _fail(f"--source {name}: {masked(spec)!r} is not a mapping with a url; write it as "
                  f"in a plan, e.g. --source '{example}' (or query: \"select ...\")")
        try:
            out[name] = SqlSource.from_mapping(mapping, base_dir=Path.cwd())
        except EvalkitError as exc:
            _fail(f"--source {name}: {exc}")
    return out
