"""Idempotent Parquet writes and the index of what an output folder already holds.

A shard's rows become one file whose name is a hash of their (path, key) pairs
(``schema.part_name``). Locally the bytes go to a ``_tmp-*.partial`` file that is
fsynced and renamed over the final name, so a reader sees the whole file or none;
an object store's single PUT gives the same. A task killed mid-shard leaves at most
a partial file (never read, removed at the end of the run); its retry writes the
same name again, so a row can never be there twice.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthtrace.scale.inputs import _fs, is_url
from synthtrace.scale.schema import TABLES, part_name, schema_of

if TYPE_CHECKING:
    import pyarrow as pa

PARTIAL_PREFIX = "_tmp-"
PARTIAL_SUFFIX = ".partial"


class ParquetSink:
    """Writes rows of one table into ``OUT/<table>/<partition>/``."""

    def __init__(self, out: str | os.PathLike[str]) -> None:
        self.out = os.fspath(out)
        self.remote = is_url(self.out)
        if self.remote:
            self.fs, self.root = _fs(self.out)
        else:
            self.fs, self.root = None, self.out

    def directory(self, table: str, partition: str) -> str:
        return f"{self.root.rstrip('/')}/{table}/{partition}"

    def write(self, table: str, partition: str, rows: list[dict[str, Any]]) -> str | None:
        """Write rows as one Parquet file; returns its path, or None for no rows."""
        if not rows:
            return None
        import pyarrow as pa  # optional extra 'ray'
        import pyarrow.parquet as pq  # optional extra 'ray'

        data = pa.Table.from_pylist(rows, schema=schema_of(table))
        buf = pa.BufferOutputStream()
        pq.write_table(data, buf, compression="zstd")
        payload = buf.getvalue().to_pybytes()
        d = self.directory(table, partition)
        dest = f"{d}/{part_name([(r['path'], r['key']) for r in rows])}"
        if self.remote:
            self.fs.makedirs(d, exist_ok=True)
            self.fs.pipe_file(dest, payload)
            return dest
        os.makedirs(d, exist_ok=True)
        tmp = f"{d}/{PARTIAL_PREFIX}{uuid.uuid4().hex}{PARTIAL_SUFFIX}"
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        return dest

    def files(self, table: str, partition: str) -> list[str]:
        d = self.directory(table, partition)
        if self.remote:
            try:
                return sorted(p for p in self.fs.glob(f"{d}/part-*.parquet"))
            except FileNotFoundError:
                return []
        return sorted(str(p) for p in Path(d).glob("part-*.parquet"))

    def read(self, table: str, partition: str, columns: list[str] | None = None) -> pa.Table:
        import pyarrow as pa  # optional extra 'ray'
        import pyarrow.parquet as pq  # optional extra 'ray'

        files = self.files(table, partition)
        if not files:
            schema = schema_of(table)
            return schema.empty_table() if columns is None else pa.schema([schema.field(c) for c in columns]).empty_table()
        parts = [pq.read_table(f, columns=columns, filesystem=self.fs) for f in files]
        return pa.concat_tables(parts)

    def done_index(self, partition: str) -> dict[str, set[str]]:
        """path → keys already written (scans and failures) under this partition."""
        done: dict[str, set[str]] = {}
        for table in TABLES:
            t = self.read(table, partition, columns=["path", "key"])
            for p, k in zip(t.column("path").to_pylist(), t.column("key").to_pylist()):
                done.setdefault(p, set()).add(k)
        return done

    def remove_partials(self, partition: str) -> int:
        """Delete the partial files that killed attempts left behind; returns how many."""
        n = 0
        for table in TABLES:
            d = self.directory(table, partition)
            if self.remote:
                try:
                    stale = self.fs.glob(f"{d}/{PARTIAL_PREFIX}*{PARTIAL_SUFFIX}")
                except FileNotFoundError:
                    stale = []
                for p in stale:
                    self.fs.rm(p)
                    n += 1
            else:
                for p in Path(d).glob(f"{PARTIAL_PREFIX}*{PARTIAL_SUFFIX}"):
                    p.unlink(missing_ok=True)
                    n += 1
        return n


def read_results(out: str | os.PathLike[str], table: str = "scans", *, partition: str | None = None) -> pa.Table:
    """One table of an output folder as a pyarrow Table (all partitions, or one).

    Failure rows of a path that a later run scanned successfully under the same
    partition (a transient read error, since fixed) are left out, so each input has
    one current row.
    """
    import pyarrow as pa  # optional extra 'ray'
    import pyarrow.compute as pc  # optional extra 'ray'

    sink = ParquetSink(out)
    parts = [partition] if partition else _partitions(sink, table)
    tables = [sink.read(table, p) for p in parts]
    t = pa.concat_tables(tables) if tables else schema_of(table).empty_table()
    if table == "failures" and t.num_rows:
        keep = []
        for p in parts:
            ok_paths = sink.read("scans", p, columns=["path"]).column("path")
            sub = sink.read("failures", p)
            keep.append(sub.filter(pc.invert(pc.is_in(sub.column("path"), value_set=ok_paths))))
        t = pa.concat_tables(keep)
    return t


def _partitions(sink: ParquetSink, table: str) -> list[str]:
    base = f"{sink.root.rstrip('/')}/{table}"
    if sink.remote:
        try:
            dirs = sink.fs.glob(f"{base}/detector=*/settings=*")
        except FileNotFoundError:
            return []
        return sorted("/".join(d.rstrip("/").split("/")[-2:]) for d in dirs)
    return sorted(f"{p.parent.name}/{p.name}" for p in Path(base).glob("detector=*/settings=*") if p.is_dir())
