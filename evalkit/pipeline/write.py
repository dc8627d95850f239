"""Safe, atomic writing of a report folder and of its restricted folder.

The report folder is meant to be published whole: a charity may upload it as it stands. So it must
hold exactly the files of one complete run, nothing else. Three things make that true:

* Files are written into a hidden sibling folder and swapped in by renames only at
  :meth:`ReportWriter.commit`, after ``manifest.json`` (every file with its SHA-256) is written.
  A failed or killed run leaves the previous complete report or none, and a rerun that writes
  fewer files leaves no stale file from the run before.
* Person-level outputs (safeguarding flags, notes) never go into the report folder. They go into
  the sibling ``<report>-restricted`` folder (mode 0o700, files 0o600), written at once, because a
  safeguarding flag must survive a later failure. The two folders are checked, symlinks resolved,
  so that neither is inside the other.
* An existing folder is only replaced if it is empty or an evalkit report folder, so ``--out .``
  can never delete a user's project.

Concurrent runs writing the same report folder are not supported. CSV cells and headers go through
:func:`evalkit.report.format.csv_cell`, which neutralises text a spreadsheet would run as a formula.

Examples
--------
>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as tmp:
...     with ReportWriter(pathlib.Path(tmp) / "report") as w:
...         _ = w.write_text("impact.html", "<p>hello</p>\\n")
...         written = w.commit()
...     sorted(p.name for p in written), verify_report(pathlib.Path(tmp) / "report")
(['impact.html', 'manifest.json'], [])
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from evalkit.errors import SpecificationError
from evalkit.report.disclosure.protected import csv_text

__all__ = ["OutputPaths", "resolve_output", "frame_to_csv", "verify_report", "ReportWriter"]

MANIFEST = "manifest.json"
_TMP, _OLD = ".evalkit-tmp-", ".evalkit-old-"


@dataclass(frozen=True)
class OutputPaths:
    """Absolute, resolved paths of the report folder and of its restricted sibling."""

    report: Path
    restricted: Path


def _is_report_folder(folder: Path) -> bool:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("generator") == "evalkit"


def resolve_output(out) -> OutputPaths:
    """Resolve ``out`` to the report folder and its restricted sibling, refusing unsafe choices.

    The restricted folder is ``<parent>/<name>-restricted``, computed from the absolute resolved
    report path, so ``out="."`` never gives ``./-restricted``.

    Parameters
    ----------
    out : str or os.PathLike
        The report folder (it need not exist yet).

    Returns
    -------
    OutputPaths

    Raises
    ------
    SpecificationError
        If the report folder is the filesystem root, a file, under a file, inside the restricted
        folder (or the reverse), a non-empty folder that is not an evalkit report, or if its
        parent folder is not writable.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths = resolve_output(pathlib.Path(tmp) / "proj" / ".." / "report")
    ...     paths.report.name, paths.restricted.name, paths.restricted.parent == paths.report.parent
    ('report', 'report-restricted', True)
    >>> resolve_output("/")
    Traceback (most recent call last):
    ...
    evalkit.errors.SpecificationError: the report folder '/' is the filesystem root; ...
    """
    report = Path(os.path.expanduser(os.fspath(out))).resolve()
    if report.parent == report:
        raise SpecificationError(f"the report folder '{report}' is the filesystem root; "
                                 "choose a named folder such as ./report")
    restricted = (report.parent / f"{report.name}-restricted").resolve()
    for a, b in ((restricted, report), (report, restricted)):
        if a.is_relative_to(b):
            raise SpecificationError(f"the folder '{a}' would be inside '{b}' (report '{report}', "
                                     f"restricted '{restricted}'); choose another report folder "
                                     "so that the two are separate")
    if report.exists() and not report.is_dir():
        raise SpecificationError(f"the report folder '{report}' exists and is a file; "
                                 "choose a folder path")
    if restricted.exists() and not restricted.is_dir():
        raise SpecificationError(f"the restricted folder '{restricted}' exists and is a file; "
                                 "move it or choose another report folder")
    existing = report.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise SpecificationError(f"the report folder '{report}' is a path under a file "
                                 f"('{existing}'); choose a path under a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SpecificationError(f"cannot write in the folder '{existing}' (for the report folder "
                                 f"'{report}'): permission denied; choose a folder you can write")
    if report.is_dir() and any(report.iterdir()) and not _is_report_folder(report):
        raise SpecificationError(f"the folder '{report}' holds other files and is not an evalkit "
                                 "report folder, so it would be deleted; choose an empty or new "
                                 "folder for the report")
    return OutputPaths(report=report, restricted=restricted)


def frame_to_csv(frame) -> str:
    """CSV text of a frame (see :func:`evalkit.report.disclosure.protected.csv_text`).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"=a": ["@SUM(A1)", "-2"], "b": [0.1234567, None]})
    >>> print(frame_to_csv(frame), end="")
    '=a,b
    '@SUM(A1),0.123457
    -2,
    """
    return csv_text(frame)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_report(folder) -> list[str]:
    """Problems with a report folder against its manifest; an empty list means complete.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     verify_report(tmp)
    ["no readable evalkit manifest.json in '...'"]
    """
    folder = Path(folder)
    if not _is_report_folder(folder):
        return [f"no readable evalkit manifest.json in '{folder}'"]
    listed = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("files")
    if not isinstance(listed, dict):
        return [f"the manifest.json in '{folder}' has no 'files' table"]
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}
    present.discard(MANIFEST)
    problems = [f"missing: {p}" for p in sorted(set(listed) - present)]
    problems += [f"not in manifest: {p}" for p in sorted(present - set(listed))]
    problems += [f"changed: {p}" for p in sorted(present & set(listed))
                 if _sha256(folder / p) != listed[p]]
    return problems


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - platforms without directory fds
        pass


def _relative(path, where: str) -> PurePosixPath:
    text = os.fspath(path)
    rel = PurePosixPath(text)
    if (not text or "\\" in text or rel.is_absolute() or ".." in rel.parts
            or rel.parts in ((), (".",))):
        raise SpecificationError(f"the output path {text!r} is not a plain relative path inside "
                                 f"the {where} folder; use a path such as 'tables/reach.csv'")
    return rel


class ReportWriter:
    """Write a report folder atomically and a restricted folder at once (see the module docs).

    Use as a context manager; the report appears only when :meth:`commit` is called. Leaving the
    ``with`` block without a commit (or with an exception) removes the temporary folder and leaves
    the existing report untouched. Construction also tidies leftovers of killed runs.

    Parameters
    ----------
    out : str or os.PathLike
        The report folder, checked by :func:`resolve_output`.

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with ReportWriter(pathlib.Path(tmp) / "r") as w:
    ...         _ = w.write_csv("tables/reach.csv", pd.DataFrame({"n": [3]}))
    ...         _ = w.restricted_text("notes.txt", "private\\n")
    ...         paths = w.commit(extra={"title": "Reach"})
    ...     [p.relative_to(pathlib.Path(tmp).resolve()).as_posix() for p in paths]
    ['r/manifest.json', 'r/tables/reach.csv', 'r-restricted/notes.txt']
    """

    def __init__(self, out):
        self.paths = resolve_output(out)
        self._parent = self.paths.report.parent
        self._prefix = f".{self.paths.report.name}"
        self._tmp: Path | None = None
        self._files: dict[PurePosixPath, str] = {}
        self._restricted: dict[PurePosixPath, Path] = {}
        self._closed = False
        self._recover()
        if self.paths.restricted.is_dir():
            os.chmod(self.paths.restricted, 0o700)

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.abort()

    # -- recovery -------------------------------------------------------------------------------
    def _leftovers(self, marker: str) -> list[Path]:
        if not self._parent.is_dir():
            return []
        start = self._prefix + marker
        return [self._parent / n for n in os.listdir(self._parent) if n.startswith(start)]

    def _recover(self) -> None:
        """Remove temp folders of killed runs; put back a previous report moved aside by one."""
        for tmp in self._leftovers(_TMP):
            shutil.rmtree(tmp, ignore_errors=True)
        olds = sorted(self._leftovers(_OLD), key=lambda p: p.stat().st_ctime, reverse=True)
        report = self.paths.report
        for old in olds:
            restorable = not any(old.iterdir()) or not verify_report(old)
            if not report.exists() and restorable:
                os.rename(old, report)       # the previous complete report, moved aside
                _fsync_dir(self._parent)
            else:
                shutil.rmtree(old, ignore_errors=True)
        if self.paths.restricted.is_dir():
            for dirpath, _, names in os.walk(self.paths.restricted):
                for name in names:
                    if name.startswith(".") and _TMP in name:
                        os.unlink(os.path.join(dirpath, name))

    # -- report files ---------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise SpecificationError(f"the ReportWriter for '{self.paths.report}' is already "
                                     "committed or aborted; start a new ReportWriter")

    def write_bytes(self, path, data: bytes) -> Path:
        """Write ``data`` to ``path`` (relative) in the report; returns its final absolute path.

        Examples
        --------
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp, ReportWriter(f"{tmp}/r") as w:
        ...     w.write_bytes("figures/flow.png", b"png").parts[-3:]
        ('r', 'figures', 'flow.png')
        """
        self._check_open()
        rel = _relative(path, "report")
        if rel == PurePosixPath(MANIFEST):
            raise SpecificationError(f"'{MANIFEST}' is written by commit(); pass extra manifest "
                                     "entries with commit(extra=...)")
        for done in self._files:
            if rel == done or rel in done.parents or done in rel.parents:
                raise SpecificationError(f"the report path '{rel}' clashes with '{done}', already "
                                         f"written in '{self.paths.report}'; write each path once")
        self._put(rel, data)
        self._files[rel] = hashlib.sha256(data).hexdigest()
        return self.paths.report.joinpath(*rel.parts)

    @property
    def staging(self) -> Path | None:
        """The hidden folder the report is written into before commit (to audit it), or None."""
        return self._tmp

    def _put(self, rel: PurePosixPath, data: bytes) -> None:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(dir=self._mkparent(), prefix=self._prefix + _TMP))
            os.chmod(self._tmp, 0o755)
        target = self._tmp.joinpath(*rel.parts)
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    def write_text(self, path, text: str) -> Path:
        """Write ``text`` as UTF-8 to ``path`` in the report (line ends kept as given)."""
        return self.write_bytes(path, text.encode("utf-8"))

    def write_csv(self, path, frame) -> Path:
        """Write a data frame as CSV (:func:`frame_to_csv`) to ``path`` in the report."""
        return self.write_text(path, frame_to_csv(frame))

    # -- restricted files -----------------------------------------------------------------------
    def _mkparent(self) -> Path:
        self._parent.mkdir(parents=True, exist_ok=True)
        return self._parent

    def restricted_bytes(self, path, data: bytes) -> Path:
        """Write ``data`` now, atomically and with mode 0o600, into the restricted folder.

        Examples
        --------
        >>> import tempfile, stat
        >>> with tempfile.TemporaryDirectory() as tmp, ReportWriter(f"{tmp}/r") as w:
        ...     oct(stat.S_IMODE(w.restricted_bytes("flags.bin", b"1").stat().st_mode))
        '0o600'
        """
        self._check_open()
        rel = _relative(path, "restricted")
        if rel in self._restricted:
            raise SpecificationError(f"the restricted path '{rel}' was already written in "
                                     f"'{self.paths.restricted}'; write each path once")
        self._mkparent()
        folder = self.paths.restricted
        for sub in [folder, *(folder.joinpath(*rel.parts[:i]) for i in range(1, len(rel.parts)))]:
            if not sub.is_dir():
                sub.mkdir(mode=0o700)
            os.chmod(sub, 0o700)
        target = folder.joinpath(*rel.parts)
        tmp = target.parent / f".{target.name}{_TMP}{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        self._restricted[rel] = target
        return target

    def restricted_text(self, path, text: str) -> Path:
        """Write ``text`` as UTF-8 now into the restricted folder (see :meth:`restricted_bytes`)."""
        return self.restricted_bytes(path, text.encode("utf-8"))

    def restricted_csv(self, path, frame) -> Path:
        """Write a data frame as CSV now into the restricted folder (:meth:`restricted_bytes`)."""
        return self.restricted_text(path, frame_to_csv(frame))

    # -- commit / abort -------------------------------------------------------------------------
    def commit(self, extra: dict | None = None) -> list[Path]:
        """Write ``manifest.json`` and swap the new report folder in place of the old one.

        Parameters
        ----------
        extra : dict, optional
            More top-level manifest entries (JSON-serialisable; not ``generator``, ``format`` or
            ``files``).

        Returns
        -------
        list of Path
            Absolute paths written: report files (with ``manifest.json``), then restricted files.
        """
        self._check_open()
        extra = dict(extra or {})
        clash = sorted({"generator", "format", "files"} & set(extra))
        if clash:
            raise SpecificationError(f"commit(extra=...) may not set {clash} in the manifest of "
                                     f"'{self.paths.report}'; use other key names")
        files = {p.as_posix(): h for p, h in sorted(self._files.items(), key=lambda i: str(i[0]))}
        manifest = {"generator": "evalkit", "format": 1, "files": files, **extra}
        try:
            text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        except (TypeError, ValueError) as error:
            raise SpecificationError(f"commit(extra=...) for '{self.paths.report}' is not "
                                     f"JSON-serialisable ({error}); pass plain values") from None
        self._put(PurePosixPath(MANIFEST), text.encode("utf-8"))
        for dirpath, _, _ in os.walk(self._tmp):
            _fsync_dir(Path(dirpath))
        report, old = self.paths.report, None
        if report.exists():
            if not report.is_dir() or (any(report.iterdir()) and not _is_report_folder(report)):
                raise SpecificationError(f"the folder '{report}' now holds other files and is not "
                                         "an evalkit report folder; choose an empty or new folder")
            old = self._parent / f"{self._prefix}{_OLD}{secrets.token_hex(8)}"
            try:
                os.rename(report, old)
            except OSError as error:
                raise SpecificationError(f"cannot move the old report folder '{report}' aside "
                                         f"({error.strerror}; is it a mount point?); choose a "
                                         "folder inside it as the report folder") from None
        try:
            os.rename(self._tmp, report)
        except BaseException:
            if old is not None:
                os.rename(old, report)       # put the previous report back
            raise
        self._tmp, self._closed = None, True
        _fsync_dir(self._parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        written = [report / MANIFEST] + [report.joinpath(*p.parts) for p in sorted(self._files)]
        return sorted(written) + list(self._restricted.values())

    def abort(self) -> None:
        """Drop the uncommitted report (the existing report folder is left untouched)."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._closed = True
