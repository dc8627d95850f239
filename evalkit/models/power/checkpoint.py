"""A Parquet file of simulated studies, written as results arrive, so a stopped run resumes.

Each block of studies that finishes is added to the file by rewriting it atomically (a temporary
file in the same folder, then ``os.replace``): a run stopped at any moment leaves the previous
complete file, never a half-written one. A few thousand rows rewrite in milliseconds, far less
than the fits that produced them.

The file's metadata holds the fingerprint of the problem (truth, design, test, seed). Resuming with
a different problem is refused: mixing studies of two designs would give a wrong power.

Examples
--------
>>> import tempfile, pathlib, pandas as pd
>>> from evalkit.models.power.checkpoint import Checkpoint
>>> path = pathlib.Path(tempfile.mkdtemp()) / "runs.parquet"
>>> cp = Checkpoint(path, "abc123", {"seed": 1})
>>> len(cp.load())
0
>>> cp.append(pd.DataFrame({"n": [40], "sim": [0], "estimate": [0.1]}))
>>> Checkpoint(path, "abc123", {"seed": 1}).load()[["n", "sim"]].to_numpy().tolist()
[[40, 0]]
>>> Checkpoint(path, "other", {"seed": 2}).load()
Traceback (most recent call last):
...
evalkit.errors.SpecificationError: checkpoint ...runs.parquet holds studies of another power
problem ...
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from ...errors import DataReadError, SpecificationError

__all__ = ["Checkpoint"]

_KEY = b"evalkit_power"


class Checkpoint:
    """The studies done so far for one problem, in a Parquet file at ``path``."""

    def __init__(self, path, fingerprint: str, description: dict):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.description = description
        self._frames: list[pd.DataFrame] = []

    def load(self) -> pd.DataFrame:
        """The studies already in the file (an empty frame when there is none)."""
        import pyarrow.parquet as pq

        if not self.path.exists():
            return pd.DataFrame()
        try:
            table = pq.read_table(self.path)
        except Exception as exc:       # pyarrow raises several types for a file that is not Parquet
            raise DataReadError(f"checkpoint {self.path} cannot be read as Parquet ({exc}); delete "
                                "it or give another checkpoint= path") from None
        meta = json.loads((table.schema.metadata or {}).get(_KEY, b"{}"))
        if meta.get("fingerprint") != self.fingerprint:
            raise SpecificationError(f"checkpoint {self.path} holds studies of another power "
                                     "problem (different truth, design, test or seed); give "
                                     "another checkpoint= path, or delete the file to start again")
        frame = table.to_pandas()
        self._frames = [frame]
        return frame

    def append(self, frame: pd.DataFrame) -> None:
        """Add finished studies to the file (atomically)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._frames.append(frame)
        whole = pd.concat(self._frames, ignore_index=True)
        self._frames = [whole]
        table = pa.Table.from_pandas(whole, preserve_index=False)
        meta = {_KEY: json.dumps({"fingerprint": self.fingerprint, **self.description},
                                 default=str).encode()}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                   suffix=".tmp")
        os.close(fd)
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
