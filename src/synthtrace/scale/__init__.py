"""Scale out: resumable batch scans into partitioned Parquet, in-process or on Ray.

``synthtrace.scan(paths, engine="ray", out=...)`` and ``synthtrace scan --engine ray
--out DIR``. Ray, pyarrow and fsspec are the optional ``ray`` extra
(``pip install 'synthtrace[ray]'``); nothing here imports them before a run needs
them. See docs/scale.md.
"""

from synthtrace.scale.parquet_sink import read_results
from synthtrace.scale.run import ENGINES, RunSummary, scan_to_parquet
from synthtrace.scale.schema import SCHEMA_VERSION

__all__ = ["ENGINES", "RunSummary", "SCHEMA_VERSION", "read_results", "scan_to_parquet"]
